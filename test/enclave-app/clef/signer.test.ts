// clef-sig-v3 signers and verify keys: Ed25519, ECDSA P-256 (node key, DER), and the KMS
// DIGEST model — SHA-256(payload) signed by an independent ECDSA implementation (@noble/curves,
// already in node_modules through age-encryption) without re-hashing.
import { createHash, generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { describe, expect, it } from 'vitest';
import { AttestedPackError } from '../../../common/errors.js';
import {
  ClefError,
  buildSigningPayload,
  createDigestSigner,
  createEcdsaP256Signer,
  createEd25519Signer,
  importVerifyKey,
  packArtifact,
  signArtifact,
  verifyArtifact,
  type ArtifactSigner,
  type PackedArtifact,
} from '../../../enclave-app/clef/index.js';

const spkiB64 = (k: KeyObject) => k.export({ type: 'spki', format: 'der' }).toString('base64');
const pkcs8B64 = (k: KeyObject) => k.export({ type: 'pkcs8', format: 'der' }).toString('base64');

const unsigned: PackedArtifact = {
  version: 1,
  identity: 'api-gateway',
  environment: 'production',
  packedAt: '2026-05-01T12:00:00.000Z',
  revision: '1777636800000-0badc0de',
  ciphertextHash: createHash('sha256').update('AAAA').digest('hex'),
  ciphertext: 'AAAA',
  envelope: {
    provider: 'aws',
    keyId: 'arn:aws:kms:eu-west-1:222222222222:key/9a8b7c6d-1111-2222-3333-444444444444',
    wrappedKey: 'AQID',
    algorithm: 'SYMMETRIC_DEFAULT',
    iv: Buffer.alloc(12, 1).toString('base64'),
    authTag: Buffer.alloc(16, 2).toString('base64'),
  },
};

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    if (err instanceof AttestedPackError) return err.code;
    throw err;
  }
  return 'no error';
}

function serialize(a: PackedArtifact): string {
  return JSON.stringify(a, null, 2);
}

describe('ECDSA P-256 / SHA-256', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  it('round-trips with a node-generated key: DER signature, verifies with the base64 SPKI', async () => {
    const signer = createEcdsaP256Signer(pkcs8B64(privateKey));
    const fields = await signArtifact(unsigned, signer);
    expect(fields.signatureAlgorithm).toBe('ECDSA_SHA256');
    const der = Buffer.from(fields.signature, 'base64');
    expect(der[0]).toBe(0x30); // DER SEQUENCE
    expect(der.length).toBeGreaterThanOrEqual(68);
    expect(der.length).toBeLessThanOrEqual(72);
    const signed = { ...unsigned, ...fields };
    const v = verifyArtifact(serialize(signed), { verifyKey: spkiB64(publicKey) });
    expect(v.signatureAlgorithm).toBe('ECDSA_SHA256');
    // Tampering with a signed field breaks it.
    expect(await codeOf(() => verifyArtifact(serialize({ ...signed, environment: 'staging' }), { verifyKey: spkiB64(publicKey) }))).toBe(
      'CLEF_SIGNATURE_INVALID',
    );
  });

  it('the KMS DIGEST model: SHA-256(payload) signed raw by an independent implementation verifies', async () => {
    const d = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
    const digests: string[] = [];
    const signer = createDigestSigner(async (digest) => {
      digests.push(Buffer.from(digest).toString('hex'));
      return p256.sign(digest, d, { prehash: false, format: 'der' });
    }, spkiB64(publicKey));
    const file = await packArtifact({
      identity: 'api-gateway',
      environment: 'production',
      plaintext: new TextEncoder().encode('{}'),
      envelope: { kind: 'kms', provider: 'aws', keyId: unsigned.envelope!.keyId },
      wrapKey: async (_dek, keyId) => ({ wrappedKey: 'AQID', keyId }),
      signer,
    });
    // Exactly Clef's signKms: the digest handed to KMS is SHA-256 of the clef-sig-v3 payload.
    expect(digests).toEqual([createHash('sha256').update(buildSigningPayload(file.artifact)).digest('hex')]);
    expect(verifyArtifact(file.bytes, { verifyKey: publicKey }).signatureAlgorithm).toBe('ECDSA_SHA256');
  });

  it('a raw r‖s (IEEE P1363) signature is not accepted: Clef and KMS use DER', async () => {
    const p1363 = nodeSign('sha256', buildSigningPayload(unsigned), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    const a = { ...unsigned, signature: p1363.toString('base64'), signatureAlgorithm: 'ECDSA_SHA256' as const };
    expect(await codeOf(() => verifyArtifact(serialize(a), { verifyKey: publicKey }))).toBe('CLEF_SIGNATURE_INVALID');
  });

  it('the signer self-check catches a KMS key that does not match the configured public key', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const signer = createDigestSigner(async (digest) => p256.sign(digest, Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url'), { prehash: false, format: 'der' }), other);
    expect(await codeOf(signArtifact(unsigned, signer))).toBe('CLEF_SIGNING_FAILED');
  });
});

describe('Ed25519', () => {
  it('signs with a PKCS#8 key and verifies with SPKI, KeyObject or PEM', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const signer = createEd25519Signer(pkcs8B64(privateKey));
    const signed = { ...unsigned, ...(await signArtifact(unsigned, signer)) };
    expect(Buffer.from(signed.signature, 'base64')).toHaveLength(64);
    for (const key of [spkiB64(publicKey), publicKey, publicKey.export({ type: 'spki', format: 'pem' }).toString(), privateKey]) {
      expect(verifyArtifact(serialize(signed), { verifyKey: key }).signatureAlgorithm).toBe('Ed25519');
    }
  });

  it('an ECDSA key cannot verify an Ed25519 signature, whatever signatureAlgorithm says', async () => {
    const signed = { ...unsigned, ...(await signArtifact(unsigned, createEd25519Signer(generateKeyPairSync('ed25519').privateKey))) };
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    expect(await codeOf(() => verifyArtifact(serialize({ ...signed, signatureAlgorithm: 'ECDSA_SHA256' }), { verifyKey: ec }))).toBe(
      'CLEF_SIGNATURE_INVALID',
    );
  });
});

