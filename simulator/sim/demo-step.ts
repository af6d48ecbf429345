/**
 * Step 4's surroundings: the demo repository written through the administrator's KMS Encrypt
 * (what a SOPS author does), the `worker` identity's age key kept in the state directory so the
 * manifest stays the same between runs, and plain words when git is missing or refuses.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EncryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { isAttestedPackError } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/fs.js';
import { ensureDemoRepo, type DemoRepo } from '../demo-repo.js';
import type { SimKeyArns } from '../keys.js';
import { SimError } from './errors.js';

/** Writes (or reuses) the demo repository; `reused` when HEAD did not move. */
export async function writeDemoRepo(o: { dir: string; ageIdentityPath: string; keys: SimKeyArns; operator: KMSClient }): Promise<{ repo: DemoRepo; reused: boolean }> {
  const before = existsSync(join(o.dir, '.git')) ? await headOf(o.dir) : undefined;
  const ageIdentity = await ageIdentityFor(o.ageIdentityPath);
  const repo = await ensureDemoRepo({
    dir: o.dir,
    sourceKeyArn: o.keys.source,
    wrapKeyArn: o.keys.wrap,
    ageRecipient: await identityToRecipient(ageIdentity),
    kmsWrap: async (req) => {
      const out = await o.operator.send(new EncryptCommand({ KeyId: req.arn, Plaintext: req.plaintext, ...(req.context ? { EncryptionContext: req.context } : {}) }));
      return Buffer.from(out.CiphertextBlob!).toString('base64');
    },
  }).catch((err: unknown) => {
    throw isAttestedPackError(err) ? err : gitFailure(err, o.dir);
  });
  return { repo, reused: before !== undefined && before === repo.commit };
}

/** The age identity of the demo's `worker` service identity (0600), created once. */
export async function ageIdentityFor(path: string): Promise<string> {
  const existing = (await readFile(path, 'utf8').catch(() => '')).trim();
  if (existing.startsWith('AGE-SECRET-KEY-1')) return existing;
  const identity = await generateIdentity();
  await writeFileAtomic(path, `${identity}\n`, { mode: 0o600 });
  return identity;
}

/** ensureDemoRepo runs git; say plainly when git is missing or refuses. */
function gitFailure(err: unknown, dir: string): SimError {
  const e = err as NodeJS.ErrnoException & { stderr?: unknown };
  if (e.code === 'ENOENT') {
    return new SimError('SIM_CHECK_FAILED', 'git is not installed: the demo repository is committed with git (the receipt names its commit)', {
      category: 'input',
      hint: 'install git and run again',
      cause: err,
    });
  }
  const detail = typeof e.stderr === 'string' ? e.stderr.split('\n').find((l) => l.trim() !== '')?.trim().slice(0, 200) : undefined;
  return new SimError('SIM_CHECK_FAILED', `writing the demo repository in ${dir} failed${detail ? `: ${detail}` : ''}`, {
    hint: `delete ${dir} and run again (it is recreated from the simulator's keys)`,
    cause: err,
  });
}

function headOf(dir: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('git', ['rev-parse', 'HEAD'], { cwd: dir }, (err, stdout) => resolve(err ? undefined : stdout.trim()));
  });
}
