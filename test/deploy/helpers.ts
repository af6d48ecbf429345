/** Helpers for the deploy/ suites: a valid deploy document to vary, and the real CLI in-process. */
import { generateKeyPairSync } from 'node:crypto';
import { stringify } from 'yaml';

export const ACCOUNT = '111122223333';
export const REGION = 'eu-west-1';
export const PARENT_ROLE = `arn:aws:iam::${ACCOUNT}:role/attested-pack-parent`;
export const ADMIN_ROLE = `arn:aws:iam::${ACCOUNT}:role/kms-key-admin`;
export const RUNTIME_ROLE = `arn:aws:iam::${ACCOUNT}:role/api-gateway-runtime`;
export const AUTHOR_ROLE = `arn:aws:iam::${ACCOUNT}:role/secrets-author`;
export const key = (n: number, region = REGION, account = ACCOUNT): string => `arn:aws:kms:${region}:${account}:key/${String(n).repeat(8)}-${String(n).repeat(4)}-4${String(n).repeat(3)}-8${String(n).repeat(3)}-${String(n).repeat(12)}`;
export const SOURCE = key(1);
export const WRAP = key(2);
export const SIGN = key(3);
export const SEAL = key(4);
export const AGE = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
export const ED25519_SPKI = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
export const P256_SPKI = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' }).toString('base64');

/** A valid deploy document (as a plain object, to vary in tests). */
export function deployDoc(): Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any -- tests vary arbitrary fields
  return {
    deployVersion: 1,
    account: ACCOUNT,
    region: REGION,
    parentRoleArn: PARENT_ROLE,
    admins: [ADMIN_ROLE],
    repository: 'acme/secrets',
    manifest: 'clef.yaml',
    enclave: { listenPort: 5000, cpus: 2, memoryMiB: 4096 },
    keys: { source: [SOURCE], wrap: [WRAP], sign: SIGN, seal: SEAL },
    signer: { publicKey: ED25519_SPKI },
    cells: [
      { identity: 'api-gateway', environment: 'production', envelope: { kmsKey: WRAP } },
      { identity: 'worker', environment: 'production', envelope: { ageRecipients: [AGE] } },
    ],
    access: {
      githubOidc: {
        audience: 'attested-pack',
        rules: [{ repository: 'acme/secrets', repositoryId: '123456789', refs: ['refs/heads/main'], identities: ['api-gateway', 'worker'], environments: ['production'] }],
      },
      tokens: [{ name: 'ci', sha256: 'a'.repeat(64), identities: ['worker'], environments: ['production'] }],
    },
    runtimeRoles: [RUNTIME_ROLE],
    encryptors: { source: [AUTHOR_ROLE] },
  };
}

export const yamlOf = (doc: unknown): string => stringify(doc);

export { runAttestedPack } from '../cli/in-process.js';
