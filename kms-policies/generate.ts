/**
 * Least-privilege key policies for the four keys attested-pack uses, generated from the enclave's
 * measurements.json:
 *
 * - source (SOPS key) and seal (sealed signing key): the enclave role may `kms:Decrypt` only with a
 *   Recipient attestation whose ImageSha384 / PCRn equal the measurements (StringEqualsIgnoreCase,
 *   as KMS recommends), and one explicit Deny per pinned PCR refuses the enclave role every other
 *   Decrypt — so an IAM policy granting the role plain Decrypt (the known bypass) cannot reopen it.
 * - wrap (artifact envelope key): `kms:Encrypt` for the enclave role (KMS cannot attestation-gate
 *   Encrypt), `kms:Decrypt` for the runtime roles that unpack artifacts.
 * - sign: `kms:Sign` and `kms:GetPublicKey` for the enclave role (KMS cannot attestation-gate Sign),
 *   `kms:GetPublicKey` / `kms:Verify` for runtime roles.
 *
 * Every policy starts with a key-administration statement that lists admin actions explicitly
 * instead of `kms:*`: no Decrypt/Encrypt/Sign and no CreateGrant (grants cannot carry attestation
 * conditions). Administrators keep kms:PutKeyPolicy, and whoever may rewrite the policy may drop
 * the attestation conditions and decrypt: so they are named explicitly (`admins`), and naming the
 * account root — which lets every IAM principal allowed PutKeyPolicy do it — is an explicit choice.
 */
import type { Measurements } from '../common/measurements.js';
import { pcr3ForRoleArn, pcr4ForInstanceId } from '../attestation/index.js';
import { KmsPolicyError } from './errors.js';
import type { KeyPolicyDocument, KeyPolicyStatement } from './policy.js';

/** What a key is for; decides which statements the policy holds. */
export type KeyPurpose = 'source' | 'wrap' | 'sign' | 'seal';
export const KEY_PURPOSES: readonly KeyPurpose[] = ['source', 'wrap', 'sign', 'seal'];

/** Inputs of `generateKeyPolicy`. */
export interface GenerateKeyPolicyOptions {
  measurements: Measurements;
  /** The role the enclave's KMS calls run as (the parent instance's role). */
  roleArn: string;
  /**
   * Who administers the key (kms:PutKeyPolicy and the other admin actions, never cryptographic
   * use): IAM role or user ARNs, or 'account-root' to delegate administration to IAM — then any
   * principal an IAM policy allows kms:PutKeyPolicy can rewrite this policy and decrypt.
   */
  admins: readonly string[] | 'account-root';
  purpose: KeyPurpose;
  /** PCR indices to pin (source/seal only). Default: 0, 1, 2 and 8 when measurements have PCR8. */
  pcrs?: number[];
  /** Roles of stock Clef runtimes (wrap: Decrypt; sign: GetPublicKey/Verify). */
  runtimeRoles?: string[];
  /** Account that owns the key; default: the account of `roleArn`. */
  accountId?: string;
  /** Parent instance ID, needed only to pin PCR4. */
  instanceId?: string;
  /**
   * Principals that author SOPS files (source key) or seal signing keys (seal key): they get
   * kms:Encrypt only — never Decrypt. Without any, nobody can write new ciphertext under the key.
   */
  encryptors?: string[];
}

/** Key administration without any cryptographic use and without CreateGrant. */
export const KEY_ADMIN_ACTIONS = [
  'kms:CreateAlias',
  'kms:DeleteAlias',
  'kms:UpdateAlias',
  'kms:DescribeKey',
  'kms:EnableKey',
  'kms:DisableKey',
  'kms:EnableKeyRotation',
  'kms:DisableKeyRotation',
  'kms:GetKeyPolicy',
  'kms:GetKeyRotationStatus',
  'kms:ListAliases',
  'kms:ListGrants',
  'kms:ListKeyPolicies',
  'kms:ListResourceTags',
  'kms:PutKeyPolicy',
  'kms:RevokeGrant',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:UpdateKeyDescription',
];

const ARN_RE = /^arn:aws[\w-]*:(iam|sts)::(\d{12}):[\w+=,.@/-]+$/;

