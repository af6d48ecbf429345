// The golden vector of test/vectors/clef: reproduced byte for byte from its README's fixed
// inputs, verified, decrypted, and every signed field shown to matter. Expected values below are
// copied from the vector's README (an independent re-implementation), not from our output.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  buildSigningPayload,
  createEd25519Signer,
  decryptArtifact,
  importVerifyKey,
  mergeNamespaces,
  packArtifact,
  parseArtifact,
  parseClefPlaintext,
  serializeArtifact,
  verifyArtifact,
  verifySignatureBytes,
  type ClefErrorCode,
  type PackedArtifact,
} from '../../../enclave-app/clef/index.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const vectorDir = path.resolve(repoRoot, 'test/vectors/clef');
const golden = new Uint8Array(readFileSync(path.join(vectorDir, 'golden-artifact.json')));
const goldenText = Buffer.from(golden).toString('utf8');

// From README.md of the vector.
const README = {
  fileSha256: '00395a7c9a41551d9305b4b93c9ed5287176912da7d8537c87a8e6d8a5da101d',
  fileSize: 849,
  plaintext: '{"auth":{"JWT_SECRET":"s3cr3t"},"payments":{"STRIPE_KEY":"sk_test_123"}}',
  keyId: 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555',
  fakeBlob: 'FAKE-KMS-CIPHERTEXTBLOB',
  wrappedKeyB64: 'RkFLRS1LTVMtQ0lQSEVSVEVYVEJMT0I=',
  packedAt: '2026-03-22T10:00:00.000Z',
  revision: '1711101600000-a1b2c3d4',
  expiresAt: '2026-03-22T11:00:00.000Z',
  pkcs8: 'MC4CAQAwBQYDK2VwBCIEIEJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC',
  spki: 'MCowBQYDK2VwAyEAIVL40Zt5HSRFMkLhXy6rbLfP+ntqXtMAl5YOBpiB2xI=',
  ciphertextHash: '1092b2e8421a983cd947c1dcefc54d781d0e6b6fc73d0df926c2ef3f1adf1957',
  payloadSha256: '4889eb2c6594343fb91f9088cd32913c17f6fbc9f548fd0c244bab8b487a88c9',
  signature: 'BL3AQUn9y0uAqBF/tRqtY99QH8+fVJiexhm2LB1NU7fE6OYCY+isutBLY0TtOU/bEbi6vs8mfbAzXzEvgPVjCw==',
};
const DEK = new Uint8Array(32).fill(0x11);
const IV = new Uint8Array(12).fill(0x22);

function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function goldenObject(): PackedArtifact & Record<string, unknown> {
  return JSON.parse(goldenText) as PackedArtifact & Record<string, unknown>;
}

function expectCode(fn: () => unknown, code: ClefErrorCode): void {
  expect(fn).toThrow(expect.objectContaining({ code }));
}

