/**
 * Reproducibility: two complete builds (bundle → rootfs with a runtime and its shared libraries →
 * EIF) from the same inputs, in different directories, one after the other, with different umask,
 * TZ, locale and working directory, in separate processes running the real CLI, give identical
 * bytes. The runtime here is /bin/true (same ELF closure logic as node: interpreter + libc) so the
 * test does not hash ~100 MB a dozen times; the real node closure is checked in elf.test.ts and below.
 */
import { spawnSync } from 'node:child_process';
import { cp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMeasurements } from '../../common/measurements.js';
import { buildEif } from '../../eif-build/build.js';
import { planRootfs } from '../../eif-build/rootfs.js';
import { cliPath, repoRoot, tempDir } from './helpers.js';

const FIXTURE_ENTRY = 'test/eif-build/fixtures/enclave-entry.ts';
const RUNTIME = '/bin/true';

interface Variant {
  dir: string;
  umask: string;
  tz: string;
  lang: string;
}

function runBuild(v: Variant): void {
  const env: NodeJS.ProcessEnv = { ...process.env, TZ: v.tz, LANG: v.lang, LC_ALL: v.lang };
  delete env.SOURCE_DATE_EPOCH;
  const cli = (args: string): string => `"${process.execPath}" "${cliPath}" ${args}`;
  const script = [
    'set -e',
    `umask ${v.umask}`,
    `cd "${v.dir}"`,
    cli(`eif bundle --entry src/${FIXTURE_ENTRY} --project-root src -o out/enclave.mjs`),
    cli(`eif rootfs --bundle out/enclave.mjs --no-addons --node ${RUNTIME} --env MODE=enclave --tree out/tree -o out/user.cpio`),
    cli('eif build --synthetic-boot-blobs --rootfs out/tree -o out/enclave.eif --measurements out/measurements.json --json'),
  ].join('\n');
  const r = spawnSync('sh', ['-c', script], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build in ${v.dir} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

let one: { dir: string; cleanup: () => Promise<void> };
let two: { dir: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  one = await tempDir('eif-repro-one-', true);
  two = await tempDir('eif-repro-second-checkout-', true);
  // Two checkouts of the same source: the fixture entry and the repo's package.json/node_modules link.
  for (const d of [one.dir, two.dir]) {
    await cp(join(repoRoot, 'test/eif-build/fixtures'), join(d, 'src/test/eif-build/fixtures'), { recursive: true });
    await cp(join(repoRoot, 'package.json'), join(d, 'src/package.json'));
  }
});
afterAll(async () => {
  await one.cleanup();
  await two.cleanup();
});

describe('reproducible build', () => {
  it('identical EIF bytes and measurements from different directories, times, umask, TZ and locale', async () => {
    runBuild({ dir: one.dir, umask: '022', tz: 'UTC', lang: 'C' });
    // Start the second build in a later wall-clock second than the first ended.
    await new Promise((r) => setTimeout(r, 1100));
    runBuild({ dir: two.dir, umask: '077', tz: 'Pacific/Chatham', lang: 'C.UTF-8' });
    for (const f of ['out/enclave.mjs', 'out/enclave.mjs.meta.json', 'out/user.cpio', 'out/enclave.eif', 'out/measurements.json']) {
      const x = await readFile(join(one.dir, f));
      const y = await readFile(join(two.dir, f));
      expect(x.equals(y), f).toBe(true);
    }
    const m = parseMeasurements(await readFile(join(one.dir, 'out/measurements.json'), 'utf8'));
    // The staged tree and the archive `eif rootfs -o` wrote are the same user ramdisk.
    const fromCpio = (await buildEif({ boot: { kind: 'synthetic' }, user: { kind: 'archive', path: join(one.dir, 'out/user.cpio') }, buildTimeEpoch: 0 })).measurements;
    expect([fromCpio.PCR0, fromCpio.PCR1, fromCpio.PCR2, fromCpio.eifSha256]).toEqual([m.PCR0, m.PCR1, m.PCR2, m.eifSha256]);
    // The runtime and its libraries really are in the image.
    const cpio = await readFile(join(one.dir, 'out/user.cpio'));
    expect(cpio.includes(Buffer.from('rootfs/usr/bin/node\0'))).toBe(true);
    expect(cpio.includes(await readFile(RUNTIME))).toBe(true);
    expect(cpio.includes(Buffer.from('/libc.so.6\0'))).toBe(true);
    expect(JSON.stringify(m)).not.toContain(one.dir);
  }, 240_000); // six CLI processes run one after the other; generous for loaded CI machines

  it('the real node runtime plan is deterministic: same files, same order, interpreter and libc included', async () => {
    const spec = { bundlePath: join(one.dir, 'out/enclave.mjs'), runtime: { kind: 'include' as const, nodePath: process.execPath } };
    const a = await planRootfs(spec);
    const b = await planRootfs(spec);
    expect(a.entries.map((e) => e.name)).toEqual(b.entries.map((e) => e.name));
    const names = a.entries.map((e) => e.name);
    expect(names).toContain('rootfs/usr/bin/node');
    expect(names.some((n) => /^rootfs\/.*\/libc\.so\.6$/.test(n))).toBe(true);
    expect(names).toEqual([...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
  });

  it('the build time is an input: another SOURCE_DATE_EPOCH changes PCR2 and the file, not PCR1', async () => {
    const tree = join(one.dir, 'out/tree');
    const at0 = await buildEif({ boot: { kind: 'synthetic' }, user: { kind: 'tree', dir: tree }, buildTimeEpoch: 0 });
    const at1 = await buildEif({ boot: { kind: 'synthetic' }, user: { kind: 'tree', dir: tree }, buildTimeEpoch: 1 });
    const m = parseMeasurements(await readFile(join(one.dir, 'out/measurements.json'), 'utf8'));
    expect(at0.measurements.PCR0).toBe(m.PCR0);
    expect(at0.measurements.eifSha256).toBe(m.eifSha256);
    expect(at1.measurements.PCR1).toBe(at0.measurements.PCR1);
    expect(at1.measurements.PCR2).not.toBe(at0.measurements.PCR2);
    expect(at1.measurements.eifSha256).not.toBe(at0.measurements.eifSha256);
  });
});
