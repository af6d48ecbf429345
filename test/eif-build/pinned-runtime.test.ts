/**
 * The pinned runtime and the locked build (eif build --locked): the image carries Node 24 from
 * the npm registry (eif-build/runtime, `npm ci --prefix eif-build/runtime`), its Debian-pinned
 * libraries and the addon compiled deterministically; two builds that differ in everything of
 * the build machine (directory, TZ, umask, SOURCE_DATE_EPOCH, and the node running the build:
 * the installed Node 20 vs the pinned Node 24) give byte-identical EIFs and equal PCRs; the image's
 * own runtime runs in a chroot of its user ramdisk and prints the pinned version.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMeasurements } from '../../common/measurements.js';
import { lockedLibraries, readImageLock, runtimePackageDir, IMAGE_LOCK_PATH } from '../../eif-build/lock.js';
import { IMAGE_NODE_PATH } from '../../eif-build/rootfs.js';
import { missingTool, skipReason } from '../tools.js';
import { cliPath, repoRoot, tempDir } from './helpers.js';

const lock = await readImageLock(join(repoRoot, IMAGE_LOCK_PATH));
const pinnedNode = join(runtimePackageDir(repoRoot, lock.arch), lock.runtime.file);
const libRoot = process.env.ATTESTED_PACK_LIB_ROOT ?? '/';

/** Why the locked release build cannot run here (undefined when it can). */
async function whyNot(): Promise<string | undefined> {
  const reasons: string[] = [];
  if (!existsSync(pinnedNode)) reasons.push(`the pinned runtime is not installed (run \`npm ci --prefix eif-build/runtime\`)`);
  try {
    await lockedLibraries(lock, libRoot);
  } catch (err) {
    reasons.push(`the locked Debian libraries are not under ${libRoot} (${(err as Error).message}); set ATTESTED_PACK_LIB_ROOT to where they are unpacked`);
  }
  const reason = reasons.join('; ') || missingTool('cc', 'gcc') || (otherNode === undefined ? `no second Node version on PATH beside the pinned ${lock.runtime.nodeVersion} to build with` : undefined);
  if (reason && process.env.ATTESTED_PACK_REQUIRE_TOOLS === '1') throw new Error(`${reason}; ATTESTED_PACK_REQUIRE_TOOLS=1 makes it required`);
  return skipReason(reason);
}
/**
 * The "other" builder: the Node running the tests, or — when that is the pinned version itself (the
 * second leg of .ci/run runs the suite on the pinned Node 24) — the next `node` on PATH with another
 * version (there: the machine's own Node).
 */
function otherBuilderNode(): string | undefined {
  const version = (node: string): string | undefined => {
    const r = spawnSync(node, ['--version'], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : undefined;
  };
  if (version(process.execPath) !== lock.runtime.nodeVersion) return process.execPath;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = join(dir, 'node');
    if (dir !== '' && existsSync(candidate)) {
      const v = version(candidate);
      if (v !== undefined && v !== lock.runtime.nodeVersion) return candidate;
    }
  }
  return undefined;
}
const otherNode = otherBuilderNode();

const skip = await whyNot();
if (skip) console.log(`pinned-runtime: skipped: ${skip}`);

interface Variant {
  node: string;
  dir: string;
  tz: string;
  umask: string;
  sourceDateEpoch?: string;
  tree?: boolean;
}

