/**
 * clef-sig-v3 signers. The packer only sees the `ArtifactSigner` port, so the enclave can plug
 * in KMS `Sign` (ECDSA_SHA_256 over the SHA-256 digest, as Clef's `signKms`) or a sealed
 * Ed25519 key (as Clef's `signEd25519`: `crypto.sign(null, payload, pkcs8Key)`).
 */
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { asBuffer } from '../../common/bytes.js';
import { isAttestedPackError } from '../../common/errors.js';
import { SIGNATURE_ALGORITHMS, buildSigningPayload, type PackedArtifact, type SignatureAlgorithm } from './artifact.js';
import { fromBase64Strict, sha256, toBase64 } from './encoding.js';
import { ClefError } from './errors.js';
import { importVerifyKey, verifySignatureBytes, type VerifyKey, type VerifyKeyInput } from './verify-key.js';

/** What a signer returns: the raw signature (bytes, or base64 text) and its algorithm. */
export interface SignResult {
  signature: Uint8Array | string;
  algorithm: SignatureAlgorithm;
}

/** The signing port: signs the clef-sig-v3 payload bytes. */
export interface ArtifactSigner {
  sign(payload: Uint8Array): Promise<SignResult> | SignResult;
  /** The signer's public key; when present the packer verifies every signature before writing it. */
  readonly publicKey?: VerifyKeyInput;
}

/** A private key given as base64 DER PKCS#8 (Clef's `--signing-key`), DER bytes, PEM, or a KeyObject. */
export type SigningKeyInput = string | Uint8Array | KeyObject;

function loadPrivateKey(input: SigningKeyInput, expected: 'ed25519' | 'p256'): KeyObject {
  let key: KeyObject;
  try {
    if (typeof input === 'string') {
      if (input.trimStart().startsWith('-----BEGIN')) {
        key = createPrivateKey({ key: input, format: 'pem' });
      } else {
        const der = fromBase64Strict(input.trim());
        if (!der || der.byteLength === 0) throw new Error('not base64');
        key = createPrivateKey({ key: asBuffer(der), format: 'der', type: 'pkcs8' });
      }
    } else if (input instanceof Uint8Array) {
      key = createPrivateKey({ key: asBuffer(input), format: 'der', type: 'pkcs8' });
    } else {
      key = input;
    }
  } catch (err) {
    throw new ClefError('CLEF_SIGNING_KEY_INVALID', 'the signing key could not be loaded as a PKCS#8 private key', {
      hint: 'pass base64 DER PKCS#8, as `clef` and `attested-pack sealed-key create` print it',
      cause: err,
    });
  }
  const ok =
    key.type === 'private' &&
    (expected === 'ed25519'
      ? key.asymmetricKeyType === 'ed25519'
      : key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1');
  if (!ok) {
    throw new ClefError(
      'CLEF_SIGNING_KEY_INVALID',
      `the signing key is not a${expected === 'ed25519' ? 'n Ed25519' : ' P-256 EC'} private key`,
    );
  }
  return key;
}

/** A local Ed25519 signer (Clef's `--signing-key` mode, and the enclave's sealed key once unsealed). */
export function createEd25519Signer(privateKey: SigningKeyInput): ArtifactSigner & { publicKey: KeyObject } {
  const key = loadPrivateKey(privateKey, 'ed25519');
  return {
    publicKey: createPublicKey(key),
    sign: (payload) => ({ signature: new Uint8Array(sign(null, payload, key)), algorithm: 'Ed25519' }),
  };
}

/** A local ECDSA P-256/SHA-256 signer producing DER signatures, for tests and non-KMS setups. */
export function createEcdsaP256Signer(privateKey: SigningKeyInput): ArtifactSigner & { publicKey: KeyObject } {
  const key = loadPrivateKey(privateKey, 'p256');
  return {
    publicKey: createPublicKey(key),
    sign: (payload) => ({
      signature: new Uint8Array(sign('sha256', payload, { key, dsaEncoding: 'der' })),
      algorithm: 'ECDSA_SHA256',
    }),
  };
}

/**
 * Adapts a digest signer — KMS `Sign{SigningAlgorithm: ECDSA_SHA_256, MessageType: DIGEST}` —
 * to the port: it is handed SHA-256(payload), exactly what Clef's `signKms` sends, and must
 * return KMS's DER signature. Pass the key's public SPKI (KMS `GetPublicKey`) to self-check.
 */
export function createDigestSigner(
  signDigest: (digest: Uint8Array) => Promise<Uint8Array | string>,
  publicKey?: VerifyKeyInput,
): ArtifactSigner {
  return {
    ...(publicKey === undefined ? {} : { publicKey }),
    sign: async (payload) => ({ signature: await signDigest(sha256(payload)), algorithm: 'ECDSA_SHA256' }),
  };
}

/** Runs a signer over an artifact's payload; returns the two fields to add. */
export async function signArtifact(
  artifact: PackedArtifact,
  signer: ArtifactSigner,
): Promise<{ signature: string; signatureAlgorithm: SignatureAlgorithm }> {
  const payload = buildSigningPayload(artifact);
  let result: SignResult;
  try {
    result = await signer.sign(payload);
  } catch (err) {
    if (isAttestedPackError(err)) throw err;
    throw new ClefError('CLEF_SIGNING_FAILED', 'the artifact signer failed', { cause: err, category: 'unavailable' });
  }
  if (typeof result !== 'object' || result === null || !SIGNATURE_ALGORITHMS.includes(result.algorithm)) {
    throw new ClefError('CLEF_SIGNING_FAILED', "the signer answered without a valid algorithm ('Ed25519' or 'ECDSA_SHA256')");
  }
  const bytes = typeof result.signature === 'string' ? fromBase64Strict(result.signature) : result.signature;
  if (!(bytes instanceof Uint8Array)) throw new ClefError('CLEF_SIGNING_FAILED', 'the signer returned a signature that is not base64 or bytes');
  const sizeOk = result.algorithm === 'Ed25519' ? bytes.byteLength === 64 : bytes.byteLength >= 8 && bytes.byteLength <= 72;
  if (!sizeOk) {
    throw new ClefError('CLEF_SIGNING_FAILED', `the signer returned a ${bytes.byteLength}-byte ${result.algorithm} signature`, {
      hint: result.algorithm === 'ECDSA_SHA256' ? 'KMS ECDSA signatures are DER, 70–72 bytes for P-256' : 'Ed25519 signatures are 64 bytes',
    });
  }
  if (signer.publicKey !== undefined) {
    let key: VerifyKey;
    try {
      key = importVerifyKey(signer.publicKey);
    } catch (err) {
      throw new ClefError('CLEF_SIGNING_FAILED', "the signer's public key is unusable", { cause: err });
    }
    if (key.algorithm !== result.algorithm || !verifySignatureBytes(payload, bytes, key)) {
      throw new ClefError('CLEF_SIGNING_FAILED', "the new signature does not verify under the signer's own public key", {
        hint: 'the signing key and the configured public key differ, or the signer signed something else',
      });
    }
  }
  return { signature: toBase64(bytes), signatureAlgorithm: result.algorithm };
}
