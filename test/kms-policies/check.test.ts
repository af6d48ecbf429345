import { describe, it, expect } from 'vitest';
import { checkKeyPolicy, formatPolicyCheck, generateKeyPolicy, KmsPolicyError, type KeyPolicyStatement } from '../../kms-policies/index.js';
import { ACCOUNT, ADMIN_ARN, ROLE_ARN, measurementsFor, oneByteOff } from './fixtures.js';

const m = measurementsFor('image-a');
const root = `arn:aws:iam::${ACCOUNT}:root`;
const pinned = {
  'kms:RecipientAttestation:ImageSha384': m.PCR0,
  'kms:RecipientAttestation:PCR1': m.PCR1,
  'kms:RecipientAttestation:PCR2': m.PCR2,
};
const attestedAllow: KeyPolicyStatement = {
  Sid: 'EnclaveDecrypt',
  Effect: 'Allow',
  Principal: { AWS: ROLE_ARN },
  Action: 'kms:Decrypt',
  Resource: '*',
  Condition: { StringEqualsIgnoreCase: pinned },
};
const awsDefaultAdmin: KeyPolicyStatement = { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: root }, Action: 'kms:*', Resource: '*' };
const policy = (...Statement: KeyPolicyStatement[]) => ({ Version: '2012-10-17', Statement });
const codes = (r: ReturnType<typeof checkKeyPolicy>) => r.findings.map((f) => `${f.severity}:${f.code}`);

