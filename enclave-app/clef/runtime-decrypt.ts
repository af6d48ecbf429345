/**
 * What a stock Clef runtime does to open an artifact (packages/runtime/src/artifact-decryptor.ts;
 * reference/clef-compat.md §2.6 step 8), written apart from the writer so tests check one
 * against the other: KMS envelope → unwrap the DEK with the artifact's own provider/keyId/
 * algorithm, then AES-256-GCM with iv and authTag; otherwise age with an X25519 identity.
 * The unwrapped DEK is zeroised here; the returned plaintext is the caller's to zeroise.
 */
import { createDecipheriv, createHash } from 'node:crypto';
import { Decrypter } from 'age-encryption';
import { zeroize } from '../../common/bytes.js';
import { isAttestedPackError } from '../../common/errors.js';
import type { PackedArtifact } from './artifact.js';
import { fromBase64Strict } from './encoding.js';
import { ClefError } from './errors.js';

/** What the unwrap port receives: the runtime's KMS `Decrypt{KeyId, CiphertextBlob, EncryptionAlgorithm}`. */
export interface UnwrapKeyRequest {
  provider: string;
  keyId: string;
  wrappedKey: Uint8Array;
  algorithm: string;
}

/** Unwraps the DEK (KMS `Decrypt`). Must return a fresh buffer: it is zeroised after use. */
export type UnwrapKeyPort = (request: UnwrapKeyRequest) => Promise<Uint8Array>;

export interface DecryptArtifactOptions {
  /** Needed for artifacts with an `envelope`. */
  unwrapKey?: UnwrapKeyPort;
  /** `AGE-SECRET-KEY-1…` identities, needed for age artifacts. */
  ageIdentities?: readonly string[];
}

function decryptFailed(message: string, cause?: unknown): ClefError {
  return new ClefError('CLEF_DECRYPT_FAILED', message, cause === undefined ? {} : { cause });
}

function decode(text: string, what: string): Uint8Array {
  const bytes = fromBase64Strict(text);
  if (!bytes) throw new ClefError('CLEF_ARTIFACT_INVALID', `${what} is not canonical base64`, { details: { field: what } });
  return bytes;
}

/** Decrypts an artifact's ciphertext the way Clef's runtime does; returns the plaintext bytes. */
export async function decryptArtifact(artifact: PackedArtifact, options: DecryptArtifactOptions): Promise<Uint8Array> {
  // The runtime checks integrity before decrypting; so do we, independently of verify.ts.
  if (createHash('sha256').update(artifact.ciphertext, 'utf8').digest('hex') !== artifact.ciphertextHash) {
    throw new ClefError('CLEF_CIPHERTEXT_HASH_MISMATCH', 'sha256(ciphertext) does not match ciphertextHash');
  }
  const ciphertext = decode(artifact.ciphertext, 'ciphertext');
  return artifact.envelope === undefined
    ? decryptAge(ciphertext, options.ageIdentities)
    : decryptEnvelope(artifact.envelope, ciphertext, options.unwrapKey);
}

async function decryptEnvelope(
  envelope: NonNullable<PackedArtifact['envelope']>,
  ciphertext: Uint8Array,
  unwrapKey: UnwrapKeyPort | undefined,
): Promise<Uint8Array> {
  if (unwrapKey === undefined) throw decryptFailed('the artifact has a KMS envelope but no unwrap function was given');
  const iv = decode(envelope.iv, 'envelope.iv');
  const tag = decode(envelope.authTag, 'envelope.authTag');
  if (iv.byteLength !== 12 || tag.byteLength !== 16) throw decryptFailed('envelope iv must be 12 bytes and authTag 16 bytes');
  let dek: Uint8Array | undefined;
  try {
    try {
      dek = await unwrapKey({
        provider: envelope.provider,
        keyId: envelope.keyId,
        wrappedKey: decode(envelope.wrappedKey, 'envelope.wrappedKey'),
        algorithm: envelope.algorithm,
      });
    } catch (err) {
      if (isAttestedPackError(err)) throw err;
      throw decryptFailed(`unwrapping the data key with ${envelope.keyId} failed`, err);
    }
    if (!(dek instanceof Uint8Array) || dek.byteLength !== 32) throw decryptFailed('the unwrapped data key is not 32 bytes');
    const decipher = createDecipheriv('aes-256-gcm', dek, iv, { authTagLength: 16 });
    decipher.setAuthTag(tag);
    const head = decipher.update(ciphertext);
    let tail: Buffer;
    try {
      tail = decipher.final();
    } catch (err) {
      zeroize(head);
      throw decryptFailed('AES-256-GCM authentication failed: wrong data key, or ciphertext/iv/authTag altered', err);
    }
    const out = new Uint8Array(head.byteLength + tail.byteLength);
    out.set(head, 0);
    out.set(tail, head.byteLength);
    zeroize(head, tail);
    return out;
  } finally {
    zeroize(dek);
  }
}

async function decryptAge(ciphertext: Uint8Array, identities: readonly string[] | undefined): Promise<Uint8Array> {
  if (identities === undefined || identities.length === 0) throw decryptFailed('the artifact is age-encrypted but no age identity was given');
  const decrypter = new Decrypter();
  try {
    for (const id of identities) decrypter.addIdentity(id);
    return await decrypter.decrypt(ciphertext);
  } catch (err) {
    throw decryptFailed('age decryption failed: no matching identity, or the age file is corrupt', err);
  }
}

/** Clef's plaintext as data: `{namespace: {key: value}}` with string values, null-prototype maps. */
export type ClefPlaintext = Record<string, Record<string, string>>;

/** Parses decrypted plaintext and checks it is Clef's nested map of strings. */
export function parseClefPlaintext(plaintext: Uint8Array): ClefPlaintext {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plaintext));
  } catch {
    throw new ClefError('CLEF_PLAINTEXT_INVALID', 'the decrypted payload is not UTF-8 JSON');
  }
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isMap(value)) throw new ClefError('CLEF_PLAINTEXT_INVALID', 'the decrypted payload is not a JSON object');
  const out = Object.create(null) as ClefPlaintext;
  for (const [ns, entries] of Object.entries(value)) {
    if (!isMap(entries)) {
      throw new ClefError('CLEF_PLAINTEXT_INVALID', `namespace '${ns}' is not an object (a flat pre-2026-04 payload?)`, {
        details: { namespace: ns },
      });
    }
    const bucket = Object.create(null) as Record<string, string>;
    for (const [key, v] of Object.entries(entries)) {
      if (typeof v !== 'string') {
        throw new ClefError('CLEF_PLAINTEXT_INVALID', `value of '${ns}.${key}' is not a string`, { details: { namespace: ns, key } });
      }
      bucket[key] = v;
    }
    out[ns] = bucket;
  }
  return out;
}