/** Builds the key policy for one key purpose from the enclave's measurements. */
export function generateKeyPolicy(opts: GenerateKeyPolicyOptions): KeyPolicyDocument {
  const roleArn = checkArn(opts.roleArn, '--role-arn');
  const accountId = opts.accountId ?? ARN_RE.exec(roleArn)![2]!;
  if (!/^\d{12}$/.test(accountId)) bad(`--account-id must be 12 digits, got ${JSON.stringify(accountId)}`);
  const runtimeRoles = (opts.runtimeRoles ?? []).map((r) => checkArn(r, '--runtime-role'));
  const encryptors = (opts.encryptors ?? []).map((r) => checkArn(r, '--encryptor'));
  if (encryptors.length > 0 && opts.purpose !== 'source' && opts.purpose !== 'seal') bad('--encryptor applies only to source and seal keys');
  if (!(KEY_PURPOSES as readonly string[]).includes(opts.purpose)) bad(`--purpose must be one of ${KEY_PURPOSES.join(', ')}`);

  const statements: KeyPolicyStatement[] = [adminStatement(opts, accountId, roleArn)];
  switch (opts.purpose) {
    case 'source':
    case 'seal':
      statements.push(...attestedDecryptStatements(opts, roleArn));
      if (encryptors.length > 0) {
        statements.push({
          Sid: opts.purpose === 'source' ? 'AuthorsEncryptSopsDataKeys' : 'OperatorsSealSigningKeys',
          Effect: 'Allow',
          Principal: { AWS: one(encryptors) },
          Action: 'kms:Encrypt',
          Resource: '*',
        });
      }
      break;
    case 'wrap':
      noPcrs(opts);
      statements.push({ Sid: 'EnclaveWrapsArtifactKeys', Effect: 'Allow', Principal: { AWS: roleArn }, Action: 'kms:Encrypt', Resource: '*' });
      if (runtimeRoles.length > 0) {
        statements.push({ Sid: 'RuntimesUnwrapArtifactKeys', Effect: 'Allow', Principal: { AWS: one(runtimeRoles) }, Action: 'kms:Decrypt', Resource: '*' });
      }
      break;
    case 'sign':
      noPcrs(opts);
      statements.push({
        Sid: 'EnclaveSignsArtifacts',
        Effect: 'Allow',
        Principal: { AWS: roleArn },
        Action: ['kms:Sign', 'kms:GetPublicKey'],
        Resource: '*',
      });
      if (runtimeRoles.length > 0) {
        statements.push({
          Sid: 'RuntimesVerifyArtifacts',
          Effect: 'Allow',
          Principal: { AWS: one(runtimeRoles) },
          Action: ['kms:GetPublicKey', 'kms:Verify'],
          Resource: '*',
        });
      }
      break;
  }
  return { Version: '2012-10-17', Id: `attested-pack-${opts.purpose}-key`, Statement: statements };
}

/** The key-administration statement: named administrators, or the account root when explicitly chosen. */
function adminStatement(opts: GenerateKeyPolicyOptions, accountId: string, roleArn: string): KeyPolicyStatement {
  const base = { Effect: 'Allow' as const, Action: KEY_ADMIN_ACTIONS, Resource: '*' };
  if (opts.admins === 'account-root') {
    return { Sid: 'KeyAdministrationWithoutCryptographicUse', ...base, Principal: { AWS: `arn:aws:iam::${accountId}:root` } };
  }
  if (!Array.isArray(opts.admins) || opts.admins.length === 0) {
    bad('name the key administrators with --admin-arn ARN (or opt in to the account root with --account-root-admin): whoever may PutKeyPolicy can decrypt without attestation');
  }
  const admins = opts.admins.map((a) => checkArn(a, '--admin-arn'));
  if (admins.includes(roleArn)) {
    bad('the enclave role must not administer the key: with kms:PutKeyPolicy the parent instance could drop the attestation conditions');
  }
  return { Sid: 'KeyAdministratorsWithoutCryptographicUse', ...base, Principal: { AWS: one([...admins]) } };
}

