/**
 * Strict parser and verifier of Clef packed artifacts v1, used by verify-receipt and by tests.
 * It reads as the runtime's checks in the runtime's order (reference/clef-compat.md §2.6),
 * each a small step that returns what the next needs or throws a `ClefError`:
 *
 *   decodeText → parseJson → refuseRevoked → checkShape → checkExpiry → checkCiphertextHash → checkSignature
 *
 * It is stricter than Clef's shape guard where Clef's own writer never deviates (canonical
 * base64, 12-byte IV, 16-byte tag, lower-case 64-hex `ciphertextHash`, ISO timestamps), and it
 * fails closed: asking for verification without a verify key is an error unless the caller
 * explicitly skips the signature. Unknown extra fields are tolerated, as Clef does.
 */
import { createHash } from 'node:crypto';
import {
  SIGNATURE_ALGORITHMS,
  buildSigningPayload,
  type KmsEnvelope,
  type PackedArtifact,
  type SignatureAlgorithm,
} from './artifact.js';
import { fromBase64Strict, isIsoTimestamp, sha256HexOfString } from './encoding.js';
import { ClefError } from './errors.js';
import { importVerifyKey, verifySignatureBytes, type VerifyKey, type VerifyKeyInput } from './verify-key.js';

/** Largest artifact file accepted (the host↔enclave frame limit is 16 MiB). */
export const MAX_ARTIFACT_BYTES = 16 * 1024 * 1024;

/** A parsed, shape-checked artifact; `raw` keeps every field, including unknown ones. */
export interface ParsedArtifact {
  artifact: PackedArtifact;
  raw: Readonly<Record<string, unknown>>;
}

export interface VerifyArtifactOptions {
  /** The expected signer's public key. Required unless `skipSignature` is true. */
  verifyKey?: VerifyKeyInput | VerifyKey;
  /** Explicitly accept the artifact without checking any signature (Clef's runtime without a verify key). */
  skipSignature?: boolean;
  /** When given, an `expiresAt` at or before this instant is refused. */
  now?: Date | number;
}

/** What verification established. */
export interface VerifiedArtifact extends ParsedArtifact {
  /** The clef-sig-v3 payload bytes and their SHA-256 (hex). */
  payload: Uint8Array;
  payloadSha256: string;
  /** The verified signature's algorithm (from the key), or null when the signature was skipped. */
  signatureAlgorithm: SignatureAlgorithm | null;
}

function invalid(field: string, why: string): ClefError {
  return new ClefError('CLEF_ARTIFACT_INVALID', `artifact field '${field}' ${why}`, {
    hint: 'the file is not a Clef packed artifact v1, or it was altered',
    details: { field },
  });
}

/** Parses artifact JSON and checks its shape; throws `CLEF_ARTIFACT_INVALID` / `CLEF_ARTIFACT_REVOKED`. */
export function parseArtifact(input: string | Uint8Array): ParsedArtifact {
  const text = decodeText(input);
  const value = parseJson(text);
  refuseRevoked(value);
  return { artifact: checkShape(value), raw: value };
}

/** Parses and verifies an artifact: shape, expiry, ciphertextHash, then the clef-sig-v3 signature. */
export function verifyArtifact(input: string | Uint8Array | ParsedArtifact, options: VerifyArtifactOptions): VerifiedArtifact {
  const key = resolveVerifyKey(options);
  const parsed = typeof input === 'string' || input instanceof Uint8Array ? parseArtifact(input) : input;
  const { artifact } = parsed;
  if (options.now !== undefined) checkExpiry(artifact, options.now);
  checkCiphertextHash(artifact);
  const payload = buildSigningPayload(artifact);
  const signatureAlgorithm = key === null ? null : checkSignature(artifact, payload, key);
  return {
    ...parsed,
    payload,
    payloadSha256: createHash('sha256').update(payload).digest('hex'),
    signatureAlgorithm,
  };
}

function resolveVerifyKey(options: VerifyArtifactOptions): VerifyKey | null {
  if (options.verifyKey === undefined) {
    if (options.skipSignature === true) return null;
    throw new ClefError('CLEF_VERIFY_KEY_REQUIRED', 'no verify key was given, so the artifact signature cannot be checked', {
      hint: 'pass the signer public key (base64 SPKI), or skip the signature check explicitly',
    });
  }
  const k = options.verifyKey;
  if (typeof k === 'object' && k !== null && 'algorithm' in k && 'key' in k && 'spki' in k) return k;
  return importVerifyKey(k as VerifyKeyInput);
}

function decodeText(input: string | Uint8Array): string {
  if (typeof input === 'string') {
    if (input.length > MAX_ARTIFACT_BYTES) throw invalid('(file)', `is larger than ${MAX_ARTIFACT_BYTES} bytes`);
    return input;
  }
  if (!(input instanceof Uint8Array)) throw invalid('(file)', 'is neither text nor bytes');
  if (input.byteLength > MAX_ARTIFACT_BYTES) throw invalid('(file)', `is larger than ${MAX_ARTIFACT_BYTES} bytes`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(input);
  } catch {
    throw invalid('(file)', 'is not valid UTF-8');
  }
}

