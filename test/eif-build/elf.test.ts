/**
 * The Node runtime closure: our ELF reader against binutils' `readelf` and glibc's `ldd` for the
 * running node binary (independent tools), and typed errors for files that are not ELF.
 */
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readElfDynamic, resolveRuntimeClosure } from '../../eif-build/elf.js';
import { missingTool } from '../tools.js';
import { tempDir } from './helpers.js';

const node = process.execPath;
const noReadelf = missingTool('readelf', 'binutils');
const noLdd = missingTool('ldd', 'libc-bin');

let t: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  t = await tempDir();
});
afterAll(() => t.cleanup());

describe('ELF dynamic info', () => {
  it.skipIf(noReadelf)('matches readelf for the running node (interpreter and DT_NEEDED, in order)', async () => {
    const info = await readElfDynamic(node);
    const dyn = execFileSync('readelf', ['-dW', node]).toString();
    const needed = [...dyn.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
    expect(info.needed).toEqual(needed);
    const interp = /Requesting program interpreter: ([^\]]+)\]/.exec(execFileSync('readelf', ['-lW', node]).toString())?.[1];
    expect(info.interpreter).toBe(interp);
    expect(info.machine).toBe(process.arch === 'arm64' ? 'aarch64' : 'x86_64');
  });

  it.skipIf(noLdd)('resolves the same library set as ldd', async () => {
    const closure = await resolveRuntimeClosure(node);
    const ldd = execFileSync('ldd', [node]).toString();
    // ldd lines: "libx.so => /path (0x…)" and "/lib64/ld-linux-x86-64.so.2 (0x…)"; vdso has no file.
    const fromLdd = ldd
      .split('\n')
      .map((l) => /=>\s+(\/\S+)/.exec(l)?.[1] ?? /^\s*(\/\S+)\s+\(/.exec(l)?.[1])
      .filter((p): p is string => p !== undefined);
    const real = (p: string): string => realpathSync(p);
    expect(closure.map((f) => f.hostPath).sort()).toEqual([...new Set(fromLdd.map(real))].sort());
    expect(closure.map((f) => f.imagePath)).toEqual([...closure.map((f) => f.imagePath)].sort());
    for (const f of closure) expect(f.imagePath.startsWith('/')).toBe(true);
  });

  it('refuses non-ELF files and unresolvable libraries with typed errors', async () => {
    const text = join(t.dir, 'script.sh');
    await writeFile(text, '#!/bin/sh\necho hi\n');
    await expect(readElfDynamic(text)).rejects.toMatchObject({ code: 'EIF_RUNTIME' });
    await expect(readElfDynamic(join(t.dir, 'missing'))).rejects.toMatchObject({ code: 'EIF_RUNTIME' });
    // A copy of /bin/true whose DT_NEEDED names a library that does not exist.
    const trueBin = await readFile('/bin/true');
    const patched = Buffer.from(trueBin.toString('latin1').split('libc.so.6\0').join('libc.so.X\0'), 'latin1');
    expect(patched.equals(trueBin)).toBe(false);
    await writeFile(join(t.dir, 'patched-true'), patched);
    await expect(resolveRuntimeClosure(join(t.dir, 'patched-true'))).rejects.toMatchObject({ code: 'EIF_RUNTIME', message: expect.stringContaining('libc.so.X') });
    // An ELF header whose program headers lie beyond the end of the file.
    const head = Buffer.alloc(64);
    head.writeUInt32BE(0x7f454c46, 0);
    head[4] = 2;
    head[5] = 1;
    head.writeUInt16LE(62, 18);
    head.writeBigUInt64LE(64n, 32);
    head.writeUInt16LE(56, 54);
    head.writeUInt16LE(3, 56);
    await writeFile(join(t.dir, 'trunc.elf'), head);
    await expect(readElfDynamic(join(t.dir, 'trunc.elf'))).rejects.toMatchObject({ code: 'EIF_RUNTIME' });
  });
});
