/** Writes a ByteSource to a file atomically (temp + fsync + rename) and returns its SHA-256. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeFully, type ByteSource } from './byte-source.js';

/** Streams `source` into `path` (never half-written) and returns the SHA-256 hex of what was written. */
export async function writeSourceToFile(source: ByteSource, path: string): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const sha = createHash('sha256');
  let fh: FileHandle | undefined = await open(tmp, 'wx', 0o644);
  try {
    for await (const chunk of source.chunks()) {
      sha.update(chunk);
      await writeFully(fh, chunk);
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (err) {
    if (fh) await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  return sha.digest('hex');
}
