/**
 * Deterministic newc ("070701") cpio, laid out the way linuxkit's gocpio writer lays it out
 * (reference eif-format.md §3.2): lower-case hex fields, inode numbers from 721 (+1 per entry,
 * trailer included), devmajor 3 / devminor 1, nlink 2 for directories and 1 otherwise, name +
 * NUL padded to 4, data padded to 4, `TRAILER!!!`, archive zero-padded to 512. Only the mtime
 * differs between our two ramdisks. The writer streams: file data is read in chunks from its
 * ByteSource, and the archive size is known before a byte is written.
 */
import type { ByteSource } from './byte-source.js';
import { EifError } from './errors.js';

/** File type bits (octal type << 12), as gocpio assembles them. */
const TYPE_BITS = { dir: 0o040000, file: 0o100000, symlink: 0o120000 } as const;

/** One archive member. Names are relative ("dev", "rootfs/app/x"), without a leading "/". */
export type CpioEntry =
  | { kind: 'dir'; name: string; mode: number }
  | { kind: 'file'; name: string; mode: number; source: ByteSource }
  | { kind: 'symlink'; name: string; target: string };

/** The numbering and time conventions of an archive. */
export interface CpioOptions {
  /** Modification time written on every entry (seconds). */
  mtime: number;
  /** First inode number (linuxkit: 721). */
  inoStart?: number;
}

/** linuxkit's defaultModTime (2017-04-18T16:30:00Z), used for its `files:` entries. */
export const LINUXKIT_MTIME = 1492533000;
export const LINUXKIT_INO_START = 721;
const DEV_MAJOR = 3;
const DEV_MINOR = 1;
const TRAILER = 'TRAILER!!!';
const HEADER_LEN = 110;
const MAX_FIELD = 0xffffffff;

const pad4 = (n: number): number => (4 - (n % 4)) % 4;

function checkName(name: string): Buffer {
  if (name === '' || name.startsWith('/') || name.includes('\0') || name.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    throw new EifError('EIF_CPIO_UNSUPPORTED', `invalid archive path ${JSON.stringify(name)}`);
  }
  return Buffer.from(name, 'utf8');
}

function entrySize(e: CpioEntry): number {
  if (e.kind === 'file') return e.source.size;
  if (e.kind === 'symlink') return Buffer.byteLength(e.target, 'utf8');
  return 0;
}

function headerBytes(fields: number[], name: Buffer): Buffer {
  const hex = fields.map((f) => {
    if (!Number.isInteger(f) || f < 0 || f > MAX_FIELD) {
      throw new EifError('EIF_CPIO_UNSUPPORTED', `cpio field value ${f} does not fit newc's 32-bit fields`, {
        hint: 'files larger than 4 GiB cannot go into a newc ramdisk',
      });
    }
    return f.toString(16).padStart(8, '0');
  });
  const head = Buffer.from('070701' + hex.join(''), 'latin1');
  const namePad = pad4(HEADER_LEN + name.length + 1);
  return Buffer.concat([head, name, Buffer.alloc(1 + namePad)]);
}

interface Planned {
  header: Buffer;
  entry: CpioEntry | undefined;
  size: number;
}

/** A cpio archive ready to stream: its exact size is known up front. */
export interface CpioArchive extends ByteSource {
  readonly entries: readonly CpioEntry[];
}

/**
 * Lays out an archive from entries in the given order (callers sort; parents must precede
 * children). Validates names and sizes now, so streaming cannot fail half-way on layout.
 */
export function cpioArchive(entries: readonly CpioEntry[], options: CpioOptions, label = 'cpio archive'): CpioArchive {
  const seen = new Set<string>();
  let ino = options.inoStart ?? LINUXKIT_INO_START;
  const planned: Planned[] = [];
  for (const e of entries) {
    const name = checkName(e.name);
    if (seen.has(e.name)) throw new EifError('EIF_CPIO_UNSUPPORTED', `duplicate archive path ${JSON.stringify(e.name)}`);
    seen.add(e.name);
    const size = entrySize(e);
    const mode = e.kind === 'symlink' ? 0o777 : e.mode & 0o7777;
    const fields = [ino++, mode | TYPE_BITS[e.kind], 0, 0, e.kind === 'dir' ? 2 : 1, options.mtime, size, DEV_MAJOR, DEV_MINOR, 0, 0, name.length + 1, 0];
    planned.push({ header: headerBytes(fields, name), entry: e, size });
  }
  const trailerName = Buffer.from(TRAILER, 'latin1');
  planned.push({ header: headerBytes([ino, 0, 0, 0, 1, 0, 0, DEV_MAJOR, DEV_MINOR, 0, 0, trailerName.length + 1, 0], trailerName), entry: undefined, size: 0 });

  let total = 0;
  for (const p of planned) total += p.header.length + p.size + pad4(p.size);
  const finalPad = (512 - (total % 512)) % 512;
  total += finalPad;

  return {
    size: total,
    label,
    entries,
    async *chunks() {
      for (const p of planned) {
        yield p.header;
        const e = p.entry;
        if (e?.kind === 'symlink') {
          yield Buffer.from(e.target, 'utf8');
        } else if (e?.kind === 'file') {
          let n = 0;
          for await (const c of e.source.chunks()) {
            n += c.byteLength;
            if (n > p.size) break;
            yield c;
          }
          if (n !== p.size) {
            throw new EifError('EIF_INPUT_CHANGED', `${e.source.label} is no longer ${p.size} bytes long`, {
              hint: 'do not modify build inputs during the build',
            });
          }
        }
        const pad = pad4(p.size);
        if (pad) yield Buffer.alloc(pad);
      }
      if (finalPad) yield Buffer.alloc(finalPad);
    },
  };
}
