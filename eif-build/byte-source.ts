/**
 * Byte sources: what the image writer streams from. A source knows its size up front (the EIF
 * header and cpio headers need sizes before data) and can be read more than once (the writer
 * makes one pass to measure and one to write), in bounded chunks, never as one big buffer.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { EifError } from './errors.js';

/** Chunk size for file reads: large enough for throughput, small enough for constant memory. */
export const READ_CHUNK = 1024 * 1024;

/** Something with a known size that can be streamed, repeatedly, in chunks. */
export interface ByteSource {
  readonly size: number;
  /** A short label for error messages and build inputs (a file name, "cmdline", ...). */
  readonly label: string;
  chunks(): AsyncIterable<Uint8Array>;
}

/** Wraps bytes already in memory (small inputs: cmdline, metadata, /cmd, synthetic blobs). */
export function bufferSource(bytes: Uint8Array, label: string): ByteSource {
  return {
    size: bytes.byteLength,
    label,
    async *chunks() {
      if (bytes.byteLength > 0) yield bytes;
    },
  };
}

/**
 * Streams a file whose size is taken now; every later pass checks the size again so that a file
 * changing under the build is an error rather than a wrong image.
 */
export async function fileSource(path: string, label = path): Promise<ByteSource> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (err) {
    throw new EifError('EIF_BLOB_MISSING', `cannot read ${label}: ${path} is missing or not a regular file`, {
      hint: 'check the path (blobs come from --kernel/--init/--nsm, $NITRO_CLI_BLOBS or /usr/share/nitro_enclaves/blobs/<arch>)',
      cause: err,
    });
  }
  return {
    size,
    label,
    async *chunks() {
      const fh = await open(path, 'r');
      try {
        const buf = Buffer.allocUnsafe(READ_CHUNK);
        let pos = 0;
        while (pos < size) {
          const want = Math.min(READ_CHUNK, size - pos);
          const { bytesRead } = await fh.read(buf, 0, want, pos);
          if (bytesRead === 0) break;
          pos += bytesRead;
          // Copy out: the consumer may hold the chunk while we refill the buffer.
          yield Uint8Array.prototype.slice.call(buf, 0, bytesRead);
        }
        const now = (await fh.stat()).size;
        if (pos !== size || now !== size) {
          throw new EifError('EIF_INPUT_CHANGED', `${label} changed size while the image was being built`, {
            hint: 'do not modify build inputs during `eif build`; run it again',
          });
        }
      } finally {
        await fh.close();
      }
    },
  };
}

/** Reads a whole (small) source into memory; used for metadata and signature sections only. */
export async function readAll(source: ByteSource): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of source.chunks()) parts.push(c);
  return Buffer.concat(parts);
}

/** Writes all of `chunk` (a single write(2) may be short on some file systems). */
export async function writeFully(fh: FileHandle, chunk: Uint8Array): Promise<void> {
  let off = 0;
  while (off < chunk.byteLength) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    off += bytesWritten;
  }
}
