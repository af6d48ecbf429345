/**
 * The package as a user gets it: `npm pack` (its real lifecycle scripts), the tarball installed
 * into an empty prefix offline from the npm cache (test/e2e/package-install.ts says how and why),
 * and every command run from a directory outside any checkout, with no environment variable
 * pointing anywhere:
 * - `attested-pack --version`, `verify-receipt --version`, `attested-pack verify-receipt --help`
 *   with every flag the README's CLI reference lists;
 * - `attested-pack sim`: a real pack and receipt, then the installed `verify-receipt` on it;
 * - `attested-pack eif bundle` (the same bytes as the checkout's bundle) and `eif rootfs`, whose
 *   default addon is the one npm built inside the installed package;
 * - `attested-pack enclave serve --listen vsock://ANY:PORT` holding the port (a second bind fails
 *   with EADDRINUSE until it is killed), and the host proxy dialling a vsock URL getting the
 *   kernel's answer, not VSOCK_UNAVAILABLE. The only vsock peer ever dialled is this machine's own
 *   CID, which the kernel answers locally (ENODEV on a virtio guest without vsock_loopback,
 *   ECONNRESET with it): no packet leaves the machine;
 * - a second install where the addon cannot be built (CC points nowhere): the install succeeds,
 *   the CLI works, and vsock:// says why it is unavailable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freeVsockPort, vsockBindErrno } from '../vsock/helpers.js';
import { loadVsockAddon } from '../../vsock/index.js';
import { missingTool } from '../tools.js';
import { repoRoot, waitFor } from './helpers.js';
import { cleanEnv, installTarball, packStaged, run, stageCheckout, type Installed, type PackResult } from './package-install.js';

const noGit = missingTool('git', 'git');
const noNpm = missingTool('npm', 'npm');
const noBuildTools = missingTool(process.env.CC || 'cc', 'gcc') ?? missingTool('make', 'make') ?? missingTool('python3', 'python3');
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };

/** AF_VSOCK in this kernel, asked through the checkout's addon (undefined: supported). */
function noAfVsock(): string | undefined {
  if (process.platform !== 'linux') return 'AF_VSOCK exists on Linux only';
  let addon;
  try {
    addon = loadVsockAddon();
  } catch {
    return 'the checkout has no vsock addon (npm ci could not build it)';
  }
  try {
    addon.close(addon.socket());
    return undefined;
  } catch {
    return 'this kernel has no AF_VSOCK';
  }
}
const vsockSkip = noBuildTools ?? noAfVsock();

let dir: string;
let outside: string;
let packed: PackResult;
let installed: Installed;
/** The same tarball installed where the addon cannot be built. */
let bare: Installed;