describe('signer port failures', () => {
  const ed = createEd25519Signer(generateKeyPairSync('ed25519').privateKey);
  const cases: Array<[string, ArtifactSigner]> = [
    ['throws a plain error', { sign: () => Promise.reject(new Error('HSM offline')) }],
    ['answers with an unknown algorithm', { sign: () => ({ signature: new Uint8Array(64), algorithm: 'RSA' as never }) }],
    ['answers with a short Ed25519 signature', { sign: () => ({ signature: new Uint8Array(10), algorithm: 'Ed25519' }) }],
    ['answers with a 100-byte ECDSA signature', { sign: () => ({ signature: new Uint8Array(100), algorithm: 'ECDSA_SHA256' }) }],
    ['answers with non-base64 text', { sign: () => ({ signature: 'not base64!', algorithm: 'Ed25519' }) }],
    ['signs with another key than its public key', { publicKey: generateKeyPairSync('ed25519').publicKey, sign: (p) => ed.sign(p) }],
    ['claims ECDSA for an Ed25519 public key', { publicKey: ed.publicKey, sign: async (p) => ({ ...(await ed.sign(p)), algorithm: 'ECDSA_SHA256' as const }) }],
  ];
  it.each(cases)('a signer that %s → CLEF_SIGNING_FAILED', async (_name, signer) => {
    expect(await codeOf(signArtifact(unsigned, signer))).toBe('CLEF_SIGNING_FAILED');
  });

  it('a typed error from the signer (e.g. KMS access denied) passes through', async () => {
    class DemoKmsError extends AttestedPackError {}
    const denied = new DemoKmsError('KMS_ACCESS_DENIED', 'denied');
    expect(await signArtifact(unsigned, { sign: () => Promise.reject(denied) }).catch((e: unknown) => e)).toBe(denied);
  });

  it('accepts a base64 signature from the port', async () => {
    const fields = await signArtifact(unsigned, {
      sign: async (p) => ({ signature: Buffer.from((await ed.sign(p)).signature as Uint8Array).toString('base64'), algorithm: 'Ed25519' }),
      publicKey: ed.publicKey,
    });
    expect(fields.signatureAlgorithm).toBe('Ed25519');
  });
});

describe('keys that are refused', () => {
  it.each([
    ['garbage base64', 'not a key'],
    ['empty', ''],
    ['an RSA key', spkiB64(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey)],
    ['a P-384 key', spkiB64(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey)],
    ['an X25519 key', spkiB64(generateKeyPairSync('x25519').publicKey)],
    ['truncated DER', spkiB64(generateKeyPairSync('ed25519').publicKey).slice(0, 20)],
  ])('verify key: %s → CLEF_VERIFY_KEY_INVALID', (_name, key) => {
    let err: unknown;
    try {
      importVerifyKey(key);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ClefError);
    expect((err as ClefError).code).toBe('CLEF_VERIFY_KEY_INVALID');
  });

  it.each([
    ['garbage', () => createEd25519Signer('nope')],
    ['an EC key for Ed25519', () => createEd25519Signer(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey)],
    ['an Ed25519 key for ECDSA', () => createEcdsaP256Signer(generateKeyPairSync('ed25519').privateKey)],
    ['a public key', () => createEd25519Signer(generateKeyPairSync('ed25519').publicKey)],
    ['SPKI bytes instead of PKCS#8', () => createEd25519Signer(generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' }))],
  ])('signing key: %s → CLEF_SIGNING_KEY_INVALID', async (_name, make) => {
    expect(await codeOf(make)).toBe('CLEF_SIGNING_KEY_INVALID');
  });
});