function build(v: Variant): { code: number; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, TZ: v.tz };
  if (v.sourceDateEpoch === undefined) delete env.SOURCE_DATE_EPOCH;
  else env.SOURCE_DATE_EPOCH = v.sourceDateEpoch;
  const args = ['eif', 'build', '--locked', 'release', '--synthetic-boot-blobs', '--project-root', repoRoot, '--lib-root', libRoot, '-o', 'out/enclave.eif', '--measurements', 'out/measurements.json', '--json'];
  if (v.tree) args.push('--tree', 'out/tree');
  const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;
  const script = `umask ${v.umask} && mkdir -p out && exec ${q(v.node)} ${q(cliPath)} ${args.map(q).join(' ')}`;
  const r = spawnSync('sh', ['-c', script], { cwd: v.dir, env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

let a: { dir: string; cleanup: () => Promise<void> };
let b: { dir: string; cleanup: () => Promise<void> };

describe.skipIf(skip !== undefined)('locked release image with the pinned Node 24 runtime', () => {
  beforeAll(async () => {
    a = await tempDir('pinned-a-', true);
    b = await tempDir('pinned-second-build-', true);
  });
  afterAll(async () => {
    await a?.cleanup();
    await b?.cleanup();
  });

  it('the installed Node 20 and the pinned Node 24, other directories, TZ, umask and SOURCE_DATE_EPOCH: byte-identical EIFs, equal PCR0/1/2', async () => {
    const builder = (node: string): string => spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
    const hostNode = otherNode!;
    expect(builder(hostNode)).not.toBe(builder(pinnedNode));
    expect(builder(pinnedNode)).toBe(lock.runtime.nodeVersion);

    const one = build({ node: hostNode, dir: a.dir, tz: 'UTC', umask: '022', tree: true });
    expect(one.stderr).toBe('');
    expect(one.code).toBe(0);
    const two = build({ node: pinnedNode, dir: b.dir, tz: 'Pacific/Chatham', umask: '077', sourceDateEpoch: '1700000000' });
    expect(two.stderr).toBe('');
    expect(two.code).toBe(0);

    const ma = parseMeasurements(readFileSync(join(a.dir, 'out/measurements.json'), 'utf8'));
    const mb = parseMeasurements(readFileSync(join(b.dir, 'out/measurements.json'), 'utf8'));
    expect([mb.PCR0, mb.PCR1, mb.PCR2]).toEqual([ma.PCR0, ma.PCR1, ma.PCR2]);
    const ha = await fileSha256(join(a.dir, 'out/enclave.eif'));
    expect(await fileSha256(join(b.dir, 'out/enclave.eif'))).toBe(ha);
    expect(ha).toBe(ma.eifSha256);
    expect(readFileSync(join(b.dir, 'out/measurements.json'), 'utf8')).toBe(readFileSync(join(a.dir, 'out/measurements.json'), 'utf8'));

    // What went in is what the lock says: the pinned node, each library, the addon, the timestamp.
    expect(ma.buildInputs['file:/usr/bin/node']).toBe(`sha256:${lock.runtime.sha256}`);
    for (const l of lock.libraries) expect(ma.buildInputs[`file:${l.imagePath}`], l.imagePath).toBe(`sha256:${l.sha256}`);
    expect(ma.buildInputs[`file:${lock.addon.imagePath}`]).toBe(`sha256:${lock.addon.sha256}`);
    expect(ma.buildInputs.buildTime).toBe(String(lock.fileTimestamp));
    expect(ma.buildInputs.cmd).toBe(lock.images.release.cmd);
    expect(ma.buildInputs.env).toBe(lock.images.release.env);
    // The image is not the builder's node.
    expect(ma.buildInputs['file:/usr/bin/node']).not.toBe(`sha256:${await fileSha256(hostNode)}`);
  });

  describe.skipIf(missingTool('chroot', 'coreutils') !== undefined || process.getuid?.() !== 0)('inside the image (chroot into its user ramdisk)', () => {
    const chroot = (argv: string[], env: string[]): { code: number; stdout: string; stderr: string } => {
      // Only the image's /env reaches the process (nothing of the host's environment).
      const chrootBin = ['/usr/sbin/chroot', '/sbin/chroot', '/usr/bin/chroot'].find((p) => existsSync(p)) ?? 'chroot';
      const r = spawnSync(chrootBin, [join(a.dir, 'out/tree/rootfs'), ...argv], { encoding: 'utf8', timeout: 30_000, env: Object.fromEntries(env.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])) });
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };
    const imageEnv = (): string[] => readFileSync(join(a.dir, 'out/tree/env'), 'utf8').split('\n').filter((l) => l !== '');
    const imageCmd = (): string[] => readFileSync(join(a.dir, 'out/tree/cmd'), 'utf8').split('\n').slice(0, -1);

    it('node --version prints the pinned version', () => {
      const r = chroot(['/usr/bin/node', '--version'], []);
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe(lock.runtime.nodeVersion);
      expect(lock.runtime.nodeVersion).toMatch(/^v24\./);
    });

    it("the image's own /cmd runs under the pinned runtime with the image's /env, and the addon loads from the path /env gives", () => {
      const cmd = imageCmd();
      expect(cmd.slice(0, 2)).toEqual(['/usr/bin/node', '/app/enclave.mjs']);
      const version = chroot([...cmd, '--version'], imageEnv());
      expect(version.stderr).toBe('');
      expect(version.code).toBe(0);
      expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
      const help = chroot([...cmd, 'serve', '--help'], imageEnv());
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('--listen');
      const addon = chroot(['/usr/bin/node', '-e', 'const a = require(process.env.ATTESTED_PACK_VSOCK_ADDON); process.stdout.write(String(typeof a.socket) + " " + process.version)'], imageEnv());
      expect(addon.stderr).toBe('');
      expect(addon.stdout).toBe(`function ${lock.runtime.nodeVersion}`);
    });

    it('nothing else of the build machine is in it: the only files are the bundle, addon, node and the locked libraries', () => {
      const r = spawnSync('find', [join(a.dir, 'out/tree/rootfs'), '-type', 'f'], { encoding: 'utf8' });
      const files = r.stdout.trim().split('\n').map((f) => f.slice(join(a.dir, 'out/tree/rootfs').length)).sort();
      expect(files).toEqual(['/app/enclave.mjs', lock.addon.imagePath, IMAGE_NODE_PATH, ...lock.libraries.map((l) => l.imagePath)].sort());
    });
  });
});
