/**
 * The image's userland runs: `eif rootfs` lays out the user ramdisk, `cpio` unpacks it, and the
 * image's own `/cmd` runs with its own `/env` in a `chroot` of `rootfs/`, the way the Nitro init
 * does (reference eif-format.md §3.3: argv from /cmd one per line, KEY=VALUE lines from /env on top
 * of PATH=/sbin:/usr/sbin:/bin:/usr/bin, then chroot into rootfs/). Whatever runtime the image
 * declares is what runs — nothing here names the host's node. It must:
 * - start node from the image's own loader and libraries: every file the process maps lies inside
 *   rootfs/ (read from /proc/PID/maps), the host's /lib is not even visible;
 * - load the addon the image carries, named by /env (without /env: VSOCK_UNAVAILABLE, exit 3);
 * - hold its vsock port: a second bind of VMADDR_CID_ANY:PORT fails with EADDRINUSE until it exits.
 * Needs root (chroot), cpio, the vsock addon built in this checkout and AF_VSOCK in the kernel.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeVsockPort, vsockBindErrno } from '../vsock/helpers.js';
import { loadVsockAddon } from '../../vsock/index.js';
import { missingTool } from '../tools.js';
import { cliPath, tempDir } from './helpers.js';

/** Root is a requirement like a tool: skipped with a reason, or a failure under ATTESTED_PACK_REQUIRE_TOOLS=1. */
function notRoot(): string | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() === 0) return undefined;
  const reason = 'needs root (chroot(2) is privileged)';
  if (process.env.ATTESTED_PACK_REQUIRE_TOOLS === '1') throw new Error(`${reason}; ATTESTED_PACK_REQUIRE_TOOLS=1 makes it required`);
  return reason;
}

/** The checkout's addon (the one `eif rootfs` puts into the image) and AF_VSOCK in this kernel. */
function noVsock(): string | undefined {
  const noCompiler = missingTool(process.env.CC || 'cc', 'gcc') ?? missingTool('make', 'make') ?? missingTool('python3', 'python3');
  if (noCompiler) return noCompiler;
  try {
    const addon = loadVsockAddon();
    addon.close(addon.socket());
    return undefined;
  } catch (err) {
    return `the vsock addon or AF_VSOCK is not available here (${(err as Error).message})`;
  }
}

const skip = notRoot() ?? missingTool('chroot', 'coreutils') ?? missingTool('cpio', 'cpio') ?? noVsock();
const INIT_PATH = '/sbin:/usr/sbin:/bin:/usr/bin';
const EADDRINUSE = 98;



function cli(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cliPath, ...args], { cwd, encoding: 'utf8', env: { ...process.env, SOURCE_DATE_EPOCH: '' }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Lines of an init file: split on \n only, the trailing \n stripped (as init.c reads them). */
function initLines(text: string): string[] {
  return (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n').filter((l, i, all) => !(all.length === 1 && l === ''));
}

let t: { dir: string; cleanup: () => Promise<void> };
let rootfs: string;
let cmd: string[];
let env: Record<string, string>;
let port: number;

beforeAll(async () => {
  if (skip) return;
  t = await tempDir('eif-chroot-');
  port = freeVsockPort();
  const bundle = cli(['eif', 'bundle', '-o', 'enclave.mjs'], t.dir);
  expect(bundle.status, bundle.stderr).toBe(0);
  // The image's own /cmd: serve on vsock, real mode (the NSM and KMS are only used per pack).
  const args = ['serve', '--listen', `vsock://ANY:${port}`, '--kms-region', 'us-east-1', '--envelope', 'api-gateway/production=arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000'];
  const rootfsRun = cli(['eif', 'rootfs', '--bundle', 'enclave.mjs', '-o', 'user.cpio', ...args.flatMap((a) => ['--arg', a])], t.dir);
  expect(rootfsRun.status, rootfsRun.stderr).toBe(0);
  // Unpack the archive as init's kernel would: cpio as root keeps modes, no absolute names.
  const unpacked = join(t.dir, 'ramdisk');
  mkdirSync(unpacked);
  const fd = openSync(join(t.dir, 'user.cpio'), 'r');
  try {
    const r = spawnSync('cpio', ['-idm', '--quiet', '--no-absolute-filenames'], { cwd: unpacked, stdio: [fd, 'pipe', 'pipe'], encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  } finally {
    closeSync(fd);
  }
  rootfs = join(unpacked, 'rootfs');
  cmd = initLines(readFileSync(join(unpacked, 'cmd'), 'utf8'));
  env = Object.fromEntries(
    initLines(readFileSync(join(unpacked, 'env'), 'utf8')).map((line) => {
      const eq = line.indexOf('=');
      return [line.slice(0, eq), line.slice(eq + 1)];
    }),
  );
}, 240_000);

afterAll(async () => {
  await t?.cleanup();
});

/** Starts /cmd in a chroot of rootfs/ with the given environment; resolves once it says it listens or exits. */
async function startImage(environment: Record<string, string>) {
  const child = spawn('chroot', [rootfs, ...cmd], { env: environment, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (c: Buffer) => (out.stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (out.stderr += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  const deadline = Date.now() + 60_000;
  while (!done && !out.stdout.includes('enclave ready on') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return { child, out, exited };
}

describe.skipIf(skip)('the image\'s /cmd with its /env in a chroot of rootfs/', () => {
  it('declares a program inside the image and names the addon it carries', () => {
    expect(cmd.length).toBeGreaterThan(1);
    expect(cmd[0]!.startsWith('/')).toBe(true);
    expect(existsSync(join(rootfs, cmd[0]!)), `${cmd[0]} in rootfs/`).toBe(true);
    expect(cmd).toContain(`vsock://ANY:${port}`);
    expect(env.ATTESTED_PACK_VSOCK_ADDON).toBeDefined();
    expect(existsSync(join(rootfs, env.ATTESTED_PACK_VSOCK_ADDON!))).toBe(true);
  });

  it('node starts from the image\'s own libraries, the addon loads and the server holds its vsock port', async () => {
    const { child, out, exited } = await startImage({ PATH: INIT_PATH, ...env });
    try {
      expect(out.stdout, out.stderr).toContain(`enclave ready on vsock://ANY:${port}`);
      // Every file-backed mapping of the process — the program, the dynamic loader, libc, libstdc++,
      // the addon — is a file of the image.
      const maps = readFileSync(`/proc/${child.pid}/maps`, 'utf8');
      const files = [...new Set(maps.split('\n').map((l) => l.split(/\s+/)[5] ?? '').filter((p) => p.startsWith('/')))];
      expect(files.length).toBeGreaterThan(3);
      expect(files.filter((f) => !f.startsWith(`${rootfs}/`))).toEqual([]);
      expect(files).toContain(join(rootfs, cmd[0]!));
      expect(files).toContain(join(rootfs, env.ATTESTED_PACK_VSOCK_ADDON!));
      expect(files.some((f) => /\/ld-linux[^/]*\.so/.test(f) || /\/ld-musl[^/]*\.so/.test(f))).toBe(true);
      expect(vsockBindErrno(port)).toBe(EADDRINUSE);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    expect(vsockBindErrno(port)).toBe(0);
  });

  it('without the image\'s /env the bundle cannot find the addon: VSOCK_UNAVAILABLE, exit 3', async () => {
    const { out, exited } = await startImage({ PATH: INIT_PATH });
    expect(await exited).toBe(3);
    expect(out.stdout).not.toContain('enclave ready');
    expect(out.stderr).toContain('error [VSOCK_UNAVAILABLE]');
  });
});
