/**
 * Packs attested-pack the way a release does and installs the tarball into an empty prefix, for
 * test/e2e/installed-package.test.ts. Nothing here touches the checkout:
 *
 * 1. `stageCheckout`: the checkout's files (tracked and untracked-but-not-ignored, without test/
 *    and bench/) are copied to a temporary directory whose node_modules is a link to the
 *    checkout's; `npm pack` there runs the real prepack / prepare / postpack scripts (the
 *    shrinkwrap and the dist/ build) without rebuilding the dist/ other test files are running.
 * 2. `installTarball`: `npm ci --offline` in an empty prefix whose lockfile names only the tarball
 *    (`hasShrinkwrap: true`): npm then installs every dependency from the tarball's own
 *    npm-shrinkwrap.json, from the npm cache, and runs the package's install script (the addon
 *    build) as it does for `npm install -g attested-pack` from the registry. (`npm install -g
 *    ./attested-pack.tgz` would ignore that shrinkwrap — npm/cli#5349 — and resolve the semver
 *    ranges against the registry, which a test must not reach.) The layout is the same as a
 *    global install's: <prefix>/node_modules/attested-pack/node_modules/<every dependency>.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot } from './helpers.js';

/** Environment for npm and the installed CLIs: no inherited npm_* or ATTESTED_PACK_* settings. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    // The node running the tests first: the installed bins start with `#!/usr/bin/env node`.
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
    HOME: process.env.HOME ?? tmpdir(),
    TMPDIR: tmpdir(),
    // Where the checkout's `npm ci` left the tarballs, if the user moved the cache.
    ...(process.env.npm_config_cache ? { npm_config_cache: process.env.npm_config_cache } : {}),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  return { ...env, ...extra };
}

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (never through a shell). */
export function run(command: string, args: readonly string[], o: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { cwd: o.cwd, env: o.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 120_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Copies what `npm pack` needs from the checkout into `dir` (see the file header). */
export function stageCheckout(dir: string): void {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot, encoding: 'utf8' });
  for (const rel of new Set(listed.split('\0'))) {
    if (rel === '' || rel.startsWith('test/') || rel.startsWith('bench/')) continue;
    const from = join(repoRoot, rel);
    if (!existsSync(from) || !statSync(from).isFile()) continue; // deleted in the working tree
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    copyFileSync(from, join(dir, rel));
  }
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  // The checkout's revision, as `npm run build` records it for the package (the staged copy has
  // no .git): `npm pack` in the checkout itself would ship the same file.
  const revision = join(repoRoot, 'dist', 'source-revision.txt');
  if (existsSync(revision)) {
    mkdirSync(join(dir, 'dist'), { recursive: true });
    copyFileSync(revision, join(dir, 'dist', 'source-revision.txt'));
  }
}

/** What `npm pack --json` reports about the tarball. */
export interface PackResult {
  tarball: string;
  files: string[];
}

/** `npm pack` in a staged copy (with its lifecycle scripts); the tarball goes to `dest`. */
export async function packStaged(staged: string, dest: string): Promise<PackResult> {
  const r = await run('npm', ['pack', '--json', '--pack-destination', dest], { cwd: staged });
  if (r.code !== 0) throw new Error(`npm pack failed (${r.code}):\n${r.stderr}`);
  // Lifecycle script output precedes the JSON on stdout.
  const json = r.stdout.slice(r.stdout.search(/^\[\s*$/m));
  const [info] = JSON.parse(json) as Array<{ filename: string; files: Array<{ path: string }> }>;
  return { tarball: join(dest, info!.filename), files: info!.files.map((f) => f.path).sort() };
}

/** The lockfile of an empty prefix that depends on the tarball alone (see the file header). */
function prefixLock(tarball: string, pkg: { version: string; license: string; dependencies: Record<string, string>; bin: Record<string, string>; engines: Record<string, string> }) {
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  const spec = `file:${tarball}`;
  return {
    name: 'installed-package-test',
    version: '0.0.0',
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: 'installed-package-test', version: '0.0.0', dependencies: { 'attested-pack': spec } },
      'node_modules/attested-pack': {
        version: pkg.version,
        resolved: spec,
        integrity,
        hasInstallScript: true,
        hasShrinkwrap: true,
        license: pkg.license,
        dependencies: pkg.dependencies,
        bin: pkg.bin,
        engines: pkg.engines,
      },
    },
  };
}

/** An installed copy of the package. */
export interface Installed {
  prefix: string;
  /** <prefix>/node_modules/attested-pack */
  packageDir: string;
  attestedPack: string;
  verifyReceipt: string;
  /** npm's output (install script lines appear only on failure; kept for messages). */
  log: string;
}

/** Installs the tarball into the empty directory `prefix`, offline, from the npm cache. */
export async function installTarball(tarball: string, prefix: string, env: Record<string, string> = {}): Promise<Installed> {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
  mkdirSync(prefix, { recursive: true });
  writeFileSync(
    join(prefix, 'package.json'),
    JSON.stringify({ name: 'installed-package-test', version: '0.0.0', private: true, dependencies: { 'attested-pack': `file:${tarball}` } }, null, 2),
  );
  writeFileSync(join(prefix, 'package-lock.json'), JSON.stringify(prefixLock(tarball, pkg), null, 2));
  const r = await run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--foreground-scripts'], { cwd: prefix, env: cleanEnv(env), timeoutMs: 240_000 });
  if (r.code !== 0) throw new Error(`npm ci of the tarball failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  const bin = join(prefix, 'node_modules', '.bin');
  return {
    prefix,
    packageDir: join(prefix, 'node_modules', 'attested-pack'),
    attestedPack: join(bin, 'attested-pack'),
    verifyReceipt: join(bin, 'verify-receipt'),
    log: `${r.stdout}\n${r.stderr}`,
  };
}
