import { describe, it, expect, beforeAll, afterAll, afterEach, vi } from 'vitest';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ACCOUNT, ADMIN_ARN, ROLE_ARN, RUNTIME_ROLE, measurementsFor } from './fixtures.js';
import { runAttestedPack } from '../cli/in-process.js';

let dir: string;
const m = measurementsFor('image-a');

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'kms-policy-cli-'));
  await writeFile(path.join(dir, 'measurements.json'), JSON.stringify(m));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  process.exitCode = undefined;
  vi.restoreAllMocks();
});

/** Runs `attested-pack <args>` in-process: the real command tree. */
const run = runAttestedPack;

const measurements = () => path.join(dir, 'measurements.json');

describe('attested-pack kms-policy generate', () => {
  it('prints a JSON policy pinned to the measurements', async () => {
    const r = await run('kms-policy', 'generate', '--measurements', measurements(), '--role-arn', ROLE_ARN, '--admin-arn', ADMIN_ARN, '--purpose', 'source');
    expect(r.code).toBe(0);
    const p = JSON.parse(r.stdout);
    expect(JSON.stringify(p)).toContain(m.PCR0);
    expect(p.Statement[1].Condition.StringEqualsIgnoreCase['kms:RecipientAttestation:ImageSha384']).toBe(m.PCR0);
  });

  it('writes terraform to --out and cloudformation with --json', async () => {
    const out = path.join(dir, 'wrap.tf');
    const r = await run(
      'kms-policy', 'generate', '--measurements', measurements(), '--role-arn', ROLE_ARN, '--admin-arn', ADMIN_ARN, '--purpose', 'wrap',
      '--runtime-role', RUNTIME_ROLE, '--format', 'terraform', '--out', out,
    );
    expect(r.code).toBe(0);
    expect(await readFile(out, 'utf8')).toContain('resource "aws_kms_key" "attested_pack_wrap"');
    const j = await run('kms-policy', 'generate', '--measurements', measurements(), '--role-arn', ROLE_ARN, '--admin-arn', ADMIN_ARN, '--purpose', 'sign', '--format', 'cloudformation', '--json');
    expect(j.code).toBe(0);
    const env = JSON.parse(j.stdout);
    expect(env.ok).toBe(true);
    expect(JSON.parse(env.output).Resources.AttestedPackSignKey.Type).toBe('AWS::KMS::Key');
  });

  it('exits 2 on a bad purpose, format, PCR list or measurements file', async () => {
    const base = ['kms-policy', 'generate', '--measurements', measurements(), '--role-arn', ROLE_ARN, '--admin-arn', ADMIN_ARN];
    expect((await run(...base, '--purpose', 'steal')).code).toBe(2);
    expect((await run(...base, '--purpose', 'source', '--format', 'yaml')).code).toBe(2);
    const badPcrs = await run(...base, '--purpose', 'source', '--pcrs', '0,x');
    expect(badPcrs.code).toBe(2);
    expect(badPcrs.stderr).toContain('--pcrs');
    const noPcr0 = await run(...base, '--purpose', 'source', '--pcrs', '1,2');
    expect(noPcr0.code).toBe(2);
    expect(noPcr0.stderr).toContain('KMS_POLICY_BAD_OPTIONS');
    await writeFile(path.join(dir, 'bad.json'), '{"PCR0": "zz"}');
    const bad = await run('kms-policy', 'generate', '--measurements', path.join(dir, 'bad.json'), '--role-arn', ROLE_ARN, '--admin-arn', ADMIN_ARN, '--purpose', 'source');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('MEASUREMENTS_INVALID');
    const missing = await run('kms-policy', 'generate', '--measurements', path.join(dir, 'nope.json'), '--role-arn', ROLE_ARN, '--admin-arn', ADMIN_ARN, '--purpose', 'source');
    expect(missing.code).toBe(2);
    expect((await run('kms-policy', 'generate', '--role-arn', ROLE_ARN, '--admin-arn', ADMIN_ARN, '--purpose', 'source')).code).toBe(2);
  });
});

