/** A schema-valid set of receipt claims for tests that only need the format, not real parts. */
import type { ReceiptClaims } from '../../../attestation/receipt-types.js';

/** Fresh claims object (deep copy each call) shaped like what the pack step emits. */
export function sampleClaims(): ReceiptClaims {
  return {
    type: 'attested-pack/receipt-claims/v1',
    request: {
      identity: 'api-gateway',
      environment: 'production',
      commit: '0123456789abcdef0123456789abcdef01234567',
      repository: 'org/repo',
      nonce: '00112233445566778899aabbccddeeff',
      requestedBy: 'ci-token',
    },
    inputs: [
      {
        path: 'clef.yaml',
        role: 'manifest',
        sha256: 'a'.repeat(64),
        gitBlobId: 'b'.repeat(40),
      },
      {
        path: 'secrets/payments/production.enc.yaml',
        role: 'sops',
        sha256: 'c'.repeat(64),
        gitBlobId: 'd'.repeat(40),
        sopsLastModified: '2026-03-20T09:00:00Z',
        namespace: 'payments',
      },
    ],
    keys: {
      source: ['arn:aws:kms:us-east-1:111111111111:key/src-key'],
      wrap: 'arn:aws:kms:us-east-1:222222222222:key/env-key',
      ageRecipients: [],
      sign: null,
      seal: 'arn:aws:kms:us-east-1:222222222222:key/seal-key',
      signingPublicKey: 'MCowBQYDK2VwAyEAIVL40Zt5HSRFMkLhXy6rbLfP+ntqXtMAl5YOBpiB2xI=',
    },
    artifact: {
      sha256: 'e'.repeat(64),
      revision: '1711101600000-a1b2c3d4',
      ciphertextHash: 'f'.repeat(64),
      keyCount: 2,
      namespaces: ['payments'],
      signatureAlgorithm: 'Ed25519',
    },
    tool: { name: 'attested-pack', version: '0.1.0' },
    time: '2026-03-22T10:00:00.000Z',
  };
}