describe('checkKeyPolicy', () => {
  it('passes a generated source policy: the image decrypts and no bypass exists', () => {
    const r = checkKeyPolicy(generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source' }), m, ROLE_ARN, { admins: [ADMIN_ARN] });
    expect(r.ok).toBe(true);
    expect(codes(r)).toContain('note:KEY_ADMINISTRATORS');
    expect(r.attestedDecrypt.allowed).toBe(true);
    expect(r.findings.filter((f) => f.severity !== 'note')).toEqual([]);
    expect(r.statements.find((s) => s.sid === 'EnclaveDecryptsOnlyWithAttestation')!.applies).toBe(true);
    expect(r.statements.find((s) => s.sid === 'KeyAdministratorsWithoutCryptographicUse')!.reason).toMatch(/not named|not covered/);
  });

  it('warns about the standard "kms:*" account-root statement: IAM can grant Decrypt without attestation', () => {
    const r = checkKeyPolicy(policy(awsDefaultAdmin, attestedAllow), m, ROLE_ARN);
    expect(r.attestedDecrypt.allowed).toBe(true);
    expect(codes(r)).toContain('warning:DECRYPT_WITHOUT_ATTESTATION_VIA_IAM');
    expect(codes(r)).toContain('note:ACCOUNT_ROOT_DELEGATES_TO_IAM');
    expect(r.findings.find((f) => f.code === 'DECRYPT_WITHOUT_ATTESTATION_VIA_IAM')!.statements).toEqual([0]);
    expect(r.ok).toBe(false);
  });

  it('flags a statement letting the enclave role Decrypt without conditions as an error', () => {
    const r = checkKeyPolicy(
      policy(attestedAllow, { Sid: 'Oops', Effect: 'Allow', Principal: { AWS: ROLE_ARN }, Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: '*' }),
      m,
      ROLE_ARN,
    );
    const f = r.findings.find((x) => x.code === 'DECRYPT_WITHOUT_ATTESTATION')!;
    expect(f.severity).toBe('error');
    expect(f.statements).toEqual([1]);
    expect(f.message).toContain('"Oops"');
    expect(r.ok).toBe(false);
  });

  it('flags a wildcard principal that can Decrypt', () => {
    const r = checkKeyPolicy(policy(attestedAllow, { Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*' }), m, ROLE_ARN);
    expect(codes(r)).toEqual(expect.arrayContaining(['error:DECRYPT_WITHOUT_ATTESTATION', 'error:ANYONE_CAN_DECRYPT']));
  });

  it('reports a policy pinned to another image as denying the attested Decrypt', () => {
    const other = measurementsFor('image-b');
    const r = checkKeyPolicy(generateKeyPolicy({ measurements: other, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source' }), m, ROLE_ARN);
    expect(r.attestedDecrypt.allowed).toBe(false);
    expect(r.attestedDecrypt.decision).toBe('explicit-deny');
    expect(codes(r)).toContain('error:ATTESTED_DECRYPT_DENIED');
    expect(r.ok).toBe(false);
  });

  it('reports a loose condition that also admits other images', () => {
    const loose: KeyPolicyStatement = { ...attestedAllow, Condition: { StringLike: { 'kms:RecipientAttestation:ImageSha384': '*' } } };
    const r = checkKeyPolicy(policy(loose), m, ROLE_ARN);
    expect(codes(r)).toContain('error:OTHER_IMAGE_ALLOWED');
    expect(r.ok).toBe(false);
  });

  it('notes an unconditioned Allow that explicit Denies neutralise', () => {
    const generated = generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source' });
    const withHole = { ...generated, Statement: [...(generated.Statement as KeyPolicyStatement[]), { Sid: 'Hole', Effect: 'Allow' as const, Principal: { AWS: ROLE_ARN }, Action: 'kms:Decrypt', Resource: '*' }] };
    const r = checkKeyPolicy(withHole, m, ROLE_ARN, { admins: [ADMIN_ARN] });
    expect(codes(r)).toContain('note:BYPASS_BLOCKED_BY_DENY');
    expect(r.ok).toBe(true);
  });

  it('warns when grants are allowed, and when only IAM could let the role decrypt', () => {
    const r = checkKeyPolicy(
      policy(
        { Effect: 'Allow', Principal: { AWS: root }, Action: 'kms:Decrypt', Resource: '*', Condition: { StringEqualsIgnoreCase: pinned } },
        { Effect: 'Allow', Principal: { AWS: root }, Action: 'kms:CreateGrant', Resource: '*' },
      ),
      m,
      ROLE_ARN,
    );
    expect(codes(r)).toEqual(expect.arrayContaining(['warning:ATTESTED_DECRYPT_NEEDS_IAM', 'warning:GRANTS_ALLOWED']));
    expect(r.attestedDecrypt.allowed).toBe(false);
  });

  it('flags every principal that may rewrite the policy (PutKeyPolicy) unless accepted with --admin-arn', () => {
    const named = generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source' });
    const unaccepted = checkKeyPolicy(named, m, ROLE_ARN);
    expect(unaccepted.ok).toBe(false);
    const f = unaccepted.findings.find((x) => x.code === 'POLICY_REWRITE_ALLOWED')!;
    expect(f).toMatchObject({ severity: 'warning', statements: [0] });
    expect(f.message).toContain(`lets ${ADMIN_ARN} call kms:PutKeyPolicy: it can rewrite this policy and decrypt without attestation`);
    expect(f.message).toContain(`--admin-arn ${ADMIN_ARN}`);

    // Root-account delegation: any IAM principal allowed PutKeyPolicy. Flagged unless the root is named.
    const rooted = generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: 'account-root', purpose: 'source' });
    const viaIam = checkKeyPolicy(rooted, m, ROLE_ARN, { admins: [ADMIN_ARN] });
    expect(viaIam.ok).toBe(false);
    expect(viaIam.findings.find((x) => x.code === 'POLICY_REWRITE_ALLOWED')!.message).toContain(
      `the account root (any IAM principal of account ${ACCOUNT} whose IAM policy allows kms:PutKeyPolicy)`,
    );
    expect(checkKeyPolicy(rooted, m, ROLE_ARN, { admins: [root] }).ok).toBe(true);
  });

  it('PutKeyPolicy for anyone or for the enclave role, and ReEncryptFrom for anyone, are errors', () => {
    const anyone = checkKeyPolicy(policy(attestedAllow, { Sid: 'Open', Effect: 'Allow', Principal: '*', Action: 'kms:PutKeyPolicy', Resource: '*' }), m, ROLE_ARN);
    expect(codes(anyone)).toContain('error:POLICY_REWRITE_ALLOWED');
    const enclave = checkKeyPolicy(policy(attestedAllow, { Effect: 'Allow', Principal: { AWS: ROLE_ARN }, Action: ['kms:DescribeKey', 'kms:PutKeyPolicy'], Resource: '*' }), m, ROLE_ARN, { admins: [ADMIN_ARN] });
    expect(codes(enclave)).toContain('error:POLICY_REWRITE_ALLOWED');
    const reencrypt = checkKeyPolicy(policy(attestedAllow, { Sid: 'Move', Effect: 'Allow', Principal: { AWS: ADMIN_ARN }, Action: 'kms:ReEncrypt*', Resource: '*' }), m, ROLE_ARN, { admins: [ADMIN_ARN] });
    const f = reencrypt.findings.find((x) => x.code === 'REENCRYPT_WITHOUT_ATTESTATION')!;
    expect(f).toMatchObject({ severity: 'error', statements: [1] });
    expect(f.message).toContain('"Move"');
    expect(reencrypt.ok).toBe(false);
    // An accepted administrator does not make ReEncryptFrom acceptable, and a PutKeyPolicy Deny closes the path.
    const denied = checkKeyPolicy(
      policy(attestedAllow, { Effect: 'Allow', Principal: { AWS: root }, Action: 'kms:PutKeyPolicy', Resource: '*' }, { Effect: 'Deny', Principal: '*', Action: 'kms:PutKeyPolicy', Resource: '*' }),
      m,
      ROLE_ARN,
    );
    expect(codes(denied)).not.toContain('warning:POLICY_REWRITE_ALLOWED');
  });

  it('notes PCRs the measurements cannot supply (PCR4) and assumes the pinned value', () => {
    const p = generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source', pcrs: [0, 4], instanceId: 'i-0123456789abcdef0' });
    const r = checkKeyPolicy(p, m, ROLE_ARN);
    expect(codes(r)).toContain('note:PCR_NOT_IN_MEASUREMENTS');
    expect(r.attestedDecrypt.allowed).toBe(true);
  });

  it('formats a readable report naming each statement', () => {
    const r = checkKeyPolicy(policy(awsDefaultAdmin, attestedAllow), m, ROLE_ARN);
    const text = formatPolicyCheck(r);
    expect(text).toContain('from the measured image: ALLOWED');
    expect(text).toContain('statement #1 "EnclaveDecrypt" [Allow] applies');
    expect(text).toContain('WARNING [DECRYPT_WITHOUT_ATTESTATION_VIA_IAM]');
    expect(text).toContain('Result: NOT OK');
  });

  it('refuses a bad role ARN and an invalid policy', () => {
    expect(() => checkKeyPolicy(policy(attestedAllow), m, 'enclave')).toThrow(KmsPolicyError);
    expect(() => checkKeyPolicy({ Statement: 'x' }, m, ROLE_ARN)).toThrow(KmsPolicyError);
  });

  it('uses a one-byte-different PCR0 for the other-image probe (sanity of the fixture)', () => {
    expect(oneByteOff(m.PCR0)).not.toBe(m.PCR0);
    expect(oneByteOff(m.PCR0)).toHaveLength(96);
  });
});
