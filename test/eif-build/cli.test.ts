/**
 * `attested-pack eif …` as a user runs it (the built dist/cli.mjs): outputs, the nitro-cli JSON
 * shape of describe, and the documented exit codes for bad input and bad usage.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMeasurements } from '../../common/measurements.js';
import { cliPath, eifVectorsDir, readNewc, tempDir } from './helpers.js';

const run = (args: string[], cwd?: string): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', ...(cwd ? { cwd } : {}), env: { ...process.env, SOURCE_DATE_EPOCH: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};
/** Each test spawns up to three CLI processes; generous for loaded CI machines (not a timing assertion). */
const SPAWN_TIMEOUT = 120_000;
const vectors = JSON.parse(readFileSync(join(eifVectorsDir, 'vectors.json'), 'utf8')) as { pcr8_test_signing_cert: { PCR8: string } };

let t: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  t = await tempDir();
  await writeFile(join(t.dir, 'bundle.mjs'), 'console.log("hi")\n');
});
afterAll(() => t.cleanup());

describe('attested-pack eif', () => {
  it('build (signed, synthetic blobs) then describe --json: nitro-cli shape, same PCRs as measurements.json', async () => {
    const b = run([
      'eif', 'build', '--synthetic-boot-blobs', '--bundle', join(t.dir, 'bundle.mjs'), '--no-node', '--no-addons',
      '--sign-key', join(eifVectorsDir, 'test-signing/test-signing-key.pem'), '--sign-cert', join(eifVectorsDir, 'test-signing/test-signing-cert.pem'),
      '-o', join(t.dir, 'e.eif'), '--measurements', join(t.dir, 'm.json'), '--json',
    ]);
    expect(b.stderr).toBe('');
    expect(b.status).toBe(0);
    const built = JSON.parse(b.stdout) as { Measurements: Record<string, string> };
    const m = parseMeasurements(await readFile(join(t.dir, 'm.json'), 'utf8'));
    expect(m.PCR8).toBe(vectors.pcr8_test_signing_cert.PCR8);
    const d = run(['eif', 'describe', join(t.dir, 'e.eif'), '--json']);
    expect(d.status).toBe(0);
    const desc = JSON.parse(d.stdout) as Record<string, unknown> & { Measurements: Record<string, string> };
    expect(desc.Measurements).toEqual({ HashAlgorithm: 'Sha384 { ... }', PCR0: m.PCR0, PCR1: m.PCR1, PCR2: m.PCR2, PCR8: m.PCR8 });
    expect(built.Measurements).toEqual(desc.Measurements);
    expect(desc).toMatchObject({ EifVersion: 4, IsSigned: true, CheckCRC: true, SignatureCheck: true });
  }, SPAWN_TIMEOUT);

  it('describe exits 1 for a corrupted image (CheckCRC false) and 2 for a non-EIF', async () => {
    const eif = await readFile(join(t.dir, 'e.eif'));
    eif[700]! ^= 0x10;
    await writeFile(join(t.dir, 'bad.eif'), eif);
    const d = run(['eif', 'describe', join(t.dir, 'bad.eif'), '--json']);
    expect(d.status).toBe(1);
    expect(JSON.parse(d.stdout)).toMatchObject({ CheckCRC: false });
    const n = run(['eif', 'describe', join(t.dir, 'bundle.mjs')]);
    expect(n.status).toBe(2);
    expect(n.stderr).toMatch(/^error \[EIF_BAD_MAGIC\]: /);
  }, SPAWN_TIMEOUT);

  it('build without blobs says where it looked and how to fix it; bad flags are usage errors', () => {
    const missing = run(['eif', 'build', '--blobs', join(t.dir, 'no-blobs'), '--user-ramdisk', join(t.dir, 'bundle.mjs'), '-o', join(t.dir, 'x.eif')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/error \[EIF_BLOB_MISSING\]: kernel not found at .*no-blobs\/bzImage/);
    expect(missing.stderr).toMatch(/hint: .*--synthetic-boot-blobs/);
    expect(run(['eif', 'build', '--synthetic-boot-blobs', '--arch', 'mips', '--user-ramdisk', join(t.dir, 'bundle.mjs'), '-o', join(t.dir, 'x.eif')]).status).toBe(2);
    const half = run(['eif', 'build', '--synthetic-boot-blobs', '--user-ramdisk', join(t.dir, 'bundle.mjs'), '--sign-key', 'k.pem', '-o', join(t.dir, 'x.eif')]);
    expect(half.status).toBe(2);
    expect(half.stderr).toMatch(/--sign-key and --sign-cert go together/);
  }, SPAWN_TIMEOUT);

  it('pcr --signing-certificate prints PCR8; bootstrap-ramdisk writes the linuxkit layout', async () => {
    const p = run(['eif', 'pcr', '--signing-certificate', join(eifVectorsDir, 'test-signing/test-signing-cert.pem')]);
    expect(p.stdout.trim()).toBe(vectors.pcr8_test_signing_cert.PCR8);
    await writeFile(join(t.dir, 'init'), 'init bytes');
    const b = run(['eif', 'bootstrap-ramdisk', '--init', join(t.dir, 'init'), '-o', join(t.dir, 'boot.cpio')]);
    expect(b.status).toBe(0);
    const entries = readNewc(await readFile(join(t.dir, 'boot.cpio'))).entries;
    expect(entries.map((e) => [e.name, e.ino, e.mtime])).toEqual([['dev', 721, 1492533000], ['init', 722, 1492533000], ['TRAILER!!!', 723, 0]]);
  }, SPAWN_TIMEOUT);

  it('bundle reports a missing entry with a hint', () => {
    const r = run(['eif', 'bundle', '--entry', join(t.dir, 'missing.ts'), '-o', join(t.dir, 'o.mjs')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/error \[EIF_BUNDLE\]: .*missing\.ts does not exist\nhint: pass --entry FILE/);
  }, SPAWN_TIMEOUT);
});
