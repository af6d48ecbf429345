/**
 * The host↔enclave protocol, defined once. Frames are a 4-byte big-endian length plus a CBOR
 * body (codec in vsock/frames.ts); every body is an `Envelope`. The host sends requests with
 * increasing ids; the enclave answers each with the same id, type `<type>.ok` or `error`.
 * Everything here is ciphertext, metadata or public material: plaintext never crosses.
 */

export const PROTOCOL_VERSION = 1;
/** Largest frame body either side accepts (16 MiB). */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

/**
 * Limits of one pack request, enforced by the enclave (pack/validate.ts), the proxy's HTTP
 * schema and the `pack` client's flags alike, and listed in docs/reference.md.
 */
export const PACK_LIMITS = Object.freeze({
  /** SOPS files per request (besides clef.yaml). */
  maxFiles: 1000,
  /** Characters of a repo-relative path. */
  maxPathLength: 1024,
  /** Bytes of the caller's nonce (it becomes the attestation document's nonce, which NSM caps at 512). */
  minNonceBytes: 1,
  maxNonceBytes: 512,
  /** Artifact lifetime (`ttlSeconds`, `--ttl`): one year of 365 days. */
  maxTtlSeconds: 365 * 86_400,
});

export type RequestType = 'hello' | 'pack' | 'attest' | 'health' | 'unseal';
export type ResponseType = `${RequestType}.ok` | 'error';

/** One frame body. `v` is the protocol version the sender speaks. */
export interface Envelope<T extends string = string, B = unknown> {
  v: number;
  id: number;
  type: T;
  body: B;
}

/** First message on a connection: both sides state the versions they speak. */
export interface HelloRequest {
  versions: number[];
  client: string;
}
export interface HelloResponse {
  version: number;
  server: string;
}

/** AWS credentials forwarded by the host for one request (never stored by the enclave). */
export interface ForwardedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  region: string;
}

export interface PackFile {
  /** Repo-relative POSIX path, as in clef.yaml's file_pattern. */
  path: string;
  content: Uint8Array;
}

export type SigningMode = 'kms' | 'sealed' | 'none';

export interface PackRequest {
  identity: string;
  environment: string;
  commit: string;
  repository: string;
  /** Caller's nonce (1..512 bytes); becomes the attestation document's nonce. */
  nonce: Uint8Array;
  /** Authenticated caller, as the host proxy saw it. */
  requestedBy: string;
  manifest: PackFile;
  files: PackFile[];
  options: {
    /** Artifact lifetime in seconds (sets `expiresAt`); absent → no expiry. */
    ttlSeconds?: number;
    signing: SigningMode;
  };
  credentials?: ForwardedCredentials;
}

export interface PackResponse {
  /** The artifact file bytes (Clef packed artifact v1 JSON). */
  artifact: Uint8Array;
  /** The receipt JSON bytes. */
  receipt: Uint8Array;
}

export interface AttestRequest {
  nonce?: Uint8Array;
  userData?: Uint8Array;
}
export interface AttestResponse {
  /** COSE_Sign1 attestation document bytes. */
  document: Uint8Array;
}

/**
 * A sealed Ed25519 signing key: its PKCS#8 private half encrypted under a KMS key whose policy
 * allows Decrypt only with Recipient conditions on this enclave's measurements.
 * Made by `attested-pack sealed-key create`.
 */
export interface SealedSigningKey {
  /** KMS key ARN that sealed it. */
  kmsKeyId: string;
  /** KMS ciphertext blob of the PKCS#8 DER private key. */
  ciphertextBlob: Uint8Array;
  /** SPKI DER of the public half (the artifact verify key). */
  publicKey: Uint8Array;
}

/** Sent by the host after connecting (and after an enclave restart) to enable `sealed` signing. */
export interface UnsealRequest {
  sealedKey: SealedSigningKey;
  credentials?: ForwardedCredentials;
}
export interface UnsealResponse {
  /** SPKI DER of the now-usable signing key (equals sealedKey.publicKey). */
  publicKey: Uint8Array;
}

export interface HealthResponse {
  status: 'ok' | 'degraded';
  version: string;
  inFlight: number;
  /** Whether the signing key is unsealed (mode `sealed`). */
  signingReady: boolean;
}

/** Error body: a stable code and a message that never holds plaintext. */
export interface ErrorResponse {
  code: string;
  message: string;
  hint?: string;
  /** Error category (see common/errors.ts) so the host maps it to an HTTP status. */
  category: 'rejected' | 'input' | 'unavailable' | 'internal';
}

/** The type tag of the JSON file `attested-pack sealed-key create` writes. */
export const SEALED_KEY_FILE_TYPE = 'attested-pack/sealed-ed25519/v1';

/** The sealed-key file on disk (blobs base64); parsed into a `SealedSigningKey`. */
export interface SealedKeyFile {
  type: typeof SEALED_KEY_FILE_TYPE;
  kmsKeyId: string;
  ciphertextBlob: string;
  publicKey: string;
}

/**
 * Parses a sealed-key file strictly. Returns the reason as a string instead of throwing, so the
 * enclave tooling and the host proxy can each raise their own typed error naming the file.
 */
export function parseSealedKeyFile(text: string): { ok: true; key: SealedSigningKey } | { ok: false; reason: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'is not JSON' };
  }
  const o = (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {}) as Record<string, unknown>;
  if (o.type !== SEALED_KEY_FILE_TYPE) return { ok: false, reason: `has no "type": "${SEALED_KEY_FILE_TYPE}"` };
  if (typeof o.kmsKeyId !== 'string' || !o.kmsKeyId.startsWith('arn:')) return { ok: false, reason: 'has no "kmsKeyId" ARN' };
  const blobs: Partial<Record<'ciphertextBlob' | 'publicKey', Uint8Array>> = {};
  for (const field of ['ciphertextBlob', 'publicKey'] as const) {
    const s = o[field];
    if (typeof s !== 'string' || s.length === 0 || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(s)) {
      return { ok: false, reason: `has no base64 "${field}"` };
    }
    blobs[field] = new Uint8Array(Buffer.from(s, 'base64'));
  }
  return { ok: true, key: { kmsKeyId: o.kmsKeyId, ciphertextBlob: blobs.ciphertextBlob!, publicKey: blobs.publicKey! } };
}
