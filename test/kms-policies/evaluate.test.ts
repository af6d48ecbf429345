import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  evaluatePolicy,
  parseKeyPolicy,
  wildcardMatch,
  KmsPolicyError,
  principalArnConditionValue,
  type RequestContext,
  type KeyPolicyStatement,
} from '../../kms-policies/index.js';
import { ACCOUNT, ADMIN_ARN, KEY_ARN, ROLE_ARN, ROLE_SESSION, measurementsFor, oneByteOff } from './fixtures.js';

const m = measurementsFor('image-a');
const policy = (...Statement: KeyPolicyStatement[]) => ({ Version: '2012-10-17', Statement });
const ctx = (over: Partial<RequestContext> = {}): RequestContext => ({
  action: 'kms:Decrypt',
  resource: KEY_ARN,
  principal: { arn: ROLE_SESSION, accountId: ACCOUNT },
  ...over,
});
const attested = (pcrs: Record<number, string>) => ({ recipientAttestation: { pcrs } });
const zero = '0'.repeat(96);

const attestedAllow: KeyPolicyStatement = {
  Sid: 'EnclaveDecrypt',
  Effect: 'Allow',
  Principal: { AWS: ROLE_ARN },
  Action: 'kms:Decrypt',
  Resource: '*',
  Condition: { StringEqualsIgnoreCase: { 'kms:RecipientAttestation:ImageSha384': m.PCR0, 'kms:RecipientAttestation:PCR1': m.PCR1 } },
};

describe('evaluatePolicy: principals', () => {
  it('matches an exact principal ARN and refuses a different one', () => {
    const p = policy({ Effect: 'Allow', Principal: { AWS: ADMIN_ARN }, Action: 'kms:*', Resource: '*' });
    expect(evaluatePolicy(p, ctx({ principal: { arn: ADMIN_ARN, accountId: ACCOUNT } })).allowed).toBe(true);
    const d = evaluatePolicy(p, ctx({ principal: { arn: `arn:aws:iam::${ACCOUNT}:user/eve`, accountId: ACCOUNT } }));
    expect(d.allowed).toBe(false);
    expect(d.decision).toBe('implicit-deny');
    expect(d.statements[0]!.reason).toMatch(/principal .*eve is not named/);
  });

  it('lets a role ARN match its assumed-role sessions, but not another role of the same name in another account', () => {
    const p = policy({ Effect: 'Allow', Principal: { AWS: ROLE_ARN }, Action: 'kms:Encrypt', Resource: '*' });
    expect(evaluatePolicy(p, ctx({ action: 'kms:Encrypt' })).allowed).toBe(true);
    const other = 'arn:aws:sts::999988887777:assumed-role/attested-pack-enclave/s';
    expect(evaluatePolicy(p, ctx({ action: 'kms:Encrypt', principal: { arn: other, accountId: '999988887777' } })).allowed).toBe(false);
    const otherRole = `arn:aws:sts::${ACCOUNT}:assumed-role/attested-pack-enclave-2/s`;
    expect(evaluatePolicy(p, ctx({ action: 'kms:Encrypt', principal: { arn: otherRole, accountId: ACCOUNT } })).allowed).toBe(false);
  });

  it('treats the account root (ARN or bare ID) as the account administrator only', () => {
    for (const root of [`arn:aws:iam::${ACCOUNT}:root`, ACCOUNT]) {
      const p = policy({ Effect: 'Allow', Principal: { AWS: root }, Action: 'kms:*', Resource: '*' });
      expect(evaluatePolicy(p, ctx({ principal: { arn: ADMIN_ARN, accountId: ACCOUNT, isAccountAdmin: true } })).allowed).toBe(true);
      expect(evaluatePolicy(p, ctx()).allowed).toBe(false); // the enclave role is not the admin
      expect(
        evaluatePolicy(p, ctx({ principal: { arn: 'arn:aws:iam::999988887777:user/admin', accountId: '999988887777', isAccountAdmin: true } })).allowed,
      ).toBe(false); // admin of another account
    }
  });

  it('matches "*" and {"AWS":"*"} for anyone', () => {
    for (const Principal of ['*', { AWS: '*' }] as const) {
      const p = policy({ Effect: 'Allow', Principal, Action: 'kms:Decrypt', Resource: '*' });
      expect(evaluatePolicy(p, ctx({ principal: { arn: 'arn:aws:iam::999988887777:user/x', accountId: '999988887777' } })).allowed).toBe(true);
    }
  });

  it('NotPrincipal applies to everyone except the named principal', () => {
    const p = policy(
      { Effect: 'Allow', Principal: '*', Action: 'kms:Decrypt', Resource: '*' },
      { Effect: 'Deny', NotPrincipal: { AWS: ADMIN_ARN }, Action: 'kms:Decrypt', Resource: '*' },
    );
    expect(evaluatePolicy(p, ctx({ principal: { arn: ADMIN_ARN, accountId: ACCOUNT } })).allowed).toBe(true);
    expect(evaluatePolicy(p, ctx()).decision).toBe('explicit-deny');
  });

  it('aws:PrincipalArn of a role session is the role ARN', () => {
    expect(principalArnConditionValue(ROLE_SESSION)).toBe(ROLE_ARN);
    const p = policy({ Effect: 'Allow', Principal: '*', Action: 'kms:Decrypt', Resource: '*', Condition: { ArnEquals: { 'aws:PrincipalArn': ROLE_ARN } } });
    expect(evaluatePolicy(p, ctx()).allowed).toBe(true);
    expect(evaluatePolicy(p, ctx({ principal: { arn: ADMIN_ARN, accountId: ACCOUNT } })).allowed).toBe(false);
  });
});

