/**
 * The simulation's four KMS keys — source (SOPS data keys), wrap (artifact DEKs), sign (KMS
 * ECDSA) and seal (sealed Ed25519 signing key) — each with the key policy kms-policies generates
 * from the enclave's measurements. It goes through the real SDK as the account administrator
 * (CreateKey, CreateAlias, PutKeyPolicy), exactly the calls an operator makes on AWS.
 * Idempotent: existing aliases are reused and their policies replaced.
 */
import {
  CreateAliasCommand,
  CreateKeyCommand,
  ListAliasesCommand,
  PutKeyPolicyCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import type { Measurements } from '../common/measurements.js';
import { generateKeyPolicy, type KeyPurpose } from '../kms-policies/index.js';

export interface SimKeyArns {
  source: string;
  wrap: string;
  sign: string;
  seal: string;
}

export interface SetupKeysOptions {
  measurements: Measurements;
  /** Role the enclave's KMS calls run as. */
  enclaveRoleArn: string;
  /** Roles of Clef runtimes that unwrap artifacts and verify signatures. */
  runtimeRoleArns: string[];
  /** Principals that author SOPS files and sealed keys (kms:Encrypt on the source and seal keys). */
  encryptorArns?: string[];
  /** Key administrators (PutKeyPolicy etc., never cryptographic use), named in every key policy. */
  adminArns: string[];
  /** Alias prefix (default `alias/attested-pack`). */
  aliasPrefix?: string;
}

export const KEY_PURPOSE_LIST = ['source', 'wrap', 'sign', 'seal'] as const;

/** The key policy for one purpose, as JSON text (what `kms-policy generate --format json` prints). */
export function policyFor(purpose: KeyPurpose, o: SetupKeysOptions): string {
  return JSON.stringify(
    generateKeyPolicy({
      measurements: o.measurements,
      roleArn: o.enclaveRoleArn,
      admins: o.adminArns,
      purpose,
      runtimeRoles: purpose === 'wrap' || purpose === 'sign' ? o.runtimeRoleArns : [],
      ...(purpose === 'source' || purpose === 'seal' ? { encryptors: o.encryptorArns ?? [] } : {}),
    }),
    null,
    2,
  );
}

/** Creates (or reuses) the four keys and (re)applies their generated policies. */
export async function setupSimKeys(admin: KMSClient, o: SetupKeysOptions): Promise<SimKeyArns> {
  const prefix = o.aliasPrefix ?? 'alias/attested-pack';
  const aliases = new Map<string, string>();
  let marker: string | undefined;
  do {
    const page = await admin.send(new ListAliasesCommand({ ...(marker ? { Marker: marker } : {}) }));
    for (const a of page.Aliases ?? []) if (a.AliasName && a.TargetKeyId) aliases.set(a.AliasName, a.TargetKeyId);
    marker = page.Truncated ? page.NextMarker : undefined;
  } while (marker);

  const out: Partial<SimKeyArns> = {};
  for (const purpose of KEY_PURPOSE_LIST) {
    const alias = `${prefix}/${purpose}`;
    const policy = policyFor(purpose, o);
    const existing = aliases.get(alias);
    if (existing) {
      await admin.send(new PutKeyPolicyCommand({ KeyId: existing, PolicyName: 'default', Policy: policy }));
      out[purpose] = existing.startsWith('arn:') ? existing : await arnOf(admin, existing);
    } else {
      const created = await admin.send(
        new CreateKeyCommand({
          KeySpec: purpose === 'sign' ? 'ECC_NIST_P256' : 'SYMMETRIC_DEFAULT',
          KeyUsage: purpose === 'sign' ? 'SIGN_VERIFY' : 'ENCRYPT_DECRYPT',
          Description: `attested-pack simulation ${purpose} key`,
          Policy: policy,
        }),
      );
      const arn = created.KeyMetadata!.Arn!;
      await admin.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: created.KeyMetadata!.KeyId! }));
      out[purpose] = arn;
    }
  }
  return out as SimKeyArns;
}

/** Re-applies the policies generated for `measurements` to existing keys (after a rebuild). */
export async function applyPolicies(admin: KMSClient, keys: SimKeyArns, o: SetupKeysOptions): Promise<void> {
  for (const purpose of KEY_PURPOSE_LIST) {
    await admin.send(new PutKeyPolicyCommand({ KeyId: keys[purpose], PolicyName: 'default', Policy: policyFor(purpose, o) }));
  }
}

async function arnOf(admin: KMSClient, keyId: string): Promise<string> {
  const { DescribeKeyCommand } = await import('@aws-sdk/client-kms');
  const d = await admin.send(new DescribeKeyCommand({ KeyId: keyId }));
  return d.KeyMetadata!.Arn!;
}
