import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import {
  generateKeyPolicy,
  checkKeyPolicy,
  renderKeyPolicy,
  evaluatePolicy,
  pcrConditionsFromPolicy,
  KmsPolicyError,
  KEY_ADMIN_ACTIONS,
  type KeyPolicyStatement,
  type RequestContext,
} from '../../kms-policies/index.js';
import { ACCOUNT, ADMIN_ARN, KEY_ARN, ROLE_ARN, ROLE_SESSION, RUNTIME_ROLE, measurementsFor, oneByteOff } from './fixtures.js';

const m = measurementsFor('image-a', true);
const statements = (p: { Statement: KeyPolicyStatement | KeyPolicyStatement[] }) => (Array.isArray(p.Statement) ? p.Statement : [p.Statement]);
const decrypt = (pcrs: Record<number, string> | undefined, over: Partial<RequestContext> = {}): RequestContext => ({
  action: 'kms:Decrypt',
  resource: KEY_ARN,
  principal: { arn: ROLE_SESSION, accountId: ACCOUNT },
  ...(pcrs ? { recipientAttestation: { pcrs } } : {}),
  ...over,
});
/** PCR3 of the role, computed independently of the code under test (UG recipe). */
const pcr3 = createHash('sha384').update(Buffer.concat([Buffer.alloc(48), Buffer.from(ROLE_ARN)])).digest('hex');
const image = { 0: m.PCR0, 1: m.PCR1, 2: m.PCR2, 3: pcr3, 4: '11'.repeat(48), 8: m.PCR8! };