describe('evaluatePolicy: actions, resources, explicit deny', () => {
  it('matches action wildcards case-insensitively and NotAction by exclusion', () => {
    const cases: Array<[string | string[], string, boolean]> = [
      ['kms:*', 'kms:Decrypt', true],
      ['*', 'kms:Decrypt', true],
      ['kms:Gen*', 'kms:GenerateDataKey', true],
      ['kms:Gen*', 'kms:Decrypt', false],
      ['KMS:decrypt', 'kms:Decrypt', true],
      ['kms:Decrypt?', 'kms:Decrypt', false],
      ['kms:?ecrypt', 'kms:Decrypt', true],
      [['kms:Encrypt', 'kms:Sign'], 'kms:Decrypt', false],
    ];
    for (const [Action, action, allowed] of cases) {
      const p = policy({ Effect: 'Allow', Principal: { AWS: ROLE_ARN }, Action, Resource: '*' });
      expect(evaluatePolicy(p, ctx({ action })).allowed, `${JSON.stringify(Action)} vs ${action}`).toBe(allowed);
    }
    const notAction = policy({ Effect: 'Allow', Principal: { AWS: ROLE_ARN }, NotAction: 'kms:Decrypt', Resource: '*' });
    expect(evaluatePolicy(notAction, ctx()).allowed).toBe(false);
    expect(evaluatePolicy(notAction, ctx({ action: 'kms:Encrypt' })).allowed).toBe(true);
  });

  it('matches Resource against the key ARN', () => {
    const mk = (Resource: string) => policy({ Effect: 'Allow', Principal: { AWS: ROLE_ARN }, Action: 'kms:Decrypt', Resource });
    expect(evaluatePolicy(mk('*'), ctx()).allowed).toBe(true);
    expect(evaluatePolicy(mk(KEY_ARN), ctx()).allowed).toBe(true);
    expect(evaluatePolicy(mk(`arn:aws:kms:us-east-1:${ACCOUNT}:key/*`), ctx()).allowed).toBe(true);
    const d = evaluatePolicy(mk(`arn:aws:kms:us-east-1:${ACCOUNT}:key/other`), ctx());
    expect(d.allowed).toBe(false);
    expect(d.statements[0]!.reason).toMatch(/resource .* is not covered/);
  });

  it('lets an explicit Deny win over any Allow and names it in the reason', () => {
    const p = policy(
      { Sid: 'AllowAll', Effect: 'Allow', Principal: '*', Action: '*', Resource: '*' },
      { Sid: 'NoDecrypt', Effect: 'Deny', Principal: { AWS: ROLE_ARN }, Action: 'kms:Decrypt', Resource: '*' },
    );
    const d = evaluatePolicy(p, ctx());
    expect(d.decision).toBe('explicit-deny');
    expect(d.deciding.map((s) => s.sid)).toEqual(['NoDecrypt']);
    expect(d.reason).toContain('"NoDecrypt"');
    expect(evaluatePolicy(p, ctx({ action: 'kms:Encrypt' })).allowed).toBe(true);
  });

  it('denies implicitly when nothing matches', () => {
    const d = evaluatePolicy(policy({ Effect: 'Allow', Principal: { AWS: ADMIN_ARN }, Action: 'kms:Encrypt', Resource: '*' }), ctx());
    expect(d.decision).toBe('implicit-deny');
    expect(d.reason).toContain('no Allow statement names this principal and action');
  });
});