beforeAll(async () => {
  if (noGit || noNpm) return;
  dir = await mkdtemp(join(tmpdir(), 'ap-installed-'));
  outside = join(dir, 'elsewhere');
  mkdirSync(outside);
  const staged = join(dir, 'src');
  mkdirSync(staged);
  stageCheckout(staged);
  packed = await packStaged(staged, dir);
  // Both installs at once (npm is mostly waiting on the disk). CC naming no compiler is what
  // vsock/native/build.mjs meets on a machine without gcc.
  [installed, bare] = await Promise.all([
    installTarball(packed.tarball, join(dir, 'prefix')),
    installTarball(packed.tarball, join(dir, 'prefix-no-cc'), { CC: '/nonexistent/cc' }),
  ]);
}, 240_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs an installed bin (its symlink, as a shell would) from the directory outside the checkout. */
function bin(path: string, args: readonly string[], env: Record<string, string> = {}, timeoutMs = 60_000) {
  return run(path, args, { cwd: outside, env: cleanEnv(env), timeoutMs });
}

describe.skipIf(noGit ?? noNpm)('npm pack → install into an empty prefix → run from elsewhere', () => {
  it('the tarball holds the built CLIs, the sources the enclave bundle needs, the addon sources and a dev-free shrinkwrap — no build output, no tests', () => {
    const files = new Set(packed.files);
    for (const f of ['dist/cli.mjs', 'dist/verify-receipt.mjs', 'bin/attested-pack.mjs', 'bin/verify-receipt.mjs', 'enclave-app/enclave-main.ts', 'tsconfig.json', 'vsock/native/build.mjs', 'vsock/native/vsock.c', 'vsock/native/aes_gcm.c', 'vsock/native/binding.gyp', 'npm-shrinkwrap.json', 'package.json', 'README.md']) {
      expect(files, f).toContain(f);
    }
    expect(packed.files.some((f) => f.startsWith('dist/chunks/'))).toBe(true);
    expect(packed.files.filter((f) => f.startsWith('test/') || f.startsWith('bench/') || f.startsWith('node_modules/') || f.includes('/build/') || f.endsWith('.node'))).toEqual([]);
    // postpack removed the shrinkwrap from the staged checkout again.
    expect(existsSync(join(dir, 'src', 'npm-shrinkwrap.json'))).toBe(false);
    const shrinkwrap = JSON.parse(readFileSync(join(installed.packageDir, 'npm-shrinkwrap.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    expect(Object.values(shrinkwrap.packages).filter((p) => p.dev === true)).toEqual([]);
    expect(Object.keys(shrinkwrap.packages)).toContain('node_modules/fastify');
  });

  it('installs exactly the lockfile versions, nested under the package, and builds the addon in place', () => {
    const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; dev?: boolean; optional?: boolean }> };
    let checked = 0;
    for (const [path, entry] of Object.entries(lock.packages)) {
      if (path === '' || entry.dev === true || entry.version === undefined) continue;
      const manifest = join(installed.packageDir, path, 'package.json');
      if (entry.optional === true && !existsSync(manifest)) continue; // another platform's binary
      expect(JSON.parse(readFileSync(manifest, 'utf8')).version, path).toBe(entry.version);
      checked++;
    }
    expect(checked).toBeGreaterThan(50);
    // Nothing but the package itself at the top of the prefix.
    expect(readdirSync(join(installed.prefix, 'node_modules')).filter((n) => !n.startsWith('.'))).toEqual(['attested-pack']);
    expect(existsSync(join(installed.packageDir, 'node_modules', 'vitest'))).toBe(false);
    expect(existsSync(join(installed.packageDir, 'node_modules', 'typescript'))).toBe(false);
    if (!noBuildTools) {
      expect(installed.log).toContain('attested-pack: vsock addon built');
      expect(existsSync(join(installed.packageDir, 'vsock/native/build/Release/attested_pack_vsock.node'))).toBe(true);
    }
  });

  it('runs outside any checkout: no package.json above the working directory', () => {
    for (let d = outside; d !== dirname(d); d = dirname(d)) expect(existsSync(join(d, 'package.json')), d).toBe(false);
  });

  it('attested-pack --version and verify-receipt --version print the package version', async () => {
    for (const b of [installed.attestedPack, installed.verifyReceipt]) {
      const r = await bin(b, ['--version']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${pkg.version}\n`);
    }
  });

  it('attested-pack verify-receipt --help is verify-receipt --help, with every flag the README lists', async () => {
    const sub = await bin(installed.attestedPack, ['verify-receipt', '--help']);
    const standalone = await bin(installed.verifyReceipt, ['--help']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toBe(standalone.stdout);
    expect(sub.stdout).toMatch(/^Usage: verify-receipt \[options\] <receipt>/);
    // The CLI reference row (README.md, or a generated page under docs/).
    const pages = [join(repoRoot, 'README.md'), ...(existsSync(join(repoRoot, 'docs')) ? readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(repoRoot, 'docs', f)) : [])];
    const row = pages
      .flatMap((p) => readFileSync(p, 'utf8').split('\n'))
      .find((l) => /^\|\s*`(attested-pack )?verify-receipt (RECEIPT|<receipt>)/.test(l));
    expect(row, 'the CLI reference row for verify-receipt').toBeDefined();
    const flags = [...new Set(row!.match(/--[a-z][a-z0-9-]*/g) ?? [])];
    expect(flags.length).toBeGreaterThan(10);
    for (const flag of flags) expect(sub.stdout, flag).toMatch(new RegExp(`${flag}\\b`));
    // An unknown flag is a usage error through the subcommand too (exit 2, the same message).
    const bad = await bin(installed.attestedPack, ['verify-receipt', 'r.json', '--no-such-flag']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown option '--no-such-flag'");
  });

  it('attested-pack sim completes — a real pack and receipt — and the installed verify-receipt verifies it', async () => {
    const r = await bin(installed.attestedPack, ['sim', '--state', join(outside, 'sim-state'), '--json'], {}, 120_000);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { ok: boolean; receipt: string; artifact: string; measurements: string; nsmRoot: string; demoRepo: string; signPublicKey: string; checks: Array<{ status: string }>; verifyReceiptArgs: string[] | null; expectations: string };
    expect(summary.ok).toBe(true);
    expect(summary.checks.length).toBeGreaterThan(10);
    expect(summary.checks.filter((c) => c.status !== 'pass')).toEqual([]);
    // The measured enclave bundle came from the installed package's own sources.
    expect(existsSync(join(outside, 'sim-state', 'enclave', 'enclave.mjs'))).toBe(true);
    // The sim's auditor step: --expect with the expectations.json rendered from its deploy file
    // (every binding: PCRs, parent role, source, artifact, signer, keys).
    expect(summary.verifyReceiptArgs).toContain('--expect');
    const verify = await bin(installed.attestedPack, ['verify-receipt', ...summary.verifyReceiptArgs!, '--json']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, verdict: 'verified' });
    // Against another image's expectations it is rejected (the check can fail).
    const other = JSON.parse(readFileSync(summary.expectations, 'utf8')) as { measurements: Record<string, string> };
    other.measurements.PCR0 = 'ab'.repeat(48);
    const otherPath = join(outside, 'other-expectations.json');
    await import('node:fs/promises').then((fs) => fs.writeFile(otherPath, JSON.stringify(other)));
    const otherArgs = [...summary.verifyReceiptArgs!];
    otherArgs[otherArgs.indexOf('--expect') + 1] = otherPath;
    const rejected = await bin(installed.verifyReceipt, otherArgs);
    expect(rejected.code).toBe(1);
  }, 150_000);

  it('eif bundle from any directory bundles the installed enclave entry, byte for byte the checkout\'s bundle', async () => {
    const r = await bin(installed.attestedPack, ['eif', 'bundle', '-o', 'enclave.mjs', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const installedBundle = JSON.parse(r.stdout) as { sha256: string; bundlePath: string };
    expect(installedBundle.bundlePath).toBe('enclave.mjs');
    expect(existsSync(join(outside, 'enclave.mjs'))).toBe(true);
    // The checkout's own CLI, run from the checkout, on the same sources and locked dependencies.
    const fromCheckout = await run(process.execPath, [join(repoRoot, 'bin/attested-pack.mjs'), 'eif', 'bundle', '-o', join(dir, 'checkout-enclave.mjs'), '--json'], { cwd: repoRoot });
    expect(fromCheckout.code, fromCheckout.stderr).toBe(0);
    expect(installedBundle.sha256).toBe((JSON.parse(fromCheckout.stdout) as { sha256: string }).sha256);
  });

  it.skipIf(noBuildTools)('eif rootfs / eif build from any directory take the addon npm built inside the installed package', async () => {
    if (!existsSync(join(outside, 'enclave.mjs'))) {
      const b = await bin(installed.attestedPack, ['eif', 'bundle', '-o', 'enclave.mjs']);
      expect(b.code, b.stderr).toBe(0);
    }
    const rootfs = await bin(installed.attestedPack, ['eif', 'rootfs', '--bundle', 'enclave.mjs', '--no-node', '--tree', 'tree', '--json']);
    expect(rootfs.code, rootfs.stderr).toBe(0);
    expect((JSON.parse(rootfs.stdout) as { files: string[] }).files).toEqual(['/app/enclave.mjs', '/app/attested_pack_vsock.node']);
    expect(readFileSync(join(outside, 'tree', 'rootfs', 'app', 'attested_pack_vsock.node'))).toEqual(
      readFileSync(join(installed.packageDir, 'vsock/native/build/Release/attested_pack_vsock.node')),
    );
    const eif = await bin(installed.attestedPack, ['eif', 'build', '--synthetic-boot-blobs', '--rootfs', 'tree', '-o', 'enclave.eif', '--measurements', 'measurements.json', '--json']);
    expect(eif.code, eif.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(outside, 'measurements.json'), 'utf8')).PCR0).toMatch(/^[0-9a-f]{96}$/);
  });
});

describe.skipIf(noGit ?? noNpm ?? vsockSkip)('the installed package on AF_VSOCK, with the addon npm built', () => {


  it('enclave serve --listen vsock://ANY:PORT holds the port until it is killed', async () => {
    const port = freeVsockPort();
    const child = spawn(installed.attestedPack, ['enclave', 'serve', '--listen', `vsock://ANY:${port}`, '--kms-region', 'us-east-1', '--envelope', 'api-gateway/production=arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000'], {
      cwd: outside,
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = { stdout: '', stderr: '' };
    child.stdout.on('data', (c: Buffer) => (out.stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (out.stderr += c.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    try {
      await waitFor(() => out.stdout.includes('enclave ready on') || child.exitCode !== null, 30_000, 'the enclave to listen');
      expect(out.stdout, out.stderr).toContain(`enclave ready on vsock://ANY:${port}`);
      expect(vsockBindErrno(port)).toBe(98); // EADDRINUSE: the installed server holds the port
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    expect(vsockBindErrno(port)).toBe(0); // released on exit
  });

  it('the host proxy dialling vsock gets the kernel\'s answer, not VSOCK_UNAVAILABLE (and VSOCK_UNAVAILABLE only when the addon is gone)', async () => {
    const addon = loadVsockAddon();
    let ownCid: number;
    try {
      ownCid = addon.localCid();
    } catch {
      ownCid = -1;
    }
    // Only this machine's own CID is dialled: a guest's own CID (> 2) is answered by its kernel.
    if (ownCid <= 2 || ownCid === addon.VMADDR_CID_ANY) {
      console.log(`host proxy vsock dial: skipped (this machine has no guest CID of its own: ${ownCid})`);
      return;
    }
    const port = freeVsockPort();
    const config = join(outside, 'proxy.yaml');
    await import('node:fs/promises').then((fs) => fs.writeFile(config, `listen: 127.0.0.1:0\nenclave:\n  url: vsock://${ownCid}:${port}\n  healthTimeoutSeconds: 5\nlog:\n  level: warn\n`));

    const readiness = async (env: Record<string, string>): Promise<{ status: number; body: { status: string; error?: { code: string; message: string } } }> => {
      const child = spawn(installed.attestedPack, ['host-proxy', '--config', config, '--insecure-local', '--json'], { cwd: outside, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
      const out = { stdout: '', stderr: '' };
      child.stdout.on('data', (c: Buffer) => (out.stdout += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (out.stderr += c.toString('utf8')));
      const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
      try {
        const started = (): { url: string } | undefined =>
          out.stdout
            .split('\n')
            .filter((l) => l.startsWith('{"ok":true'))
            .map((l) => JSON.parse(l) as { url: string })[0];
        await waitFor(() => started() !== undefined || child.exitCode !== null, 30_000, 'the host proxy to listen');
        const url = started()?.url;
        expect(url, out.stderr).toBeDefined();
        const res = await fetch(`${url}/readyz`);
        return { status: res.status, body: (await res.json()) as { status: string; error?: { code: string; message: string } } };
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
    };

    const withAddon = await readiness({});
    expect(withAddon.status).toBe(503);
    expect(withAddon.body.error?.code).toBe('ENCLAVE_UNAVAILABLE');
    expect(withAddon.body.error?.message).toMatch(/\((VSOCK_NO_DEVICE|VSOCK_RESET|VSOCK_CONNECT_REFUSED|VSOCK_TIMEOUT|VSOCK_UNREACHABLE)\)/);
    expect(withAddon.body.error?.message).not.toContain('VSOCK_UNAVAILABLE');
    // The control: the same request without the addon is what the old bundled lookup produced.
    const withoutAddon = await readiness({ ATTESTED_PACK_VSOCK_ADDON: '/nonexistent/attested_pack_vsock.node' });
    expect(withoutAddon.body.error?.message).toContain('(VSOCK_UNAVAILABLE)');
  });
});

describe.skipIf(noGit ?? noNpm)('installed where the addon cannot be built', () => {
  it('the install succeeds and says, once, that the addon was not built and why', () => {
    expect(bare.log).toMatch(/attested-pack: vsock addon not built \(no C compiler \(\/nonexistent\/cc\) found/);
    expect(existsSync(join(bare.packageDir, 'vsock/native/build/Release/attested_pack_vsock.node'))).toBe(false);
  });

  it('everything but vsock works; vsock:// reports VSOCK_UNAVAILABLE with the install-time reason', async () => {
    const version = await bin(bare.attestedPack, ['--version']);
    expect(version.stdout).toBe(`${pkg.version}\n`);
    const bundle = await bin(bare.attestedPack, ['eif', 'bundle', '-o', 'bare-enclave.mjs', '--json']);
    expect(bundle.code, bundle.stderr).toBe(0);
    const serve = await bin(bare.attestedPack, ['enclave', 'serve', '--listen', 'vsock://ANY:5000', '--kms-region', 'us-east-1', '--any-wrap-target']);
    expect(serve.code).toBe(3);
    const [cause, hint] = serve.stderr.trim().split('\n');
    expect(cause).toBe('error [VSOCK_UNAVAILABLE]: the AF_VSOCK addon was not built when attested-pack was installed: no C compiler (/nonexistent/cc) found; install gcc or set CC');
    expect(hint).toContain(`node ${join(bare.packageDir, 'vsock/native/build.mjs')}`);
  });
});