describe('generateKeyPolicy: source and seal keys', () => {
  for (const purpose of ['source', 'seal'] as const) {
    it(`${purpose}: lets the measured image decrypt and refuses an image one byte different in any pinned PCR`, () => {
      const p = generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose });
      expect(evaluatePolicy(p, decrypt(image)).allowed).toBe(true);
      for (const i of [0, 1, 2, 8] as const) {
        const d = evaluatePolicy(p, decrypt({ ...image, [i]: oneByteOff(image[i]) }));
        expect(d.allowed, `PCR${i}`).toBe(false);
        expect(d.decision).toBe('explicit-deny');
      }
    });
  }

  it('pins ImageSha384 and PCR1/2/8 with StringEqualsIgnoreCase for the enclave role only', () => {
    const p = generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source' });
    const allow = statements(p).find((s) => s.Effect === 'Allow' && s.Action === 'kms:Decrypt')!;
    expect(allow.Principal).toEqual({ AWS: ROLE_ARN });
    expect(allow.Condition).toEqual({
      StringEqualsIgnoreCase: {
        'kms:RecipientAttestation:ImageSha384': m.PCR0,
        'kms:RecipientAttestation:PCR1': m.PCR1,
        'kms:RecipientAttestation:PCR2': m.PCR2,
        'kms:RecipientAttestation:PCR8': m.PCR8,
      },
    });
    expect(statements(p).filter((s) => s.Effect === 'Deny')).toHaveLength(4);
  });

  it('refuses Decrypt without attestation even when IAM would grant it through the account root', () => {
    const p = generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source' });
    const plain = evaluatePolicy(p, decrypt(undefined, { principal: { arn: ROLE_SESSION, accountId: ACCOUNT, isAccountAdmin: true } }));
    expect(plain.decision).toBe('explicit-deny');
  });

  it('the admin statement allows key administration but no cryptographic use and no grants', () => {
    const p = generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source' });
    const admin = statements(p)[0]!;
    expect(admin).toMatchObject({ Sid: 'KeyAdministratorsWithoutCryptographicUse', Principal: { AWS: ADMIN_ARN } });
    const adminCtx = { principal: { arn: ADMIN_ARN, accountId: ACCOUNT } };
    for (const action of ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:ReEncryptFrom', 'kms:Sign', 'kms:CreateGrant']) {
      expect(evaluatePolicy(p, { ...decrypt(undefined, adminCtx), action }).allowed, action).toBe(false);
    }
    for (const action of ['kms:PutKeyPolicy', 'kms:DescribeKey', 'kms:ScheduleKeyDeletion', 'kms:EnableKey']) {
      expect(evaluatePolicy(p, { ...decrypt(undefined, adminCtx), action }).allowed, action).toBe(true);
    }
    expect(KEY_ADMIN_ACTIONS.some((a) => /decrypt|encrypt|sign|generate|grant$/i.test(a) && a !== 'kms:RevokeGrant')).toBe(false);
    // Another principal of the account (IAM delegation) administers nothing: only the named admin may.
    const iamUser = { principal: { arn: `arn:aws:iam::${ACCOUNT}:user/someone`, accountId: ACCOUNT, isAccountAdmin: true } };
    expect(evaluatePolicy(p, { ...decrypt(undefined, iamUser), action: 'kms:PutKeyPolicy' }).allowed).toBe(false);
  });

  it('names key administrators explicitly; the account root only on explicit opt-in; never the enclave role', () => {
    const twoAdmins = generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN, RUNTIME_ROLE], purpose: 'wrap' });
    expect(statements(twoAdmins)[0]!.Principal).toEqual({ AWS: [ADMIN_ARN, RUNTIME_ROLE] });
    const rootAdmin = generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: 'account-root', purpose: 'source' });
    expect(statements(rootAdmin)[0]).toMatchObject({ Sid: 'KeyAdministrationWithoutCryptographicUse', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` } });
    expect(() => generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [], purpose: 'source' })).toThrow(/--admin-arn ARN \(or opt in to the account root with --account-root-admin\)/);
    expect(() => generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ROLE_ARN], purpose: 'source' })).toThrow(/enclave role must not administer the key/);
    expect(() => generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: ['admin'], purpose: 'source' })).toThrow(/--admin-arn must be an IAM or STS ARN/);
  });

  it('pins PCR3 from the role ARN and PCR4 from --instance-id when asked', () => {
    const p = generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'seal', pcrs: [0, 3, 4], instanceId: 'i-1234567890abcdef0' });
    const pcr4 = createHash('sha384').update(Buffer.concat([Buffer.alloc(48), Buffer.from('i-1234567890abcdef0')])).digest('hex');
    expect(pcrConditionsFromPolicy(p)[0]!.pcrs).toEqual({ 0: [m.PCR0], 3: [pcr3], 4: [pcr4] });
    expect(evaluatePolicy(p, decrypt({ 0: m.PCR0, 3: pcr3, 4: pcr4 })).allowed).toBe(true);
    expect(evaluatePolicy(p, decrypt({ 0: m.PCR0, 3: oneByteOff(pcr3), 4: pcr4 })).allowed).toBe(false);
  });

  it('defaults to PCR0/1/2 for an unsigned image', () => {
    const unsigned = measurementsFor('image-b');
    const sets = pcrConditionsFromPolicy(generateKeyPolicy({ measurements: unsigned, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source' }));
    expect(Object.keys(sets[0]!.pcrs)).toEqual(['0', '1', '2']);
  });
});

describe('generateKeyPolicy: encryptors on source and seal keys', () => {
  const author = 'arn:aws:iam::111122223333:user/sops-author';
  it('may Encrypt but never Decrypt, and the policy still checks clean', () => {
    const p = generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source', encryptors: [author] });
    const who = { principal: { arn: author, accountId: ACCOUNT } };
    expect(evaluatePolicy(p, { ...decrypt(undefined, who), action: 'kms:Encrypt' }).allowed).toBe(true);
    expect(evaluatePolicy(p, decrypt(undefined, who)).allowed).toBe(false);
    expect(evaluatePolicy(p, decrypt(image, who)).allowed).toBe(false);
    expect(checkKeyPolicy(p, m, ROLE_ARN, { admins: [ADMIN_ARN] }).ok).toBe(true);
  });

  it('are refused on wrap and sign keys', () => {
    for (const purpose of ['wrap', 'sign'] as const) {
      expect(() => generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose, encryptors: [author] })).toThrow(KmsPolicyError);
    }
  });
});

describe('generateKeyPolicy: wrap and sign keys', () => {
  it('wrap: Encrypt for the enclave role, Decrypt for runtime roles only', () => {
    const p = generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'wrap', runtimeRoles: [RUNTIME_ROLE] });
    expect(evaluatePolicy(p, { ...decrypt(undefined), action: 'kms:Encrypt' }).allowed).toBe(true);
    expect(evaluatePolicy(p, decrypt(image)).allowed).toBe(false);
    const runtime = { principal: { arn: 'arn:aws:sts::111122223333:assumed-role/clef-runtime/pod', accountId: ACCOUNT } };
    expect(evaluatePolicy(p, decrypt(undefined, runtime)).allowed).toBe(true);
    expect(evaluatePolicy(p, { ...decrypt(undefined, runtime), action: 'kms:Encrypt' }).allowed).toBe(false);
  });

  it('sign: Sign and GetPublicKey for the enclave role; GetPublicKey/Verify for runtimes', () => {
    const p = generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'sign', runtimeRoles: [RUNTIME_ROLE] });
    for (const action of ['kms:Sign', 'kms:GetPublicKey']) expect(evaluatePolicy(p, { ...decrypt(undefined), action }).allowed).toBe(true);
    for (const action of ['kms:Decrypt', 'kms:Verify', 'kms:Encrypt']) expect(evaluatePolicy(p, { ...decrypt(undefined), action }).allowed).toBe(false);
    const runtime = { principal: { arn: RUNTIME_ROLE, accountId: ACCOUNT } };
    expect(evaluatePolicy(p, { ...decrypt(undefined, runtime), action: 'kms:Verify' }).allowed).toBe(true);
    expect(evaluatePolicy(p, { ...decrypt(undefined, runtime), action: 'kms:Sign' }).allowed).toBe(false);
  });
});

describe('generateKeyPolicy: refuses unusable options', () => {
  const cases: Array<[string, Parameters<typeof generateKeyPolicy>[0]]> = [
    ['a role that is not an ARN', { measurements: m, roleArn: 'attested-pack-enclave', admins: [ADMIN_ARN], purpose: 'source' }],
    ['PCRs without PCR0', { measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source', pcrs: [1, 2] }],
    ['duplicate PCRs', { measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source', pcrs: [0, 0] }],
    ['PCR8 for an unsigned image', { measurements: measurementsFor('u'), roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source', pcrs: [0, 8] }],
    ['PCR4 without an instance ID', { measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source', pcrs: [0, 4] }],
    ['PCR9 (unknown from measurements)', { measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source', pcrs: [0, 9] }],
    ['PCR 40', { measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source', pcrs: [0, 40] }],
    ['PCRs on a wrap key', { measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'wrap', pcrs: [0] }],
    ['PCRs on a sign key', { measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'sign', pcrs: [0] }],
    ['a bad runtime role', { measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'wrap', runtimeRoles: ['nope'] }],
    ['a bad account ID', { measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source', accountId: '12' }],
    ['an unknown purpose', { measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'other' as 'source' }],
  ];
  for (const [name, opts] of cases) {
    it(`rejects ${name}`, () => {
      expect(() => generateKeyPolicy(opts)).toThrow(KmsPolicyError);
      try {
        generateKeyPolicy(opts);
      } catch (e) {
        expect((e as KmsPolicyError).code).toBe('KMS_POLICY_BAD_OPTIONS');
      }
    });
  }
});

describe('renderKeyPolicy', () => {
  const p = generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source' });

  it('json is the policy itself', () => {
    expect(JSON.parse(renderKeyPolicy(p, 'source', 'json'))).toEqual(p);
  });

  it('cloudformation wraps the policy in an AWS::KMS::Key', () => {
    const t = JSON.parse(renderKeyPolicy(p, 'source', 'cloudformation'));
    const key = Object.values(t.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>)[0]!;
    expect(key.Type).toBe('AWS::KMS::Key');
    expect(key.Properties.KeyPolicy).toEqual(p);
    expect(key.Properties.KeySpec).toBe('SYMMETRIC_DEFAULT');
    const sign = JSON.parse(renderKeyPolicy(generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'sign' }), 'sign', 'cloudformation'));
    const signKey = Object.values(sign.Resources as Record<string, { Properties: Record<string, unknown> }>)[0]!;
    expect(signKey.Properties).toMatchObject({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' });
  });

  it('terraform declares an aws_kms_key whose jsonencode() body carries every statement and value', () => {
    const tf = renderKeyPolicy(p, 'source', 'terraform');
    expect(tf).toMatch(/^resource "aws_kms_key" "attested_pack_source" \{$/m);
    expect(tf).toContain('customer_master_key_spec = "SYMMETRIC_DEFAULT"');
    expect(tf).toContain('policy = jsonencode({');
    for (const s of statements(p)) expect(tf).toContain(`"Sid" = "${s.Sid}"`);
    expect(tf).toContain(`"kms:RecipientAttestation:ImageSha384" = "${m.PCR0}"`);
    // Braces and brackets balance (a cheap structural check without an HCL parser).
    const count = (c: string) => tf.split(c).length - 1;
    expect(count('{')).toBe(count('}'));
    expect(count('[')).toBe(count(']'));
  });

  it('terraform escapes template sequences in strings', () => {
    const odd = { Version: '2012-10-17', Statement: [{ Sid: 'a${b}%{c}', Effect: 'Allow' as const, Principal: '*' as const, Action: '*', Resource: '*' }] };
    const tf = renderKeyPolicy(odd, 'wrap', 'terraform');
    expect(tf).toContain('"a$${b}%%{c}"');
  });
});

describe('pcrConditionsFromPolicy', () => {
  it('returns the pinned PCRs of Allow statements only, lower-cased', () => {
    const p = generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source' });
    const sets = pcrConditionsFromPolicy(p);
    expect(sets).toHaveLength(1);
    expect(sets[0]!.pcrs).toEqual({ 0: [m.PCR0], 1: [m.PCR1], 2: [m.PCR2], 8: [m.PCR8] });
    expect(sets[0]!.principals).toEqual([ROLE_ARN]);
    expect(sets[0]!.actions).toEqual(['kms:Decrypt']);
  });

  it('ignores loose conditions (StringLike, IfExists, ForAllValues) that do not pin a measurement', () => {
    const loose = {
      Statement: [
        {
          Effect: 'Allow',
          Principal: '*',
          Action: 'kms:Decrypt',
          Resource: '*',
          Condition: {
            StringLike: { 'kms:RecipientAttestation:ImageSha384': '*' },
            StringEqualsIgnoreCaseIfExists: { 'kms:RecipientAttestation:PCR1': m.PCR1 },
          },
        },
        {
          Effect: 'Allow',
          Principal: '*',
          Action: 'kms:Decrypt',
          Resource: '*',
          Condition: { StringEquals: { 'kms:RecipientAttestation:PCR2': m.PCR2.toUpperCase(), 'kms:EncryptionContext:a': 'b' } },
        },
      ],
    };
    const sets = pcrConditionsFromPolicy(loose);
    expect(sets).toHaveLength(1);
    expect(sets[0]!.index).toBe(1);
    expect(sets[0]!.pcrs).toEqual({ 2: [m.PCR2] });
  });

  it('intersects ImageSha384 and PCR0 when both are present', () => {
    const other = oneByteOff(m.PCR0);
    const p = {
      Statement: [
        {
          Effect: 'Allow',
          Principal: '*',
          Action: 'kms:Decrypt',
          Resource: '*',
          Condition: {
            StringEqualsIgnoreCase: { 'kms:RecipientAttestation:ImageSha384': [m.PCR0, other] },
            StringEquals: { 'kms:RecipientAttestation:PCR0': m.PCR0 },
          },
        },
      ],
    };
    expect(pcrConditionsFromPolicy(p)[0]!.pcrs).toEqual({ 0: [m.PCR0] });
  });

  it('refuses an invalid policy', () => {
    expect(() => pcrConditionsFromPolicy('{')).toThrow(KmsPolicyError);
  });
});

describe('generateKeyPolicy: encryptors (SOPS authors, key sealers)', () => {
  const AUTHOR = `arn:aws:iam::${ACCOUNT}:role/sops-authors`;
  for (const purpose of ['source', 'seal'] as const) {
    it(`${purpose}: authors may Encrypt but never Decrypt, attested or not`, () => {
      const p = generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose, encryptors: [AUTHOR] });
      const author = { arn: AUTHOR, accountId: ACCOUNT };
      expect(evaluatePolicy(p, decrypt(undefined, { action: 'kms:Encrypt', principal: author })).allowed).toBe(true);
      expect(evaluatePolicy(p, decrypt(undefined, { principal: author })).allowed).toBe(false);
      expect(evaluatePolicy(p, decrypt(image, { principal: author })).allowed).toBe(false);
      // The enclave role gains nothing from it.
      expect(evaluatePolicy(p, decrypt(undefined, { action: 'kms:Encrypt' })).allowed).toBe(false);
    });
  }
  it('is refused for wrap and sign keys, and for a malformed ARN', () => {
    expect(() => generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'wrap', encryptors: [AUTHOR] })).toThrow(KmsPolicyError);
    expect(() => generateKeyPolicy({ measurements: m, roleArn: ROLE_ARN, admins: [ADMIN_ARN], purpose: 'source', encryptors: ['not-an-arn'] })).toThrow(/--encryptor/);
  });
});