describe('evaluatePolicy: attestation conditions', () => {
  const p = policy(attestedAllow);

  it('allows the measured image, comparing hex case-insensitively', () => {
    expect(evaluatePolicy(p, ctx(attested({ 0: m.PCR0, 1: m.PCR1, 2: m.PCR2 }))).allowed).toBe(true);
    expect(evaluatePolicy(p, ctx(attested({ 0: m.PCR0.toUpperCase(), 1: m.PCR1 }))).allowed).toBe(true);
  });

  it('denies a PCR mismatch and says which condition failed', () => {
    const d = evaluatePolicy(p, ctx(attested({ 0: oneByteOff(m.PCR0), 1: m.PCR1 })));
    expect(d.decision).toBe('implicit-deny');
    expect(d.reason).toContain('"EnclaveDecrypt"');
    expect(d.reason).toContain('kms:RecipientAttestation:ImageSha384');
    expect(d.reason).toContain('does not satisfy StringEqualsIgnoreCase');
  });

  it('denies a request without attestation and explains that attestation keys are absent', () => {
    const d = evaluatePolicy(p, ctx());
    expect(d.allowed).toBe(false);
    expect(d.reason).toContain('no valid attestation document');
  });

  it('denies a debug-mode document (zero PCR0) unless the policy names the zero digest', () => {
    expect(evaluatePolicy(p, ctx(attested({ 0: zero, 1: zero }))).allowed).toBe(false);
    const debugPolicy = policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_ARN },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEqualsIgnoreCase: { 'kms:RecipientAttestation:ImageSha384': zero } },
    });
    expect(evaluatePolicy(debugPolicy, ctx(attested({ 0: zero, 3: m.PCR1 }))).allowed).toBe(true);
  });

  it('never grants on attestation alone: a valid attestation with no statement for the caller is denied', () => {
    const onlyAdmin = policy({ Effect: 'Allow', Principal: { AWS: ADMIN_ARN }, Action: 'kms:*', Resource: '*' });
    expect(evaluatePolicy(onlyAdmin, ctx(attested({ 0: m.PCR0, 1: m.PCR1 }))).allowed).toBe(false);
  });

  it('a policy without attestation conditions ignores the attestation (the documented bypass)', () => {
    const plain = policy({ Effect: 'Allow', Principal: { AWS: ROLE_ARN }, Action: 'kms:Decrypt', Resource: '*' });
    expect(evaluatePolicy(plain, ctx()).allowed).toBe(true);
    expect(evaluatePolicy(plain, ctx(attested({ 0: oneByteOff(m.PCR0) }))).allowed).toBe(true);
  });

  it('StringEquals (case-sensitive) refuses an upper-case policy value against KMS lower-case hex', () => {
    const strict = policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_ARN },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEquals: { 'kms:RecipientAttestation:PCR0': m.PCR0.toUpperCase() } },
    });
    expect(evaluatePolicy(strict, ctx(attested({ 0: m.PCR0 }))).allowed).toBe(false);
  });

  it('supports custom PCRs 16..31', () => {
    const pcr16 = 'ab'.repeat(48);
    const p16 = policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_ARN },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEqualsIgnoreCase: { 'kms:RecipientAttestation:PCR16': pcr16 } },
    });
    expect(evaluatePolicy(p16, ctx(attested({ 0: m.PCR0, 16: pcr16 }))).allowed).toBe(true);
    expect(evaluatePolicy(p16, ctx(attested({ 0: m.PCR0 }))).allowed).toBe(false);
  });
});