describe('golden Clef artifact', () => {
  it('is the file the README describes', () => {
    expect(golden.byteLength).toBe(README.fileSize);
    expect(sha256Hex(golden)).toBe(README.fileSha256);
    expect(goldenText.endsWith('\n')).toBe(false);
  });

  it('merge of the README values gives the README plaintext', () => {
    const merged = mergeNamespaces([
      { namespace: 'auth', entries: [['JWT_SECRET', 's3cr3t']] },
      { namespace: 'payments', entries: [['STRIPE_KEY', 'sk_test_123']] },
    ]);
    expect(Buffer.from(merged.plaintext).toString('utf8')).toBe(README.plaintext);
    expect(merged.namespaces).toEqual(['auth', 'payments']);
    expect(merged.keyCount).toBe(2);
  });

  it('is reproduced byte for byte from its fixed inputs', async () => {
    const seen: Array<{ dek: string; keyId: string }> = [];
    const dekCopy = new Uint8Array(DEK);
    const result = await packArtifact({
      identity: 'api-gateway',
      environment: 'production',
      plaintext: new Uint8Array(Buffer.from(README.plaintext, 'utf8')),
      envelope: { kind: 'kms', provider: 'aws', keyId: README.keyId },
      wrapKey: async (dek, keyId) => {
        seen.push({ dek: Buffer.from(dek).toString('hex'), keyId });
        return { wrappedKey: new Uint8Array(Buffer.from(README.fakeBlob, 'ascii')), keyId };
      },
      dek: dekCopy,
      iv: IV,
      packedAt: README.packedAt,
      revision: README.revision,
      expiresAt: README.expiresAt,
      signer: createEd25519Signer(README.pkcs8),
    });
    expect(seen).toEqual([{ dek: '11'.repeat(32), keyId: README.keyId }]);
    expect(Buffer.from(result.bytes).equals(Buffer.from(golden))).toBe(true);
    expect(result.json).toBe(goldenText);
    expect(result.sha256).toBe(README.fileSha256);
    // The caller's fixed DEK is left alone (it owns it); the writer zeroised its own copy.
    expect(dekCopy).toEqual(DEK);
  });

  it('round-trips through parse and serialise unchanged', () => {
    expect(serializeArtifact(parseArtifact(golden).artifact)).toBe(goldenText);
  });

  it('verifies with the README SPKI key, and its payload hash matches the README', () => {
    const v = verifyArtifact(golden, { verifyKey: README.spki });
    expect(v.signatureAlgorithm).toBe('Ed25519');
    expect(v.payloadSha256).toBe(README.payloadSha256);
    expect(v.artifact.ciphertextHash).toBe(README.ciphertextHash);
    expect(sha256Hex(v.artifact.ciphertext)).toBe(README.ciphertextHash);
    expect(v.artifact.signature).toBe(README.signature);
    expect(v.artifact.envelope?.wrappedKey).toBe(README.wrappedKeyB64);
  });

  it('decrypts with the DEK (bypassing KMS, the blob is fake) to the README plaintext', async () => {
    const { artifact } = parseArtifact(golden);
    const requests: Array<{ provider: string; keyId: string; blob: string; algorithm: string }> = [];
    const plaintext = await decryptArtifact(artifact, {
      unwrapKey: async (req) => {
        requests.push({ provider: req.provider, keyId: req.keyId, blob: Buffer.from(req.wrappedKey).toString('ascii'), algorithm: req.algorithm });
        return new Uint8Array(DEK);
      },
    });
    expect(requests).toEqual([{ provider: 'aws', keyId: README.keyId, blob: README.fakeBlob, algorithm: 'SYMMETRIC_DEFAULT' }]);
    expect(Buffer.from(plaintext).toString('utf8')).toBe(README.plaintext);
    expect({ ...parseClefPlaintext(plaintext).auth }).toEqual({ JWT_SECRET: 's3cr3t' });
  });

  it('does not decrypt with a wrong DEK', async () => {
    const { artifact } = parseArtifact(golden);
    await expect(decryptArtifact(artifact, { unwrapKey: async () => new Uint8Array(32).fill(0x12) })).rejects.toMatchObject({
      code: 'CLEF_DECRYPT_FAILED',
    });
  });

  it('does not verify with another Ed25519 key', () => {
    const other = createEd25519Signer(
      'MC4CAQAwBQYDK2VwBCIEIENDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0ND', // seed 0x43 × 32
    ).publicKey;
    expectCode(() => verifyArtifact(golden, { verifyKey: other }), 'CLEF_SIGNATURE_INVALID');
  });

  it('refuses to verify without a key unless the signature is skipped explicitly', () => {
    expectCode(() => verifyArtifact(golden, {}), 'CLEF_VERIFY_KEY_REQUIRED');
    expect(verifyArtifact(golden, { skipSignature: true }).signatureAlgorithm).toBeNull();
  });

  describe('each of the 14 clef-sig-v3 payload fields is covered', () => {
    const payloadLines = Buffer.from(buildSigningPayload(goldenObject())).toString('utf8').split('\n');
    const key = importVerifyKey(README.spki);
    const sig = Buffer.from(README.signature, 'base64');

    it('has 14 lines and the README payload hash', () => {
      expect(payloadLines).toHaveLength(14);
      expect(sha256Hex(payloadLines.join('\n'))).toBe(README.payloadSha256);
    });

    it.each(payloadLines.map((_, i) => i))('changing payload line %i breaks the signature', (i) => {
      const lines = [...payloadLines];
      lines[i] = `${lines[i]}x`;
      expect(verifySignatureBytes(new Uint8Array(Buffer.from(lines.join('\n'))), sig, key)).toBe(false);
      expect(verifySignatureBytes(new Uint8Array(Buffer.from(payloadLines.join('\n'))), sig, key)).toBe(true);
    });

    const artifactMutations: Array<[string, (a: PackedArtifact & Record<string, unknown>) => void]> = [
      ['identity', (a) => (a.identity = 'api-gatewax')],
      ['environment', (a) => (a.environment = 'staging')],
      ['revision', (a) => (a.revision = '1711101600000-a1b2c3d5')],
      ['packedAt', (a) => (a.packedAt = '2026-03-22T10:00:00.001Z')],
      [
        'ciphertextHash (with a matching ciphertext)',
        (a) => {
          a.ciphertext = `${a.ciphertext.slice(0, -4)}AAAA`;
          a.ciphertextHash = sha256Hex(a.ciphertext);
        },
      ],
      ['expiresAt', (a) => (a.expiresAt = '2026-03-22T12:00:00.000Z')],
      ['expiresAt removed', (a) => delete a.expiresAt],
      ['envelope.provider', (a) => (a.envelope!.provider = 'gcp')],
      ['envelope.keyId', (a) => (a.envelope!.keyId = 'arn:aws:kms:us-east-1:123456789012:key/other')],
      ['envelope.wrappedKey', (a) => (a.envelope!.wrappedKey = Buffer.from('OTHER-BLOB').toString('base64'))],
      ['envelope.algorithm', (a) => (a.envelope!.algorithm = 'RSAES_OAEP_SHA_256')],
      ['envelope.iv', (a) => (a.envelope!.iv = Buffer.alloc(12, 0x23).toString('base64'))],
      ['envelope.authTag', (a) => (a.envelope!.authTag = Buffer.alloc(16, 0x01).toString('base64'))],
      ['envelope removed', (a) => delete a.envelope],
    ];
    it.each(artifactMutations)('changing %s in the file breaks verification', (_name, mutate) => {
      const a = goldenObject();
      mutate(a);
      expectCode(() => verifyArtifact(JSON.stringify(a, null, 2), { verifyKey: README.spki }), 'CLEF_SIGNATURE_INVALID');
    });

    it('a version other than 1 is refused before any signature check', () => {
      const a = goldenObject() as Record<string, unknown>;
      a.version = 2;
      expectCode(() => verifyArtifact(JSON.stringify(a), { verifyKey: README.spki }), 'CLEF_ARTIFACT_INVALID');
    });
  });

  it('changing the ciphertext breaks ciphertextHash', () => {
    const a = goldenObject();
    a.ciphertext = `${a.ciphertext.slice(0, -4)}AAAA`;
    expectCode(() => verifyArtifact(JSON.stringify(a), { verifyKey: README.spki }), 'CLEF_CIPHERTEXT_HASH_MISMATCH');
    expectCode(() => verifyArtifact(JSON.stringify(a), { skipSignature: true }), 'CLEF_CIPHERTEXT_HASH_MISMATCH');
  });

  describe("Clef's known weakness: revokedAt and signatureAlgorithm are outside the signature", () => {
    it('adding revokedAt leaves the signed payload and the signature valid', () => {
      const a = goldenObject();
      a.revokedAt = '2026-03-22T10:30:00.000Z';
      expect(Buffer.from(buildSigningPayload(a)).equals(Buffer.from(buildSigningPayload(goldenObject())))).toBe(true);
      expect(verifySignatureBytes(buildSigningPayload(a), Buffer.from(a.signature!, 'base64'), importVerifyKey(README.spki))).toBe(true);
      // …yet the runtime (and we) refuse the artifact on sight: an unsigned kill switch.
      expectCode(() => verifyArtifact(JSON.stringify(a), { verifyKey: README.spki }), 'CLEF_ARTIFACT_REVOKED');
    });

    it('changing signatureAlgorithm does not affect verification (the key decides)', () => {
      const a = goldenObject();
      a.signatureAlgorithm = 'ECDSA_SHA256';
      const v = verifyArtifact(JSON.stringify(a), { verifyKey: README.spki });
      expect(v.signatureAlgorithm).toBe('Ed25519');
      expect(v.artifact.signatureAlgorithm).toBe('ECDSA_SHA256');
    });
  });

  it('expiry is enforced only when a time is given', () => {
    expectCode(() => verifyArtifact(golden, { verifyKey: README.spki, now: Date.parse(README.expiresAt) }), 'CLEF_ARTIFACT_EXPIRED');
    expect(verifyArtifact(golden, { verifyKey: README.spki, now: Date.parse(README.expiresAt) - 1 }).artifact.expiresAt).toBe(
      README.expiresAt,
    );
  });
});
