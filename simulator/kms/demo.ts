/**
 * Demo defaults of the KMS simulator (documented in README.md): three well-known access keys in
 * account 111122223333 — an administrator, the enclave's role session and a Clef runtime role
 * session — and, on request, four demo keys with aliases. These secrets are public test values:
 * they authenticate to the simulator only, never to AWS.
 */
import type { SimCredential } from './sigv4.js';

export const DEMO_ACCOUNT_ID = '111122223333';
/** The role the demo enclave's KMS calls run as (what generated key policies name). */
export const DEMO_ENCLAVE_ROLE_ARN = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/attested-pack-enclave`;
export const DEMO_RUNTIME_ROLE_ARN = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/clef-runtime`;

/** Default credentials when none are configured; the first is the account administrator. */
export const DEMO_CREDENTIALS: readonly SimCredential[] = Object.freeze([
  {
    accessKeyId: 'AKIASIMULATORADMIN01',
    secretAccessKey: 'attested-pack-simulator-admin-secret',
    principalArn: `arn:aws:iam::${DEMO_ACCOUNT_ID}:user/sim-admin`,
  },
  {
    accessKeyId: 'AKIASIMULATORENCLAVE',
    secretAccessKey: 'attested-pack-simulator-enclave-secret',
    principalArn: `arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/attested-pack-enclave/i-0simulated00000000`,
  },
  {
    accessKeyId: 'AKIASIMULATORRUNTIME',
    secretAccessKey: 'attested-pack-simulator-runtime-secret',
    principalArn: `arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/clef-runtime/runtime`,
  },
]) as readonly SimCredential[];

/** The demo keys `--create-demo-keys` makes (default key policy; put a generated one with PutKeyPolicy). */
export const DEMO_KEYS = [
  { alias: 'alias/attested-pack/source', keySpec: 'SYMMETRIC_DEFAULT', description: 'attested-pack demo source (SOPS) key' },
  { alias: 'alias/attested-pack/wrap', keySpec: 'SYMMETRIC_DEFAULT', description: 'attested-pack demo artifact wrap key' },
  { alias: 'alias/attested-pack/seal', keySpec: 'SYMMETRIC_DEFAULT', description: 'attested-pack demo seal key' },
  { alias: 'alias/attested-pack/sign', keySpec: 'ECC_NIST_P256', description: 'attested-pack demo signing key' },
] as const;

/** Creates the demo keys that do not exist yet; returns alias → key ARN for all of them. */
export async function createDemoKeys(sim: {
  state: { getAlias(name: string): { targetKeyId: string } | undefined };
  createKey(o: { keySpec: 'SYMMETRIC_DEFAULT' | 'ECC_NIST_P256'; description: string; alias: string }): Promise<string>;
  region: string;
  accountId: string;
}): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const k of DEMO_KEYS) {
    const existing = sim.state.getAlias(k.alias);
    out[k.alias] = existing
      ? `arn:aws:kms:${sim.region}:${sim.accountId}:key/${existing.targetKeyId}`
      : await sim.createKey({ keySpec: k.keySpec, description: k.description, alias: k.alias });
  }
  return out;
}