describe('evaluatePolicy: other condition operators and keys', () => {
  const withCond = (Condition: KeyPolicyStatement['Condition']) =>
    policy({ Effect: 'Allow', Principal: { AWS: ROLE_ARN }, Action: 'kms:*', Resource: '*', Condition });
  const ec = (encryptionContext: Record<string, string>) => ({ encryptionContext });

  it('kms:EncryptionContext:<key> with StringEquals; the context key is case-sensitive, the prefix is not', () => {
    const p = withCond({ StringEquals: { 'kms:EncryptionContext:Department': 'IT' } });
    expect(evaluatePolicy(p, ctx(ec({ Department: 'IT' }))).allowed).toBe(true);
    expect(evaluatePolicy(p, ctx(ec({ Department: 'it' }))).allowed).toBe(false);
    expect(evaluatePolicy(p, ctx(ec({ department: 'IT' }))).allowed).toBe(false);
    expect(evaluatePolicy(p, ctx()).allowed).toBe(false);
    const lowerPrefix = withCond({ StringEquals: { 'KMS:ENCRYPTIONCONTEXT:Department': 'IT' } });
    expect(evaluatePolicy(lowerPrefix, ctx(ec({ Department: 'IT' }))).allowed).toBe(true);
  });

  it('StringLike and StringNotEquals (absent key satisfies the negated operator)', () => {
    expect(evaluatePolicy(withCond({ StringLike: { 'kms:EncryptionContext:path': 'secrets/*' } }), ctx(ec({ path: 'secrets/prod' }))).allowed).toBe(true);
    expect(evaluatePolicy(withCond({ StringLike: { 'kms:EncryptionContext:path': 'secrets/*' } }), ctx(ec({ path: 'other/prod' }))).allowed).toBe(false);
    const ne = withCond({ StringNotEquals: { 'kms:EncryptionContext:env': ['prod', 'staging'] } });
    expect(evaluatePolicy(ne, ctx(ec({ env: 'dev' }))).allowed).toBe(true);
    expect(evaluatePolicy(ne, ctx(ec({ env: 'prod' }))).allowed).toBe(false);
    expect(evaluatePolicy(ne, ctx()).allowed).toBe(true);
  });

  it('ForAnyValue / ForAllValues over kms:EncryptionContextKeys, including the empty-set trap', () => {
    const any = withCond({ 'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': ['identity'] } });
    expect(evaluatePolicy(any, ctx(ec({ identity: 'x', other: 'y' }))).allowed).toBe(true);
    expect(evaluatePolicy(any, ctx(ec({ other: 'y' }))).allowed).toBe(false);
    expect(evaluatePolicy(any, ctx()).allowed).toBe(false);
    const all = withCond({ 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['identity', 'env'] } });
    expect(evaluatePolicy(all, ctx(ec({ identity: 'x', env: 'p' }))).allowed).toBe(true);
    expect(evaluatePolicy(all, ctx(ec({ identity: 'x', extra: 'p' }))).allowed).toBe(false);
    expect(evaluatePolicy(all, ctx()).allowed).toBe(true); // IAM: ForAllValues over no values is true
  });

  it('Null and Bool', () => {
    const needsAttestation = withCond({ Null: { 'kms:RecipientAttestation:ImageSha384': 'false' } });
    expect(evaluatePolicy(needsAttestation, ctx(attested({ 0: m.PCR0 }))).allowed).toBe(true);
    expect(evaluatePolicy(needsAttestation, ctx()).allowed).toBe(false);
    const noContext = withCond({ Null: { 'kms:EncryptionContextKeys': true } });
    expect(evaluatePolicy(noContext, ctx()).allowed).toBe(true);
    expect(evaluatePolicy(noContext, ctx(ec({ a: 'b' }))).allowed).toBe(false);
    const viaFlag = withCond({ Bool: { 'kms:GrantIsForAWSResource': 'true' } });
    expect(evaluatePolicy(viaFlag, ctx({ extraConditionKeys: { 'kms:GrantIsForAWSResource': 'true' } })).allowed).toBe(true);
    expect(evaluatePolicy(viaFlag, ctx({ extraConditionKeys: { 'kms:GrantIsForAWSResource': 'false' } })).allowed).toBe(false);
    expect(evaluatePolicy(viaFlag, ctx()).allowed).toBe(false);
  });

  it('IfExists passes on an absent key and still checks a present one', () => {
    const p = withCond({ StringEqualsIfExists: { 'kms:EncryptionContext:env': 'prod' } });
    expect(evaluatePolicy(p, ctx()).allowed).toBe(true);
    expect(evaluatePolicy(p, ctx(ec({ env: 'prod' }))).allowed).toBe(true);
    expect(evaluatePolicy(p, ctx(ec({ env: 'dev' }))).allowed).toBe(false);
  });

  it('kms:CallerAccount', () => {
    const p = policy({ Effect: 'Allow', Principal: '*', Action: 'kms:Decrypt', Resource: '*', Condition: { StringEquals: { 'kms:CallerAccount': ACCOUNT } } });
    expect(evaluatePolicy(p, ctx()).allowed).toBe(true);
    expect(evaluatePolicy(p, ctx({ principal: { arn: 'arn:aws:iam::999988887777:user/x', accountId: '999988887777' } })).allowed).toBe(false);
  });

  it('all clauses of one statement must hold (AND across keys and operators)', () => {
    const p = withCond({
      StringEquals: { 'kms:EncryptionContext:a': '1' },
      StringEqualsIgnoreCase: { 'kms:EncryptionContext:b': 'X' },
    });
    expect(evaluatePolicy(p, ctx(ec({ a: '1', b: 'x' }))).allowed).toBe(true);
    expect(evaluatePolicy(p, ctx(ec({ a: '1', b: 'y' }))).allowed).toBe(false);
    expect(evaluatePolicy(p, ctx(ec({ a: '2', b: 'x' }))).allowed).toBe(false);
  });
});

