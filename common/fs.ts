/** File-system helpers: atomic writes so that no reader ever sees a partial file. */
import { open, rename, unlink, mkdir } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AttestedPackError } from './errors.js';

/**
 * Writes `data` to `path` atomically: temp file in the same directory, fsync, rename, fsync of
 * the directory. On any failure the temp file is removed and the target is left untouched.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle;
  try {
    handle = await open(tmp, 'wx', options.mode ?? 0o644);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, path);
  } catch (err) {
    if (handle) await handle.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic.
  }
}

/** A file the user asked for could not be written (disk full, permissions, size limit). */
export class OutputError extends AttestedPackError {
  static override defaultCategory = 'unavailable' as const;
}

async function stage(path: string, data: string | Uint8Array, mode: number): Promise<string> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle;
  try {
    handle = await open(tmp, 'wx', mode);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    return tmp;
  } catch (err) {
    if (handle) await handle.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/**
 * Writes several files as one unit as far as a file system allows: every file is first written
 * and synced to a temporary name beside its target; only when all of them are on disk are they
 * renamed into place. If any write fails, no target changes and no temporary file is left.
 * Failures are OutputError naming the file.
 */
export async function writeFilesAtomic(files: ReadonlyArray<{ path: string; data: string | Uint8Array; mode?: number }>): Promise<void> {
  const staged: Array<{ tmp: string; path: string }> = [];
  try {
    for (const f of files) {
      try {
        staged.push({ tmp: await stage(f.path, f.data, f.mode ?? 0o644), path: f.path });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        throw new OutputError('OUTPUT_WRITE_FAILED', `could not write ${f.path} (${code})`, {
          hint: code === 'ENOSPC' || code === 'EFBIG' || code === 'EDQUOT' ? 'free some disk space (or raise the file size limit) and run again' : 'check that the directory exists and is writable',
          details: { path: f.path, errno: code },
          cause: err,
        });
      }
    }
    while (staged.length > 0) {
      const s = staged[0]!;
      try {
        await rename(s.tmp, s.path);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        throw new OutputError('OUTPUT_WRITE_FAILED', `could not move ${s.path} into place (${code})`, {
          hint: 'check that the target is not a directory and that its directory is writable',
          details: { path: s.path, errno: code },
          cause: err,
        });
      }
      staged.shift();
    }
  } finally {
    for (const s of staged) await unlink(s.tmp).catch(() => undefined);
  }
}
