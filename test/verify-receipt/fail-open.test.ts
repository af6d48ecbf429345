/**
 * Regressions for fail-open paths a review found: expectations that do not pin the image, a
 * commit named by a tag, and age recipients slipping past --expect-key. Each exits non-zero now.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { makePackFixture, SEAL_KEY, SOURCE_KEY, type PackFixture } from './helpers/pack-fixture.js';
import { runCli, runCliJson, statusOf } from './helpers/run-cli.js';

let f: PackFixture;

beforeAll(async () => {
  f = await makePackFixture();
});
afterAll(async () => {
  await f.cleanup();
});

describe('verify-receipt refuses expectations that do not pin the enclave image', () => {
  it('--pcrN without --pcr0 is a usage error (exit 2)', async () => {
    const r = await runCli([f.paths.receipt, '--root', f.paths.root, '--pcr1', f.pcrs[1], '--pcr2', f.pcrs[2]]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--pcr0');
  });

  it('a key policy whose only attestation condition is PCR3 pins nothing (exit 2)', async () => {
    const policy = {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'RoleOnly',
          Effect: 'Allow',
          Principal: { AWS: 'arn:aws:iam::111111111111:role/parent' },
          Action: 'kms:Decrypt',
          Resource: '*',
          Condition: { StringEqualsIgnoreCase: { 'kms:RecipientAttestation:PCR3': '00'.repeat(48) } },
        },
      ],
    };
    const path = join(f.dir, 'pcr3-only-policy.json');
    await writeFile(path, JSON.stringify(policy));
    const r = await runCli([f.paths.receipt, '--root', f.paths.root, '--policy', path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('pins no enclave image');
  });
});

describe('verify-receipt check 7 does not let a tag stand in for the commit', () => {
  it('--commit with a tag named like the abbreviated commit fails', async () => {
    const fake = randomBytes(4).toString('hex').slice(0, 7);
    execFileSync('git', ['tag', fake, f.commit], { cwd: f.repoDir });
    const { code, report } = await runCliJson(f.cliArgs(undefined, ['--commit', fake]));
    expect(f.commit.startsWith(fake)).toBe(false);
    expect(code).toBe(1);
    expect(statusOf(report, 7)).toBe('fail');
  });
});

describe('verify-receipt check 8 counts age recipients with --expect-key', () => {
  it('an age envelope not in --expect-key fails check 8', async () => {
    const claims = structuredClone(f.claims);
    claims.keys.wrap = null;
    claims.keys.ageRecipients = ['age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj'];
    const receiptPath = await f.writeReceipt(await f.attestClaims(claims), 'age-envelope.json');
    const { code, report } = await runCliJson([
      receiptPath,
      '--root',
      f.paths.root,
      '--measurements',
      f.paths.measurements,
      '--expect-key',
      SOURCE_KEY,
      '--expect-key',
      SEAL_KEY,
      '--partial',
    ]);
    expect(code).toBe(1);
    expect(statusOf(report, 8)).toBe('fail');
    expect(JSON.stringify(report.checks[7])).toContain('age recipient');
  });
});