describe('key administrators (PutKeyPolicy is a path to Decrypt without attestation)', () => {
  it('generate requires --admin-arn or an explicit --account-root-admin (exit 2 naming them)', async () => {
    const base = ['kms-policy', 'generate', '--measurements', measurements(), '--role-arn', ROLE_ARN, '--purpose', 'source'];
    const none = await run(...base);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^error \[USAGE\]: name who administers the key: --admin-arn ARN \(repeatable\), or --account-root-admin$/m);
    expect((await run(...base, '--admin-arn', ADMIN_ARN, '--account-root-admin')).code).toBe(2);
    const enclaveAdmin = await run(...base, '--admin-arn', ROLE_ARN);
    expect(enclaveAdmin.code).toBe(2);
    expect(enclaveAdmin.stderr).toContain('the enclave role must not administer the key');
    const named = JSON.parse((await run(...base, '--admin-arn', ADMIN_ARN)).stdout) as { Statement: Array<{ Principal: unknown }> };
    expect(named.Statement[0]!.Principal).toEqual({ AWS: ADMIN_ARN });
  });

  it('check flags the account-root admin statement (any IAM principal allowed PutKeyPolicy) until the root is accepted by name', async () => {
    const g = await run('kms-policy', 'generate', '--measurements', measurements(), '--role-arn', ROLE_ARN, '--account-root-admin', '--purpose', 'source');
    expect(g.code).toBe(0);
    await writeFile(path.join(dir, 'root-admin.json'), g.stdout);
    const args = ['kms-policy', 'check', '--policy', path.join(dir, 'root-admin.json'), '--measurements', measurements(), '--role-arn', ROLE_ARN];
    const flagged = await run(...args, '--json');
    expect(flagged.code).toBe(1);
    const report = JSON.parse(flagged.stdout) as { ok: boolean; attestedDecrypt: { allowed: boolean }; findings: Array<{ severity: string; code: string; message: string }> };
    expect(report.attestedDecrypt.allowed).toBe(true);
    expect(report.findings).toContainEqual(expect.objectContaining({ severity: 'warning', code: 'POLICY_REWRITE_ALLOWED' }));
    expect((await run(...args, '--admin-arn', ADMIN_ARN)).code).toBe(1);
    const accepted = await run(...args, '--admin-arn', `arn:aws:iam::${ACCOUNT}:root`);
    expect(accepted.code).toBe(0);
    expect(accepted.stdout).toContain('NOTE [KEY_ADMINISTRATORS]');
  });
});

describe('attested-pack kms-policy check', () => {
  it('exits 0 for a generated policy and explains the statements', async () => {
    const g = await run('kms-policy', 'generate', '--measurements', measurements(), '--role-arn', ROLE_ARN, '--admin-arn', ADMIN_ARN, '--purpose', 'source');
    await writeFile(path.join(dir, 'source.json'), g.stdout);
    const r = await run('kms-policy', 'check', '--policy', path.join(dir, 'source.json'), '--measurements', measurements(), '--role-arn', ROLE_ARN, '--admin-arn', ADMIN_ARN);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ALLOWED');
    expect(r.stdout).toContain('"EnclaveDecryptsOnlyWithAttestation" [Allow] applies');
  });

  it('exits 1 with a JSON report naming the bypass statement', async () => {
    const policy = {
      Version: '2012-10-17',
      Statement: [{ Sid: 'Bypass', Effect: 'Allow', Principal: { AWS: ROLE_ARN }, Action: 'kms:Decrypt', Resource: '*' }],
    };
    await writeFile(path.join(dir, 'bypass.json'), JSON.stringify(policy));
    const r = await run('kms-policy', 'check', '--policy', path.join(dir, 'bypass.json'), '--measurements', measurements(), '--role-arn', ROLE_ARN, '--json');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(false);
    expect(report.findings[0]).toMatchObject({ severity: 'error', code: 'DECRYPT_WITHOUT_ATTESTATION', statements: [0] });
  });

  it('reads the KeyPolicy out of a CloudFormation template', async () => {
    const g = await run('kms-policy', 'generate', '--measurements', measurements(), '--role-arn', ROLE_ARN, '--admin-arn', ADMIN_ARN, '--purpose', 'seal', '--format', 'cloudformation');
    await writeFile(path.join(dir, 'seal.cfn.json'), g.stdout);
    const r = await run('kms-policy', 'check', '--policy', path.join(dir, 'seal.cfn.json'), '--measurements', measurements(), '--role-arn', ROLE_ARN, '--admin-arn', ADMIN_ARN, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).attestedDecrypt.allowed).toBe(true);
  });

  it('exits 2 on a policy file that is not JSON or not a policy', async () => {
    await writeFile(path.join(dir, 'junk.json'), 'resource "x" {}');
    const junk = await run('kms-policy', 'check', '--policy', path.join(dir, 'junk.json'), '--measurements', measurements(), '--role-arn', ROLE_ARN);
    expect(junk.code).toBe(2);
    await writeFile(path.join(dir, 'notpolicy.json'), '{"Statement": [{"Effect": "Allow"}]}');
    const np = await run('kms-policy', 'check', '--policy', path.join(dir, 'notpolicy.json'), '--measurements', measurements(), '--role-arn', ROLE_ARN, '--json');
    expect(np.code).toBe(2);
    expect(JSON.parse(np.stdout).error.code).toBe('KMS_POLICY_INVALID');
  });
});
