/**
 * One simulation per state directory: a lock file holding the owner's pid, so a second `sim` on
 * the same directory stops with a clear message instead of ending the first one's enclave
 * (which it would otherwise take for a leftover) or sharing its KMS state file.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { SimError } from './errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock (replacing one left by a process that no longer exists); resolves to its release. */
export async function lockStateDir(lockPath: string, stateDir: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockPath, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        await rm(lockPath, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(owner) && owner > 0 && alive(owner)) {
      throw new SimError('SIM_STATE_BUSY', `another attested-pack sim (pid ${owner}) is using ${stateDir}`, {
        hint: `stop it (Ctrl-C), or pass another --state DIR; if no sim is running, delete ${lockPath}`,
      });
    }
    await rm(lockPath, { force: true });
  }
  throw new SimError('SIM_STATE_BUSY', `could not lock ${stateDir}`, { hint: `delete ${lockPath} if no sim is running` });
}
