/**
 * The input lock refuses drift: each kind of input (library, runtime, bundled npm package, /cmd,
 * /env, addon) changed against the lock stops the build with EIF_LOCK_DRIFT naming the input, the
 * locked and the found value; missing inputs are EIF_LOCK_INPUT_MISSING with the step that fetches
 * them; a malformed lock is EIF_LOCK_INVALID. The lock in the repository matches this checkout.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EifError } from '../../eif-build/errors.js';
import { lockedBuild, lockedLibraries, lockedRuntime, parseImageLock, readImageLock, runtimePackageDir, IMAGE_LOCK_PATH, type ImageLock } from '../../eif-build/lock.js';
import { bundledNpmPackages } from '../../eif-build/lock.js';
import { missingTool, skipReason } from '../tools.js';
import { repoRoot, tempDir } from './helpers.js';

const lock = await readImageLock(join(repoRoot, IMAGE_LOCK_PATH));
const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');
const copy = (): ImageLock => JSON.parse(JSON.stringify(lock)) as ImageLock;

async function rejects(p: Promise<unknown>): Promise<EifError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(EifError);
    return err as EifError;
  }
  throw new Error('expected a rejection');
}

let t: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  t = await tempDir('eif-lock-');
});
afterAll(async () => {
  await t?.cleanup();
});

describe('image lock', () => {
  it('parses the committed lock; a malformed one is EIF_LOCK_INVALID', () => {
    expect(lock.lockVersion).toBe(1);
    expect(lock.runtime.nodeVersion).toMatch(/^v24\./);
    for (const bad of ['{', '[]', JSON.stringify({ ...copy(), lockVersion: 2 }), JSON.stringify({ ...copy(), runtime: { ...lock.runtime, integrity: 'sha1-x' } }), JSON.stringify({ ...copy(), libraries: [{ imagePath: '/x' }] })]) {
      let code: string | undefined;
      try {
        parseImageLock(bad);
      } catch (err) {
        code = (err as EifError).code;
      }
      expect(code, bad.slice(0, 40)).toBe('EIF_LOCK_INVALID');
    }
  });

  it('a library whose bytes differ: EIF_LOCK_DRIFT with the image path, the locked and the found SHA-256', async () => {
    const l = copy();
    const lib = l.libraries[0]!;
    const root = join(t.dir, 'libroot');
    await mkdir(join(root, lib.debian.path, '..'), { recursive: true });
    await writeFile(join(root, lib.debian.path), 'not glibc');
    const err = await rejects(lockedLibraries(l, root));
    expect(err.code).toBe('EIF_LOCK_DRIFT');
    expect(err.message).toContain(lib.imagePath);
    expect(err.message).toContain(`sha256:${lib.sha256}`);
    expect(err.message).toContain(`sha256:${sha('not glibc')}`);
    expect(err.hint).toContain(lib.debian.debSha256);
    expect(err.exitCode).toBe(1);
  });

  it('a library that is not there: EIF_LOCK_INPUT_MISSING naming the Debian package and version', async () => {
    const err = await rejects(lockedLibraries(lock, join(t.dir, 'empty-root')));
    expect(err.code).toBe('EIF_LOCK_INPUT_MISSING');
    expect(err.hint).toContain(`${lock.libraries[0]!.debian.package}=${lock.libraries[0]!.debian.version}`);
    expect(err.exitCode).toBe(2);
  });

  it('the runtime: missing → npm ci --prefix hint; another version or other bytes → drift', async () => {
    const root = join(t.dir, 'project');
    const missing = await rejects(lockedRuntime(root, lock));
    expect(missing.code).toBe('EIF_LOCK_INPUT_MISSING');
    expect(missing.hint).toContain('npm ci --prefix eif-build/runtime');

    const dir = runtimePackageDir(root, lock.arch);
    await mkdir(join(dir, 'bin'), { recursive: true });
    await writeFile(join(root, 'eif-build/runtime/package-lock.json'), await readFile(join(repoRoot, 'eif-build/runtime/package-lock.json')));
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: lock.runtime.package, version: '24.0.0' }));
    await writeFile(join(dir, 'bin/node'), 'a different node');
    const version = await rejects(lockedRuntime(root, lock));
    expect(version.code).toBe('EIF_LOCK_DRIFT');
    expect(version.message).toContain(`${lock.runtime.package}@${lock.runtime.version}`);
    expect(version.message).toContain(`${lock.runtime.package}@24.0.0`);

    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: lock.runtime.package, version: lock.runtime.version }));
    const bytes = await rejects(lockedRuntime(root, lock));
    expect(bytes.code).toBe('EIF_LOCK_DRIFT');
    expect(bytes.message).toContain(`sha256:${lock.runtime.sha256}`);
    expect(bytes.message).toContain(`sha256:${sha('a different node')}`);
  });

  it('the bundle closure is read from the metafile and package-lock.json', () => {
    const pkgs = bundledNpmPackages(
      ['enclave-app/x.ts', 'node_modules/cbor-x/dist/node.cjs', 'node_modules/@aws-sdk/client-kms/dist-cjs/index.js', 'node_modules/a/node_modules/b/index.js'],
      { packages: { 'node_modules/cbor-x': { version: '1.6.9', integrity: 'sha512-x' }, 'node_modules/@aws-sdk/client-kms': { version: '3.1', integrity: 'sha512-y' } } },
    );
    expect(Object.keys(pkgs)).toEqual(['node_modules/@aws-sdk/client-kms', 'node_modules/a/node_modules/b', 'node_modules/cbor-x']);
    expect(pkgs['node_modules/a/node_modules/b']).toEqual({ version: 'unknown', integrity: 'unknown' });
  });

  it('the committed lock matches this checkout: the simulation image builds with every input checked', async () => {
    const r = await lockedBuild({ projectRoot: repoRoot, kind: 'simulation', measureOnly: true });
    expect(r.measurements.buildInputs.imageKind).toContain('simulation');
    expect(r.cmd).toBe(lock.images.simulation.cmd);
  });

  const driftCases: Array<[string, (l: ImageLock) => void, string[]]> = [
    ['a bundled npm package', (l) => void (l.bundle.npmPackages['node_modules/cbor-x']!.version = '0.0.1'), ['bundled npm package node_modules/cbor-x', '0.0.1']],
    ['a bundled package the lock does not list', (l) => void delete l.bundle.npmPackages['node_modules/cbor-x'], ['node_modules/cbor-x', 'absent']],
    ['esbuild', (l) => void (l.bundle.bundler['node_modules/esbuild']!.integrity = 'sha512-other'), ['bundler node_modules/esbuild', 'sha512-other']],
    ['/env', (l) => void (l.images.simulation.env = 'DEBUG=1\n'), ['/env', 'DEBUG=1']],
  ];
  it.each(driftCases)('%s changed in the lock: EIF_LOCK_DRIFT names it', async (_what, mutate, words) => {
    const l = copy();
    mutate(l);
    const path = join(t.dir, `lock-${Math.random().toString(16).slice(2)}.json`);
    await writeFile(path, JSON.stringify(l));
    const err = await rejects(lockedBuild({ projectRoot: repoRoot, kind: 'simulation', lockPath: path, measureOnly: true }));
    expect(err.code).toBe('EIF_LOCK_DRIFT');
    for (const w of words) expect(err.message).toContain(w);
  });

  it('/cmd is what the lock says (not the builder\'s choice): a lock with another /cmd measures another PCR2', async () => {
    const l = copy();
    l.images.simulation.cmd = '/usr/bin/node\n/app/enclave.mjs\nserve\n';
    const path = join(t.dir, 'lock-cmd.json');
    await writeFile(path, JSON.stringify(l));
    const a = await lockedBuild({ projectRoot: repoRoot, kind: 'simulation', measureOnly: true });
    const b = await lockedBuild({ projectRoot: repoRoot, kind: 'simulation', lockPath: path, measureOnly: true });
    expect(b.measurements.buildInputs.cmd).toBe(l.images.simulation.cmd);
    expect(b.pcrs.PCR2).not.toBe(a.pcrs.PCR2);
    expect(b.pcrs.PCR1).toBe(a.pcrs.PCR1);
  });

  const noRelease = !existsSync(join(runtimePackageDir(repoRoot, lock.arch), lock.runtime.file)) ? skipReason('the pinned runtime is not installed (npm ci --prefix eif-build/runtime)') : missingTool('cc', 'gcc');
  it.skipIf(noRelease !== undefined)('the addon compiled to other bytes than locked: drift naming the addon and both toolchains', async () => {
    const l = copy();
    l.addon.sha256 = '0'.repeat(64);
    l.addon.toolchain.compiler = 'cc (Example) 1.0';
    const path = join(t.dir, 'lock-addon.json');
    await writeFile(path, JSON.stringify(l));
    const err = await rejects(lockedBuild({ projectRoot: repoRoot, kind: 'release', syntheticBootBlobs: true, lockPath: path, measureOnly: true, libRoot: process.env.ATTESTED_PACK_LIB_ROOT ?? '/' }));
    // On a machine whose libraries differ from the lock, the libraries are refused first (also drift).
    expect(err.code).toBe('EIF_LOCK_DRIFT');
    if (err.message.includes('addon')) {
      expect(err.message).toContain(`addon ${lock.addon.imagePath}`);
      expect(err.message).toContain('cc (Example) 1.0');
      expect(err.message).toContain(`sha256:${lock.addon.sha256}`);
    }
  });
});
