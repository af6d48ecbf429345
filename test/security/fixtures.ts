/**
 * Inputs of the security suite built here from the formats' definitions (not produced by the
 * code under test): receipt claims with every optional field present, a signed receipt over
 * them from a simulated NSM on a fixed clock, and Clef manifests.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { SimulatedNsmPki, buildReceipt, claimsDigest } from '../../attestation/index.js';
import type { Receipt, ReceiptClaims } from '../../attestation/receipt-types.js';
import { demoManifest } from '../../simulator/demo-repo.js';

/** A fixed instant for simulated documents (tests never depend on the real clock). */
export const T0 = Date.UTC(2030, 0, 15, 12, 0, 0);
export const SIM_PCRS = { 0: 'b0'.repeat(48), 1: 'b1'.repeat(48), 2: 'b2'.repeat(48) } as const;

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const gitBlob = (s: string): string => createHash('sha1').update(`blob ${Buffer.byteLength(s)}\0${s}`).digest('hex');

/** Claims exercising every field of receipt v1 (KMS wrap, KMS signing, sealed key, age recipients, SOPS metadata). */
export function fullClaims(): ReceiptClaims {
  const spki = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
  return {
    type: 'attested-pack/receipt-claims/v1',
    request: {
      identity: 'api-gateway',
      environment: 'production',
      commit: '0123456789abcdef0123456789abcdef01234567',
      repository: 'example/payments',
      nonce: 'c0ffee'.repeat(8),
      requestedBy: 'repo:example/payments:ref:refs/heads/main',
    },
    inputs: [
      { path: 'clef.yaml', role: 'manifest', sha256: sha256('clef'), gitBlobId: gitBlob('clef') },
      {
        path: 'secrets/payments/production.enc.yaml',
        role: 'sops',
        sha256: sha256('payments'),
        gitBlobId: gitBlob('payments'),
        sopsLastModified: '2026-03-22T10:00:00Z',
        namespace: 'payments',
      },
      {
        path: 'secrets/auth/production.enc.yaml',
        role: 'sops',
        sha256: sha256('auth'),
        gitBlobId: gitBlob('auth'),
        sopsLastModified: '2026-03-21T09:00:00Z',
        namespace: 'auth',
      },
    ],
    keys: {
      source: [
        'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000001',
        'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000002',
      ],
      wrap: 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000003',
      ageRecipients: ['age14cvkan480v0hkgvh3hwkj6v3n2cksvgj5stppgzp8thm3qzk0fjs57gk5u'],
      sign: 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000004',
      seal: 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000005',
      signingPublicKey: Buffer.from(spki).toString('base64'),
    },
    artifact: {
      sha256: sha256('artifact'),
      revision: '1711101600000-a1b2c3d4',
      ciphertextHash: sha256('ciphertext'),
      keyCount: 4,
      namespaces: ['payments', 'auth'],
      signatureAlgorithm: 'Ed25519',
    },
    tool: { name: 'attested-pack', version: '0.1.0' },
    time: '2030-01-15T12:00:00.000Z',
  };
}

/** A PKI on the fixed clock. */
export function fixedPki(): Promise<SimulatedNsmPki> {
  return SimulatedNsmPki.ephemeral({ now: () => T0 });
}

/** A receipt whose document binds `claims` (user_data = SHA-384(JCS(claims)), nonce = claims nonce). */
export async function receiptFor(pki: SimulatedNsmPki, claims: ReceiptClaims): Promise<Receipt> {
  const doc = await pki.attest({ pcrs: SIM_PCRS, userData: claimsDigest(claims), nonce: Buffer.from(claims.request.nonce, 'hex') });
  return buildReceipt(claims, doc);
}

/** The demo repository's Clef manifest, with fixed key ARNs and age recipient. */
export function sampleManifest(): string {
  return demoManifest({
    sourceKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000001',
    wrapKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000003',
    ageRecipient: 'age14cvkan480v0hkgvh3hwkj6v3n2cksvgj5stppgzp8thm3qzk0fjs57gk5u',
  });
}
