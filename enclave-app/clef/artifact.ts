/**
 * Clef packed artifact v1 (packages/core/src/artifact/types.ts; reference/clef-compat.md §2.4):
 * the type, its exact serialisation, and the `clef-sig-v3` signing payload (§2.5).
 */

/** KMS envelope of the DEK: every binary field is standard padded base64. */
export interface KmsEnvelope {
  provider: string;
  /** The resolved key ARN that wrapped the DEK (never the alias). */
  keyId: string;
  wrappedKey: string;
  algorithm: string;
  /** 12-byte AES-GCM IV. */
  iv: string;
  /** 16-byte AES-GCM tag, stored apart from the ciphertext. */
  authTag: string;
}

export type SignatureAlgorithm = 'Ed25519' | 'ECDSA_SHA256';
/** The two algorithms Clef writes into `signatureAlgorithm`. */
export const SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = ['Ed25519', 'ECDSA_SHA256'];

/** A packed artifact, fields in Clef's serialisation order. */
export interface PackedArtifact {
  version: 1;
  identity: string;
  environment: string;
  packedAt: string;
  revision: string;
  /** Lower-case hex SHA-256 of the base64 `ciphertext` string (no prefix). */
  ciphertextHash: string;
  /** base64 of the binary age file, or of the AES-256-GCM ciphertext without its tag. */
  ciphertext: string;
  envelope?: KmsEnvelope;
  expiresAt?: string;
  /** Only in revocation markers; not covered by the signature. */
  revokedAt?: string;
  signature?: string;
  /** Not covered by the signature; verifiers pick the algorithm from the key. */
  signatureAlgorithm?: SignatureAlgorithm;
}

/** The literal first line of the signing payload. */
export const SIGNATURE_PAYLOAD_VERSION = 'clef-sig-v3';

/**
 * The bytes a clef-sig-v3 signature covers: 14 fields joined by `\n`, absent optional fields
 * as `""`, no trailing newline. `ciphertext` is covered through `ciphertextHash`;
 * `revokedAt` and `signatureAlgorithm` are **not** covered (a known Clef weakness).
 */
export function buildSigningPayload(artifact: PackedArtifact): Uint8Array {
  const env = artifact.envelope;
  const fields = [
    SIGNATURE_PAYLOAD_VERSION,
    String(artifact.version),
    artifact.identity,
    artifact.environment,
    artifact.revision,
    artifact.packedAt,
    artifact.ciphertextHash,
    artifact.expiresAt ?? '',
    env?.provider ?? '',
    env?.keyId ?? '',
    env?.wrappedKey ?? '',
    env?.algorithm ?? '',
    env?.iv ?? '',
    env?.authTag ?? '',
  ];
  return new Uint8Array(Buffer.from(fields.join('\n'), 'utf8'));
}

/**
 * The artifact file text exactly as Clef writes it: `JSON.stringify(artifact, null, 2)` with
 * Clef's field order, absent optional fields omitted, no trailing newline.
 */
export function serializeArtifact(artifact: PackedArtifact): string {
  const ordered: Record<string, unknown> = {
    version: artifact.version,
    identity: artifact.identity,
    environment: artifact.environment,
    packedAt: artifact.packedAt,
    revision: artifact.revision,
    ciphertextHash: artifact.ciphertextHash,
    ciphertext: artifact.ciphertext,
  };
  if (artifact.envelope !== undefined) {
    const e = artifact.envelope;
    ordered.envelope = {
      provider: e.provider,
      keyId: e.keyId,
      wrappedKey: e.wrappedKey,
      algorithm: e.algorithm,
      iv: e.iv,
      authTag: e.authTag,
    };
  }
  if (artifact.expiresAt !== undefined) ordered.expiresAt = artifact.expiresAt;
  if (artifact.revokedAt !== undefined) ordered.revokedAt = artifact.revokedAt;
  if (artifact.signature !== undefined) ordered.signature = artifact.signature;
  if (artifact.signatureAlgorithm !== undefined) ordered.signatureAlgorithm = artifact.signatureAlgorithm;
  return JSON.stringify(ordered, null, 2);
}