/** The PCR values a source/seal policy pins, by condition key. */
export function pinnedAttestationValues(opts: GenerateKeyPolicyOptions): Array<{ index: number; key: string; value: string }> {
  const m = opts.measurements;
  const indices = opts.pcrs ?? [0, 1, 2, ...(m.PCR8 ? [8] : [])];
  if (indices.length === 0) bad('--pcrs must name at least PCR0');
  if (new Set(indices).size !== indices.length) bad('--pcrs lists an index twice');
  if (!indices.includes(0)) bad('--pcrs must include 0: without PCR0 (the image digest) the policy does not pin the enclave image');
  return [...indices]
    .sort((a, b) => a - b)
    .map((i) => {
      if (!Number.isInteger(i) || i < 0 || i > 31) bad(`--pcrs: ${i} is not a PCR index (0..31)`);
      const key = i === 0 ? 'kms:RecipientAttestation:ImageSha384' : `kms:RecipientAttestation:PCR${i}`;
      return { index: i, key, value: pcrValue(i, opts) };
    });
}

function attestedDecryptStatements(opts: GenerateKeyPolicyOptions, roleArn: string): KeyPolicyStatement[] {
  const pinned = pinnedAttestationValues(opts);
  const allow: KeyPolicyStatement = {
    Sid: 'EnclaveDecryptsOnlyWithAttestation',
    Effect: 'Allow',
    Principal: { AWS: roleArn },
    Action: 'kms:Decrypt',
    Resource: '*',
    Condition: { StringEqualsIgnoreCase: Object.fromEntries(pinned.map((p) => [p.key, p.value])) },
  };
  // One Deny per pinned key: a single Deny with several keys would apply only if ALL mismatched.
  const denies: KeyPolicyStatement[] = pinned.map((p) => ({
    Sid: `DenyEnclaveRoleDecryptUnless${p.index === 0 ? 'ImageSha384' : `PCR${p.index}`}Matches`,
    Effect: 'Deny',
    Principal: { AWS: roleArn },
    Action: 'kms:Decrypt',
    Resource: '*',
    Condition: { StringNotEqualsIgnoreCase: { [p.key]: p.value } },
  }));
  return [allow, ...denies];
}

function pcrValue(i: number, opts: GenerateKeyPolicyOptions): string {
  const m = opts.measurements;
  switch (i) {
    case 0:
      return m.PCR0;
    case 1:
      return m.PCR1;
    case 2:
      return m.PCR2;
    case 3:
      // PCR3 measures the parent instance's IAM role ARN (the raw role ARN, not a session ARN).
      if (!/^arn:aws[\w-]*:iam::\d{12}:role\//.test(opts.roleArn)) bad('PCR3 needs --role-arn to be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)');
      return pcr3ForRoleArn(opts.roleArn);
    case 4:
      if (!opts.instanceId || !/^i-[0-9a-f]{8,17}$/.test(opts.instanceId)) bad('PCR4 needs --instance-id i-… (the parent instance ID)');
      return pcr4ForInstanceId(opts.instanceId);
    case 8:
      if (!m.PCR8) bad('PCR8 requested but measurements.json has no PCR8 (the EIF is not signed)');
      return m.PCR8;
    default:
      return bad(`PCR${i} is not known from measurements.json; pin only 0, 1, 2, 3, 4 or 8`);
  }
}

function noPcrs(opts: GenerateKeyPolicyOptions): void {
  if (opts.pcrs !== undefined) {
    bad(`--pcrs applies only to source and seal keys: KMS cannot attestation-gate ${opts.purpose === 'wrap' ? 'Encrypt' : 'Sign'}`);
  }
}

function one(list: string[]): string | string[] {
  return list.length === 1 ? list[0]! : list;
}

function checkArn(arn: string, flag: string): string {
  if (!ARN_RE.test(arn)) bad(`${flag} must be an IAM or STS ARN (arn:aws:iam::ACCOUNT:role/NAME), got ${JSON.stringify(arn)}`);
  return arn;
}

function bad(message: string): never {
  throw new KmsPolicyError('KMS_POLICY_BAD_OPTIONS', message);
}