describe('parseKeyPolicy: refuses what it does not understand', () => {
  const bad: Array<[string, unknown, string]> = [
    ['invalid JSON', '{"Statement": [', 'KMS_POLICY_INVALID'],
    ['no Statement', { Version: '2012-10-17' }, 'KMS_POLICY_INVALID'],
    ['empty Statement list', { Statement: [] }, 'KMS_POLICY_INVALID'],
    ['bad Effect', { Statement: [{ Effect: 'Maybe', Principal: '*', Action: '*', Resource: '*' }] }, 'KMS_POLICY_INVALID'],
    ['Action and NotAction together', { Statement: [{ Effect: 'Allow', Principal: '*', Action: '*', NotAction: 'kms:Decrypt', Resource: '*' }] }, 'KMS_POLICY_INVALID'],
    ['missing Principal', { Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }, 'KMS_POLICY_INVALID'],
    ['unknown statement element', { Statement: [{ Effect: 'Allow', Principal: '*', Action: '*', Resource: '*', Condtion: {} }] }, 'KMS_POLICY_INVALID'],
    ['unknown principal type', { Statement: [{ Effect: 'Allow', Principal: { Robot: 'x' }, Action: '*', Resource: '*' }] }, 'KMS_POLICY_INVALID'],
    ['principal that is not an ARN', { Statement: [{ Effect: 'Allow', Principal: { AWS: 'alice' }, Action: '*', Resource: '*' }] }, 'KMS_POLICY_INVALID'],
    ['empty Action list', { Statement: [{ Effect: 'Allow', Principal: '*', Action: [], Resource: '*' }] }, 'KMS_POLICY_INVALID'],
    ['non-string action', { Statement: [{ Effect: 'Allow', Principal: '*', Action: [1], Resource: '*' }] }, 'KMS_POLICY_INVALID'],
    ['Null with a non-boolean', { Statement: [{ Effect: 'Allow', Principal: '*', Action: '*', Resource: '*', Condition: { Null: { k: 'maybe' } } }] }, 'KMS_POLICY_INVALID'],
    ['unsupported operator', { Statement: [{ Effect: 'Allow', Principal: '*', Action: '*', Resource: '*', Condition: { NumericLessThan: { k: '1' } } }] }, 'KMS_POLICY_UNSUPPORTED'],
    ['unknown top-level element', { Statement: [{ Effect: 'Allow', Principal: '*', Action: '*', Resource: '*' }], Extra: 1 }, 'KMS_POLICY_INVALID'],
    ['bad Version', { Version: '2020-01-01', Statement: [{ Effect: 'Allow', Principal: '*', Action: '*', Resource: '*' }] }, 'KMS_POLICY_INVALID'],
    ['a JSON array', '[]', 'KMS_POLICY_INVALID'],
    ['oversized text', JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: '*', Action: '*', Resource: '*', Sid: 'x'.repeat(40000) }] }), 'KMS_POLICY_INVALID'],
  ];
  for (const [name, input, code] of bad) {
    it(`rejects ${name} with ${code}`, () => {
      let caught: unknown;
      try {
        parseKeyPolicy(input);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(KmsPolicyError);
      expect((caught as KmsPolicyError).code).toBe(code);
    });
  }

  it('evaluatePolicy refuses an invalid policy instead of guessing', () => {
    expect(() => evaluatePolicy({ Statement: [{ Effect: 'allow', Principal: '*', Action: '*', Resource: '*' }] }, ctx())).toThrow(KmsPolicyError);
  });

  it('accepts a single statement object and JSON text', () => {
    const p = parseKeyPolicy(JSON.stringify({ Version: '2012-10-17', Statement: { Effect: 'Allow', Principal: '*', Action: '*', Resource: '*' } }));
    expect(p.statements).toHaveLength(1);
  });
});

describe('wildcardMatch', () => {
  it('agrees with a regular-expression reference on random patterns', () => {
    const alphabet = fc.constantFrom('a', 'b', '*', '?', ':');
    const toRegex = (p: string) => new RegExp('^' + p.replace(/[.+^${}()|[\]\\:]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 's');
    fc.assert(
      fc.property(fc.string({ unit: alphabet, maxLength: 8 }), fc.string({ unit: fc.constantFrom('a', 'b', ':'), maxLength: 10 }), (pattern, value) => {
        expect(wildcardMatch(pattern, value, false)).toBe(toRegex(pattern).test(value));
      }),
      { seed: 42, numRuns: 500 },
    );
  });
});
