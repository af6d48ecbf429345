/**
 * Test helpers for eif-build: paths, temp dirs, and an independent minimal newc reader used to
 * check our writer field by field (it shares no code with eif-build/cpio.ts).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const vectorsDir = resolve(repoRoot, 'test/vectors');
export const eifVectorsDir = join(vectorsDir, 'eif');
export const cliPath = join(repoRoot, 'dist/cli.mjs');

/**
 * Creates a temp dir and returns it with a cleanup function. `inMemory` puts it on /dev/shm when
 * that tmpfs exists (tests that write the ~100 MB node runtime several times stay fast on slow disks).
 */
export async function tempDir(prefix = 'eif-test-', inMemory = false): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const base = inMemory && existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = await mkdtemp(join(base, prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** One newc entry as read back from the bytes. */
export interface ReadEntry {
  offset: number;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  filesize: number;
  devmajor: number;
  devminor: number;
  rdevmajor: number;
  rdevminor: number;
  namesize: number;
  check: number;
  name: string;
  data: Buffer;
  /** The 110-byte header as text (to check lower-case hex). */
  headerText: string;
  /** Bytes between the name's NUL and the data, and after the data (must be zero). */
  namePadding: Buffer;
  dataPadding: Buffer;
}

/** Reads a newc archive written per the spec; throws on anything malformed. Returns entries incl. trailer. */
export function readNewc(buf: Buffer): { entries: ReadEntry[]; end: number } {
  const entries: ReadEntry[] = [];
  let pos = 0;
  for (;;) {
    if (pos + 110 > buf.length) throw new Error(`truncated header at ${pos}`);
    const headerText = buf.toString('latin1', pos, pos + 110);
    if (headerText.slice(0, 6) !== '070701') throw new Error(`bad magic at ${pos}`);
    const f = Array.from({ length: 13 }, (_, i) => {
      const s = headerText.slice(6 + 8 * i, 14 + 8 * i);
      if (!/^[0-9a-fA-F]{8}$/.test(s)) throw new Error(`bad hex field ${i} at ${pos}`);
      return parseInt(s, 16);
    });
    const [ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check] = f as [
      number, number, number, number, number, number, number, number, number, number, number, number, number,
    ];
    const nameStart = pos + 110;
    const name = buf.toString('utf8', nameStart, nameStart + namesize - 1);
    if (buf[nameStart + namesize - 1] !== 0) throw new Error(`name not NUL-terminated at ${pos}`);
    const afterName = nameStart + namesize;
    const dataStart = Math.ceil(afterName / 4) * 4;
    const data = buf.subarray(dataStart, dataStart + filesize);
    const next = Math.ceil((dataStart + filesize) / 4) * 4;
    entries.push({
      offset: pos, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check, name,
      data: Buffer.from(data), headerText,
      namePadding: buf.subarray(afterName, dataStart), dataPadding: buf.subarray(dataStart + filesize, next),
    });
    pos = next;
    if (name === 'TRAILER!!!') return { entries, end: dataStart + filesize };
  }
}
