/**
 * The newc writer against linuxkit's field rules (reference eif-format.md §3.2), read back by an
 * independent reader (helpers.ts) and, where installed, by GNU cpio.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, lstat, writeFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapRamdisk } from '../../eif-build/bootstrap-ramdisk.js';
import { bufferSource, readAll } from '../../eif-build/byte-source.js';
import { cpioArchive, type CpioEntry } from '../../eif-build/cpio.js';
import { EifError } from '../../eif-build/errors.js';
import { entriesFromTree, planRootfs, userRamdisk, withParentsSorted } from '../../eif-build/rootfs.js';
import { missingTool } from '../tools.js';
import { readNewc, tempDir } from './helpers.js';

const noCpio = missingTool('cpio', 'cpio');

function bytes(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0, off = 0; off < n; i++, off += 32) createHash('sha256').update(`${seed}${i}`).digest().copy(out, off);
  return out;
}

const INIT = bytes(1001, 'init');
const NSM = bytes(2051, 'nsm');

describe('bootstrap ramdisk (linuxkit layout)', () => {
  it('has exactly dev/, init, nsm.ko and the trailer, with the header bytes linuxkit writes', async () => {
    const archive = bootstrapRamdisk({ init: bufferSource(INIT, 'init'), nsm: bufferSource(NSM, 'nsm.ko') });
    const buf = await readAll(archive);
    expect(buf.length).toBe(archive.size);
    const { entries, end } = readNewc(buf);
    expect(entries.map((e) => e.name)).toEqual(['dev', 'init', 'nsm.ko', 'TRAILER!!!']);
    // Expected headers written out by hand from the gocpio rules: ino from 721, lower-case hex,
    // mode = perm | type<<12, nlink 2 for dirs, mtime 1492533000 (0x58f63f08), dev 3:1, namesize = len+1.
    expect(entries.map((e) => e.headerText)).toEqual([
      '070701000002d1000041ed00000000000000000000000258f63f0800000000000000030000000100000000000000000000000400000000',
      '070701000002d2000081ed00000000000000000000000158f63f08000003e9000000030000000100000000000000000000000500000000',
      '070701000002d3000081ed00000000000000000000000158f63f0800000803000000030000000100000000000000000000000700000000',
      '070701000002d4000000000000000000000000000000010000000000000000000000030000000100000000000000000000000b00000000',
    ]);
    expect(entries[1]!.data.equals(INIT)).toBe(true);
    expect(entries[2]!.data.equals(NSM)).toBe(true);
    for (const e of entries) {
      expect(e.offset % 4).toBe(0);
      expect(e.namePadding.every((b) => b === 0)).toBe(true);
      expect(e.dataPadding.every((b) => b === 0)).toBe(true);
    }
    // Whole archive zero-padded to a multiple of 512 after the trailer.
    expect(buf.length % 512).toBe(0);
    expect(buf.subarray(end).every((b) => b === 0)).toBe(true);
    expect(buf.length - end).toBeLessThan(512 + 4);
  });

  it('without nsm.ko holds only dev/ and init, and depends only on the blob bytes', async () => {
    const a = await readAll(bootstrapRamdisk({ init: bufferSource(INIT, 'init') }));
    expect(readNewc(a).entries.map((e) => e.name)).toEqual(['dev', 'init', 'TRAILER!!!']);
    const b = await readAll(bootstrapRamdisk({ init: bufferSource(Buffer.from(INIT), 'other label') }));
    expect(b.equals(a)).toBe(true);
    const c = await readAll(bootstrapRamdisk({ init: bufferSource(bytes(1001, 'other'), 'init') }));
    expect(c.equals(a)).toBe(false);
  });
});

describe('cpio writer rules', () => {
  it('pads names and data to 4 for every name and size length', async () => {
    const entries: CpioEntry[] = [];
    for (let n = 1; n <= 8; n++) entries.push({ kind: 'file', name: 'f'.repeat(n), mode: 0o644, source: bufferSource(bytes(n * 3, `d${n}`), 'x') });
    const buf = await readAll(cpioArchive(entries, { mtime: 7 }));
    const read = readNewc(buf).entries;
    read.slice(0, -1).forEach((e, i) => {
      expect(e.name).toBe('f'.repeat(i + 1));
      expect(e.data.equals(bytes((i + 1) * 3, `d${i + 1}`))).toBe(true);
      expect(e.mtime).toBe(7);
      expect(e.offset % 4).toBe(0);
    });
  });

  it('stores symlinks as mode 0120777 with the target as data', async () => {
    const buf = await readAll(cpioArchive([{ kind: 'symlink', name: 'l', target: '../x/y' }], { mtime: 0 }));
    const [e] = readNewc(buf).entries;
    expect(e!.mode).toBe(0o120777);
    expect(e!.data.toString()).toBe('../x/y');
  });

  it('rejects unsafe or duplicate names and sources that change size', async () => {
    for (const name of ['', '/abs', 'a/../b', 'a//b', './a', 'nul\0']) {
      expect(() => cpioArchive([{ kind: 'dir', name, mode: 0o755 }], { mtime: 0 })).toThrow(EifError);
    }
    expect(() => cpioArchive([{ kind: 'dir', name: 'a', mode: 0o755 }, { kind: 'dir', name: 'a', mode: 0o755 }], { mtime: 0 })).toThrow(
      expect.objectContaining({ code: 'EIF_CPIO_UNSUPPORTED' }),
    );
    const liar = { size: 10, label: 'liar', async *chunks() { yield Buffer.alloc(5); } };
    await expect(readAll(cpioArchive([{ kind: 'file', name: 'x', mode: 0o644, source: liar }], { mtime: 0 }))).rejects.toMatchObject({ code: 'EIF_INPUT_CHANGED' });
    const tooBig = { size: 2 ** 32, label: 'big', async *chunks() {} };
    expect(() => cpioArchive([{ kind: 'file', name: 'x', mode: 0o644, source: tooBig }], { mtime: 0 })).toThrow(expect.objectContaining({ code: 'EIF_CPIO_UNSUPPORTED' }));
  });

  it('adds missing parents and sorts byte-wise with parents first', () => {
    const sorted = withParentsSorted([
      { kind: 'dir', name: 'a/b-c', mode: 0o755 },
      { kind: 'dir', name: 'a/b/c', mode: 0o755 },
      { kind: 'dir', name: 'B', mode: 0o755 },
    ]);
    expect(sorted.map((e) => e.name)).toEqual(['B', 'a', 'a/b', 'a/b-c', 'a/b/c'].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    const names = sorted.map((e) => e.name);
    for (const n of names) for (let i = n.indexOf('/'); i > 0; i = n.indexOf('/', i + 1)) expect(names.indexOf(n.slice(0, i))).toBeLessThan(names.indexOf(n));
  });
});

describe('user ramdisk', () => {
  let t: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    t = await tempDir();
    await writeFile(join(t.dir, 'bundle.mjs'), 'console.log("enclave")\n');
    await writeFile(join(t.dir, 'vsock.node'), bytes(333, 'addon'));
  });
  afterAll(() => t.cleanup());

  it('holds /cmd, /env, rootfs/ with init directories, the bundle and the addon, canonically', async () => {
    const plan = await planRootfs({
      bundlePath: join(t.dir, 'bundle.mjs'),
      addonPaths: [join(t.dir, 'vsock.node')],
      runtime: { kind: 'reference', nodePath: process.execPath },
      env: ['FOO=bar'],
    });
    const buf = await readAll(userRamdisk(plan.entries, 1700000000));
    const { entries } = readNewc(buf);
    const byName = new Map(entries.map((e) => [e.name, e]));
    expect(entries.map((e) => e.name)).toEqual([
      'cmd', 'env', 'rootfs', 'rootfs/app', 'rootfs/app/enclave.mjs', 'rootfs/app/vsock.node',
      'rootfs/dev', 'rootfs/proc', 'rootfs/run', 'rootfs/sys', 'rootfs/tmp', 'rootfs/var', 'TRAILER!!!',
    ]);
    expect(byName.get('cmd')!.data.toString()).toBe('/usr/bin/node\n/app/enclave.mjs\n');
    expect(byName.get('env')!.data.toString()).toBe('ATTESTED_PACK_VSOCK_ADDON=/app/vsock.node\nFOO=bar\n');
    expect(byName.get('cmd')!.mode).toBe(0o100644);
    expect(byName.get('rootfs/app/vsock.node')!.mode).toBe(0o100755);
    expect(byName.get('rootfs/app/enclave.mjs')!.data.toString()).toBe('console.log("enclave")\n');
    for (const e of entries.slice(0, -1)) {
      expect([e.uid, e.gid, e.mtime, e.devmajor, e.devminor]).toEqual([0, 0, 1700000000, 3, 1]);
      expect(e.nlink).toBe((e.mode & 0o170000) === 0o040000 ? 2 : 1);
    }
    expect(entries.map((e) => e.ino)).toEqual(entries.map((_, i) => 721 + i));
  });

  it('rejects env and cmd lines init cannot read', async () => {
    const base = { bundlePath: join(t.dir, 'bundle.mjs'), runtime: { kind: 'reference' as const, nodePath: process.execPath } };
    await expect(planRootfs({ ...base, env: ['NOEQUALS'] })).rejects.toMatchObject({ code: 'EIF_ROOTFS' });
    await expect(planRootfs({ ...base, env: ['A=b\nC=d'] })).rejects.toMatchObject({ code: 'EIF_ROOTFS' });
    await expect(planRootfs({ ...base, cmd: [] })).rejects.toMatchObject({ code: 'EIF_ROOTFS' });
    await expect(planRootfs({ ...base, addonPaths: [join(t.dir, 'bundle.mjs')] })).rejects.toMatchObject({ code: 'EIF_ROOTFS' });
  });

  it('reads a staged tree canonically (modes normalised) and requires cmd, env, rootfs/', async () => {
    const tree = join(t.dir, 'tree');
    await mkdir(join(tree, 'rootfs/app'), { recursive: true, mode: 0o700 });
    await writeFile(join(tree, 'cmd'), '/usr/bin/node\n', { mode: 0o600 });
    await expect(entriesFromTree(tree)).rejects.toMatchObject({ code: 'EIF_ROOTFS' });
    await writeFile(join(tree, 'env'), '', { mode: 0o600 });
    await writeFile(join(tree, 'rootfs/app/run.sh'), '#!/bin/sh\n', { mode: 0o700 });
    const entries = await entriesFromTree(tree);
    const modes = Object.fromEntries(entries.map((e) => [e.name, e.kind === 'symlink' ? 'link' : e.mode.toString(8)]));
    expect(modes).toEqual({ cmd: '644', env: '644', rootfs: '755', 'rootfs/app': '755', 'rootfs/app/run.sh': '755' });
  });

  it.skipIf(noCpio)('GNU cpio lists and extracts our archive to the same tree', async () => {
    const plan = await planRootfs({ bundlePath: join(t.dir, 'bundle.mjs'), addonPaths: [join(t.dir, 'vsock.node')], runtime: { kind: 'reference', nodePath: process.execPath } });
    const buf = await readAll(userRamdisk(plan.entries, 0));
    const listing = execFileSync('cpio', ['-t', '--quiet'], { input: buf }).toString().trim().split('\n');
    expect(listing).toEqual(plan.entries.map((e) => e.name));
    const verbose = execFileSync('cpio', ['-tv', '--quiet', '--numeric-uid-gid'], { input: buf }).toString();
    expect(verbose).toMatch(/^-rwxr-xr-x\s+1 0\s+0\s+333 .* rootfs\/app\/vsock.node$/m);
    const out = join(t.dir, 'extract');
    await mkdir(out);
    execFileSync('cpio', ['-i', '-d', '--quiet', '--no-absolute-filenames'], { input: buf, cwd: out });
    const walk = async (rel: string): Promise<string[]> => {
      const acc: string[] = [];
      for (const n of (await readdir(join(out, rel))).sort()) {
        const r = rel ? `${rel}/${n}` : n;
        acc.push(r);
        if ((await lstat(join(out, r))).isDirectory()) acc.push(...(await walk(r)));
      }
      return acc;
    };
    expect((await walk('')).sort()).toEqual(plan.entries.map((e) => e.name).sort());
    expect(await readFile(join(out, 'rootfs/app/vsock.node'))).toEqual(bytes(333, 'addon'));
    expect((await readFile(join(out, 'cmd'))).toString()).toBe(plan.cmd);

    const boot = await readAll(bootstrapRamdisk({ init: bufferSource(INIT, 'init'), nsm: bufferSource(NSM, 'nsm.ko') }));
    const bootOut = join(t.dir, 'boot');
    await mkdir(bootOut);
    execFileSync('cpio', ['-i', '-d', '--quiet', '--preserve-modification-time'], { input: boot, cwd: bootOut });
    expect(await readFile(join(bootOut, 'init'))).toEqual(INIT);
    expect((await lstat(join(bootOut, 'nsm.ko'))).mtimeMs).toBe(1492533000 * 1000);
    expect(((await lstat(join(bootOut, 'init'))).mode & 0o777).toString(8)).toBe('755');
    expect(await readlink(join(bootOut, 'dev')).catch((e: NodeJS.ErrnoException) => e.code)).toBe('EINVAL'); // a real directory
  });
});