function parseJson(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid('(file)', 'is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('(file)', 'is not a JSON object');
  return value as Record<string, unknown>;
}

/** Clef's runtime refuses anything with a truthy `revokedAt` before any other check. */
function refuseRevoked(o: Record<string, unknown>): void {
  if (o.revokedAt) {
    throw new ClefError('CLEF_ARTIFACT_REVOKED', 'the artifact is a revocation marker (revokedAt is set)', {
      hint: 'note: revokedAt is not covered by the signature, so anyone who can write the artifact store can set it',
      details: { revokedAt: typeof o.revokedAt === 'string' ? o.revokedAt : String(typeof o.revokedAt) },
    });
  }
}

function str(o: Record<string, unknown>, field: string, nonEmpty: boolean, label = field): string {
  const v = o[field];
  if (typeof v !== 'string') throw invalid(label, v === undefined ? 'is missing' : 'must be a string');
  if (nonEmpty && v === '') throw invalid(label, 'must not be empty');
  return v;
}

function b64(o: Record<string, unknown>, field: string, label: string, size?: number): string {
  const v = str(o, field, true, label);
  const bytes = fromBase64Strict(v);
  if (!bytes) throw invalid(label, 'is not canonical standard base64');
  if (size !== undefined && bytes.byteLength !== size) throw invalid(label, `must decode to ${size} bytes, not ${bytes.byteLength}`);
  return v;
}

function checkShape(o: Record<string, unknown>): PackedArtifact {
  if (o.version !== 1) throw invalid('version', 'must be the number 1');
  const identity = str(o, 'identity', true);
  const environment = str(o, 'environment', true);
  const packedAt = str(o, 'packedAt', false);
  if (!isIsoTimestamp(packedAt)) throw invalid('packedAt', 'must be an ISO-8601 timestamp like 2026-03-22T10:00:00.000Z');
  const revision = str(o, 'revision', true);
  const ciphertextHash = str(o, 'ciphertextHash', true);
  if (!/^[0-9a-f]{64}$/.test(ciphertextHash)) throw invalid('ciphertextHash', 'must be 64 lower-case hex digits (no prefix)');
  const ciphertext = b64(o, 'ciphertext', 'ciphertext');

  const artifact: PackedArtifact = { version: 1, identity, environment, packedAt, revision, ciphertextHash, ciphertext };
  if (o.envelope !== undefined) artifact.envelope = checkEnvelope(o.envelope);
  if (o.expiresAt !== undefined) {
    const expiresAt = str(o, 'expiresAt', false);
    if (!isIsoTimestamp(expiresAt)) throw invalid('expiresAt', 'must be an ISO-8601 timestamp');
    artifact.expiresAt = expiresAt;
  }
  if (o.revokedAt !== undefined) artifact.revokedAt = str(o, 'revokedAt', false);
  if (o.signature !== undefined) artifact.signature = b64(o, 'signature', 'signature');
  if (o.signatureAlgorithm !== undefined) {
    const alg = o.signatureAlgorithm;
    if (typeof alg !== 'string' || !(SIGNATURE_ALGORITHMS as readonly string[]).includes(alg)) {
      throw invalid('signatureAlgorithm', `must be one of ${SIGNATURE_ALGORITHMS.join(', ')}`);
    }
    artifact.signatureAlgorithm = alg as SignatureAlgorithm;
  }
  return artifact;
}

function checkEnvelope(value: unknown): KmsEnvelope {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('envelope', 'must be an object');
  const e = value as Record<string, unknown>;
  // The runtime requires all six fields to be non-empty strings; we also check their encodings.
  const provider = str(e, 'provider', true, 'envelope.provider');
  const keyId = str(e, 'keyId', true, 'envelope.keyId');
  const wrappedKey = b64(e, 'wrappedKey', 'envelope.wrappedKey');
  const algorithm = str(e, 'algorithm', true, 'envelope.algorithm');
  const iv = b64(e, 'iv', 'envelope.iv', 12);
  const authTag = b64(e, 'authTag', 'envelope.authTag', 16);
  return { provider, keyId, wrappedKey, algorithm, iv, authTag };
}

function checkExpiry(artifact: PackedArtifact, now: Date | number): void {
  if (artifact.expiresAt === undefined) return;
  const nowMs = typeof now === 'number' ? now : now.getTime();
  if (Date.parse(artifact.expiresAt) <= nowMs) {
    throw new ClefError('CLEF_ARTIFACT_EXPIRED', `the artifact expired at ${artifact.expiresAt}`, {
      hint: 'pack a fresh artifact',
      details: { expiresAt: artifact.expiresAt },
    });
  }
}

function checkCiphertextHash(artifact: PackedArtifact): void {
  const actual = sha256HexOfString(artifact.ciphertext);
  if (actual !== artifact.ciphertextHash) {
    throw new ClefError('CLEF_CIPHERTEXT_HASH_MISMATCH', 'sha256(ciphertext) does not match ciphertextHash: the ciphertext was changed', {
      details: { expected: artifact.ciphertextHash, actual },
    });
  }
}

function checkSignature(artifact: PackedArtifact, payload: Uint8Array, key: VerifyKey): SignatureAlgorithm {
  if (artifact.signature === undefined) {
    throw new ClefError('CLEF_SIGNATURE_MISSING', 'the artifact is unsigned but a signature is required', {
      hint: 'pack with a signing key, or skip the signature check explicitly',
    });
  }
  const signature = fromBase64Strict(artifact.signature);
  if (!signature || !verifySignatureBytes(payload, signature, key)) {
    throw new ClefError('CLEF_SIGNATURE_INVALID', `the clef-sig-v3 signature does not verify under the given ${key.algorithm} key`, {
      hint: 'a signed field was changed after signing, or the artifact was signed by a different key',
      details: { keyAlgorithm: key.algorithm, declaredAlgorithm: artifact.signatureAlgorithm ?? null },
    });
  }
  return key.algorithm;
}
