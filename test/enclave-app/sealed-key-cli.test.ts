/**
 * `attested-pack sealed-key create` as an operator runs it (the built CLI, spawned): a key named
 * the ways AWS accepts for Encrypt (alias/NAME with a region, alias ARN, key ARN) against the
 * real SDK and the KMS simulator; without credentials it says how to provide them; a key name
 * without a region says where the region comes from.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateAliasCommand, CreateKeyCommand } from '@aws-sdk/client-kms';
import { ACCOUNT, CREDS, startTestSim, type TestSim } from '../simulator/kms/helpers.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let dir: string;
let t: TestSim;
let keyArn: string;

/** An environment with no AWS credentials anywhere the SDK's default chain looks (and no IMDS). */
function bareEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: dir,
    AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...extra,
  };
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/attested-pack.mjs', 'sealed-key', 'create', ...args], { cwd: repoRoot, env }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const adminEnv = (): NodeJS.ProcessEnv => bareEnv({ AWS_ACCESS_KEY_ID: CREDS.admin.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDS.admin.secretAccessKey });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ap-sealed-key-cli-'));
  t = await startTestSim();
  const admin = t.client('admin');
  keyArn = (await admin.send(new CreateKeyCommand({ Description: 'seal' }))).KeyMetadata!.Arn!;
  await admin.send(new CreateAliasCommand({ AliasName: 'alias/attested-pack/seal', TargetKeyId: keyArn }));
});

afterAll(async () => {
  await t.close();
  await rm(dir, { recursive: true, force: true });
});

describe('sealed-key create', () => {
  it.each([
    ['alias name + --region', ['--kms-key', 'alias/attested-pack/seal', '--region', 'us-east-1']],
    ['alias name + AWS_REGION', ['--kms-key', 'alias/attested-pack/seal'], { AWS_REGION: 'us-east-1' }],
    ['alias ARN', ['--kms-key', `arn:aws:kms:us-east-1:${ACCOUNT}:alias/attested-pack/seal`]],
    ['key ARN', ['--kms-key', 'KEY_ARN']],
  ] as Array<[string, string[], Record<string, string>?]>)('seals under the key named by %s', async (name, args, extraEnv) => {
    const out = join(dir, `${name.replace(/\W+/g, '-')}.json`);
    const r = await run([...args.map((a) => (a === 'KEY_ARN' ? keyArn : a)), '--kms-endpoint', t.sim.endpoint, '-o', out, '--json'], { ...adminEnv(), ...extraEnv });
    expect(r.code, r.stderr).toBe(0);
    const sealed = JSON.parse(await readFile(out, 'utf8')) as { kmsKeyId: string; publicKey: string };
    // KMS answers Encrypt with the key ARN, whichever form named the key.
    expect(sealed.kmsKeyId).toBe(keyArn);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, out, kmsKeyId: keyArn, verifyKey: sealed.publicKey });
  });

  it('without AWS credentials: exit 2, KMS_NO_CREDENTIALS, and a hint naming how to provide them; nothing written', async () => {
    const out = join(dir, 'no-creds.json');
    const r = await run(['--kms-key', `arn:aws:kms:us-east-1:${ACCOUNT}:alias/attested-pack/seal`, '--kms-endpoint', t.sim.endpoint, '-o', out], bareEnv());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error \[KMS_NO_CREDENTIALS\]: no AWS credentials to sign KMS Encrypt with arn:aws:kms:us-east-1:111122223333:alias\/attested-pack\/seal$/m);
    expect(r.stderr).toMatch(/^hint: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY .*AWS_PROFILE.*instance role/m);
    expect(existsSync(out)).toBe(false);
  });

  it('an alias name without a region, or a key name KMS would not accept: exit 2 with what to pass', async () => {
    const noRegion = await run(['--kms-key', 'alias/attested-pack/seal', '--kms-endpoint', t.sim.endpoint, '-o', join(dir, 'x.json')], adminEnv());
    expect(noRegion.code).toBe(2);
    expect(noRegion.stderr).toContain('error [USAGE]: --kms-key alias/attested-pack/seal names no region');
    expect(noRegion.stderr).toContain('hint: pass --region REGION (or set AWS_REGION)');
    const bad = await run(['--kms-key', 'seal-key', '--region', 'us-east-1'], adminEnv());
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a KMS key ID, key ARN, alias/NAME or alias ARN');
    const contradicting = await run(['--kms-key', keyArn, '--region', 'eu-west-1'], adminEnv());
    expect(contradicting.code).toBe(2);
    expect(contradicting.stderr).toContain('contradicts the region of --kms-key (us-east-1)');
  });
});
