/**
 * The packed-artifact v1 writer, both paths of Clef's packer (reference/clef-compat.md §2.2–2.4):
 *
 * - **KMS envelope**: a fresh 32-byte DEK and 12-byte IV, AES-256-GCM with no AAD, the tag
 *   stored apart in `envelope.authTag`, the DEK wrapped by the `wrapKey` port (KMS `Encrypt`,
 *   SYMMETRIC_DEFAULT, no encryption context) and the **resolved** key ARN recorded;
 * - **age**: the binary age v1 file for the manifest's recipient(s), base64, no envelope.
 *
 * Then `ciphertextHash`, optional `expiresAt` (before signing), optional clef-sig-v3
 * signature, and `JSON.stringify(artifact, null, 2)`. Time and randomness are injectable so
 * the golden vector can be reproduced byte for byte. The DEK is zeroised in every case.
 */
import { createCipheriv, createHash, randomBytes as nodeRandomBytes } from 'node:crypto';
import { Encrypter } from 'age-encryption';
import { toHex, zeroize } from '../../common/bytes.js';
import { isAttestedPackError } from '../../common/errors.js';
import { serializeArtifact, type KmsEnvelope, type PackedArtifact } from './artifact.js';
import { parseAwsKmsArn } from './aws-arn.js';
import { fromBase64Strict, isIsoTimestamp, sha256HexOfString, toBase64 } from './encoding.js';
import { ClefError } from './errors.js';
import type { EnvelopeConfig } from './scope.js';
import { signArtifact, type ArtifactSigner } from './signer.js';

/** What the KMS wrap port answers: the `CiphertextBlob`, the resolved key ARN (`EncryptResponse.KeyId`), the algorithm. */
export interface WrapKeyResult {
  /** Raw CiphertextBlob bytes, or its base64 text. */
  wrappedKey: Uint8Array | string;
  /** The key ARN KMS reports (resolved from an alias), recorded in the artifact. */
  keyId: string;
  /** Defaults per provider: aws SYMMETRIC_DEFAULT, gcp GOOGLE_SYMMETRIC_ENCRYPTION, azure RSA-OAEP-256. */
  algorithm?: string;
}

/**
 * The KMS wrap port: KMS `Encrypt{KeyId, Plaintext: dek, EncryptionAlgorithm: SYMMETRIC_DEFAULT}`
 * with no encryption context. The DEK buffer is zeroised when the promise settles: copy it if
 * you need it later.
 */
export type WrapKeyPort = (dek: Uint8Array, keyId: string) => Promise<WrapKeyResult>;

/**
 * A data key drawn and sent to the wrap port before the plaintext exists, so KMS `Encrypt` runs
 * while the SOPS files are still being decrypted instead of after them (see `startKmsWrap`).
 * `packArtifact` takes it over: it encrypts with `dek` and zeroises it. A caller that never
 * reaches `packArtifact` must call `discard()`, which waits for the wrap to settle (no KMS call
 * outlives a pack) and zeroises the key.
 */
export interface PendingKmsWrap {
  /** The KMS key the DEK is being wrapped under (must equal the envelope's). */
  readonly keyId: string;
  readonly dek: Uint8Array;
  /** The wrap port's answer; never rejects unhandled (the failure is re-thrown where it is awaited). */
  readonly wrapped: Promise<WrapKeyResult>;
  /** Waits for the wrap to settle (ignoring its outcome) and zeroises the DEK. */
  discard(): Promise<void>;
}

/**
 * Draws the artifact's DEK and starts wrapping it with the KMS wrap port at once. The DEK is
 * random and independent of the plaintext, so nothing is learnt or chosen earlier than before;
 * only the round trip moves off the critical path.
 */
export function startKmsWrap(o: { keyId: string; wrapKey: WrapKeyPort; dek?: Uint8Array; randomBytes?: (size: number) => Uint8Array }): PendingKmsWrap {
  const dek = o.dek !== undefined ? ownedFixed(o.dek, 32, 'dek') : randomOf(o, 32);
  let wrapped: Promise<WrapKeyResult>;
  try {
    wrapped = o.wrapKey(dek, o.keyId);
  } catch (err) {
    wrapped = Promise.reject(err);
  }
  // Observed here so an early failure is not an unhandled rejection; awaited (and thrown) by packArtifact.
  wrapped.catch(() => undefined);
  return {
    keyId: o.keyId,
    dek,
    wrapped,
    async discard() {
      await wrapped.then(
        () => undefined,
        () => undefined,
      );
      zeroize(dek);
    },
  };
}

export interface PackArtifactOptions {
  identity: string;
  environment: string;
  /** UTF-8 of the merged plaintext (see merge.ts). Not modified; the caller zeroises it. */
  plaintext: Uint8Array;
  envelope: EnvelopeConfig;
  /** Required for the KMS path (unless `pendingWrap` is given). */
  wrapKey?: WrapKeyPort;
  /** A DEK already being wrapped (`startKmsWrap`); taken over and zeroised. Excludes `wrapKey` and `dek`. */
  pendingWrap?: PendingKmsWrap;
  /** Absent → unsigned artifact. */
  signer?: ArtifactSigner;
  /** Lifetime in whole seconds ≥ 1; sets `expiresAt = now + ttl`. */
  ttlSeconds?: number;
  /** Epoch milliseconds; default `Date.now`. */
  now?: () => number;
  /** Source of the DEK, IV and revision suffix; default `crypto.randomBytes`. */
  randomBytes?: (size: number) => Uint8Array;
  /** Fixed inputs for reproducible output (tests, golden vectors). The caller keeps and zeroises its own `dek`. */
  dek?: Uint8Array;
  iv?: Uint8Array;
  packedAt?: string;
  revision?: string;
  expiresAt?: string;
}

/** A packed artifact and the exact bytes to write. */
export interface PackedArtifactFile {
  artifact: PackedArtifact;
  /** `JSON.stringify(artifact, null, 2)`, no trailing newline. */
  json: string;
  /** UTF-8 of `json`: the file. */
  bytes: Uint8Array;
  /** Lower-case hex SHA-256 of `bytes` (the receipt's artifact digest). */
  sha256: string;
}

const REVISION_RE = /^\d+-[0-9a-f]{8}$/;

function badInput(message: string): ClefError {
  return new ClefError('CLEF_PACK_INPUT_INVALID', message);
}

/** Packs plaintext into a Clef packed artifact v1 (KMS envelope or age), optionally signed. */
export async function packArtifact(options: PackArtifactOptions): Promise<PackedArtifactFile> {
  let timing: ReturnType<typeof resolveTiming>;
  try {
    timing = resolveTiming(options);
    if (options.pendingWrap !== undefined && options.envelope.kind !== 'kms') throw badInput('a pending KMS wrap was given for an age envelope');
  } catch (err) {
    await options.pendingWrap?.discard();
    throw err;
  }
  const { ciphertext, envelope } =
    options.envelope.kind === 'kms'
      ? await encryptWithKmsEnvelope(options, options.envelope)
      : await encryptWithAge(options.plaintext, options.envelope.recipients);

  const artifact: PackedArtifact = {
    version: 1,
    identity: options.identity,
    environment: options.environment,
    packedAt: timing.packedAt,
    revision: timing.revision,
    ciphertextHash: sha256HexOfString(ciphertext),
    ciphertext,
    ...(envelope === undefined ? {} : { envelope }),
    ...(timing.expiresAt === undefined ? {} : { expiresAt: timing.expiresAt }),
  };
  if (options.signer !== undefined) Object.assign(artifact, await signArtifact(artifact, options.signer));

  const json = serializeArtifact(artifact);
  const bytes = new Uint8Array(Buffer.from(json, 'utf8'));
  return { artifact, json, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

function resolveTiming(o: PackArtifactOptions): { packedAt: string; revision: string; expiresAt?: string } {
  if (typeof o.identity !== 'string' || o.identity === '') throw badInput('identity must be a non-empty string');
  if (typeof o.environment !== 'string' || o.environment === '') throw badInput('environment must be a non-empty string');
  if (!(o.plaintext instanceof Uint8Array)) throw badInput('plaintext must be bytes');
  if (o.ttlSeconds !== undefined && (!Number.isSafeInteger(o.ttlSeconds) || o.ttlSeconds < 1)) {
    throw badInput('ttlSeconds must be a positive whole number of seconds');
  }
  if (o.ttlSeconds !== undefined && o.expiresAt !== undefined) throw badInput('give ttlSeconds or expiresAt, not both');
  const nowMs = (o.now ?? Date.now)();
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) throw badInput('the clock returned an invalid time');

  const packedAt = o.packedAt ?? new Date(nowMs).toISOString();
  if (!isIsoTimestamp(packedAt)) throw badInput('packedAt must be an ISO-8601 timestamp like 2026-03-22T10:00:00.000Z');

  let revision = o.revision;
  if (revision === undefined) {
    const suffix = randomOf(o, 4);
    revision = `${nowMs}-${toHex(suffix)}`;
  }
  if (!REVISION_RE.test(revision)) throw badInput("revision must look like '<epoch-ms>-<8 hex>'");

  let expiresAt = o.expiresAt;
  if (o.ttlSeconds !== undefined) expiresAt = new Date(nowMs + o.ttlSeconds * 1000).toISOString();
  if (expiresAt !== undefined && !isIsoTimestamp(expiresAt)) throw badInput('expiresAt must be an ISO-8601 timestamp');
  return { packedAt, revision, ...(expiresAt === undefined ? {} : { expiresAt }) };
}

function randomOf(o: { randomBytes?: (size: number) => Uint8Array }, size: number): Uint8Array {
  const bytes = (o.randomBytes ?? ((n: number) => new Uint8Array(nodeRandomBytes(n))))(size);
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== size) throw badInput(`randomBytes(${size}) returned the wrong size`);
  return bytes;
}

/** Copies a fixed input or draws fresh random bytes, into a buffer this module owns and zeroises. */
function ownedBytes(o: PackArtifactOptions, fixed: Uint8Array | undefined, size: number, name: string): Uint8Array {
  if (fixed !== undefined) return ownedFixed(fixed, size, name);
  return randomOf(o, size);
}

function ownedFixed(fixed: Uint8Array, size: number, name: string): Uint8Array {
  if (!(fixed instanceof Uint8Array) || fixed.byteLength !== size) throw badInput(`${name} must be ${size} bytes`);
  return new Uint8Array(fixed);
}

const DEFAULT_WRAP_ALGORITHM: Record<string, string> = {
  aws: 'SYMMETRIC_DEFAULT',
  gcp: 'GOOGLE_SYMMETRIC_ENCRYPTION',
  azure: 'RSA-OAEP-256',
};

async function encryptWithKmsEnvelope(
  o: PackArtifactOptions,
  config: Extract<EnvelopeConfig, { kind: 'kms' }>,
): Promise<{ ciphertext: string; envelope: KmsEnvelope }> {
  const pending = o.pendingWrap;
  if (pending !== undefined) {
    if (o.wrapKey !== undefined || o.dek !== undefined) {
      await pending.discard();
      throw badInput('give pendingWrap, or wrapKey (and dek), not both');
    }
    if (pending.keyId !== config.keyId) {
      await pending.discard();
      throw badInput(`the pending wrap is for ${pending.keyId}, not the envelope's ${config.keyId}`);
    }
  } else if (o.wrapKey === undefined) throw badInput('the KMS envelope path needs a wrapKey port');
  const dek = pending ? pending.dek : ownedBytes(o, o.dek, 32, 'dek');
  let wrapping: Promise<WrapKeyResult> | undefined = pending?.wrapped;
  try {
    const iv = ownedBytes(o, o.iv, 12, 'iv');
    const cipher = createCipheriv('aes-256-gcm', dek, iv);
    const ct = Buffer.concat([cipher.update(o.plaintext), cipher.final()]);
    const tag = cipher.getAuthTag();

    let wrapped: WrapKeyResult;
    try {
      wrapping ??= o.wrapKey!(dek, config.keyId);
      wrapped = await wrapping;
    } catch (err) {
      if (isAttestedPackError(err)) throw err;
      throw new ClefError('CLEF_KEY_WRAP_FAILED', `wrapping the data key with ${config.keyId} failed`, { cause: err });
    }
    const envelope = checkWrapResult(wrapped, config);
    return { ciphertext: toBase64(ct), envelope: { ...envelope, iv: toBase64(iv), authTag: toBase64(tag) } };
  } finally {
    // The wrap port may still hold the DEK (a throw before it was awaited): let it settle first.
    if (wrapping) await wrapping.then(() => undefined, () => undefined);
    zeroize(dek);
  }
}

function checkWrapResult(
  wrapped: WrapKeyResult,
  config: Extract<EnvelopeConfig, { kind: 'kms' }>,
): Omit<KmsEnvelope, 'iv' | 'authTag'> {
  const fail = (why: string): never => {
    throw new ClefError('CLEF_KEY_WRAP_FAILED', `the KMS wrap of the data key with ${config.keyId} ${why}`);
  };
  if (typeof wrapped !== 'object' || wrapped === null) return fail('returned nothing');
  const blob = typeof wrapped.wrappedKey === 'string' ? fromBase64Strict(wrapped.wrappedKey) : wrapped.wrappedKey;
  if (!(blob instanceof Uint8Array) || blob.byteLength === 0) return fail('returned no ciphertext blob');
  if (typeof wrapped.keyId !== 'string' || wrapped.keyId === '') return fail('returned no key id');
  if (config.provider === 'aws') {
    const arn = parseAwsKmsArn(wrapped.keyId);
    if (!arn.ok || arn.arn.resourceType !== 'key') {
      return fail(`returned '${wrapped.keyId}', not a key ARN (the artifact must record the resolved key, not an alias)`);
    }
  }
  const algorithm = wrapped.algorithm ?? DEFAULT_WRAP_ALGORITHM[config.provider];
  if (typeof algorithm !== 'string' || algorithm === '') return fail('returned no algorithm');
  return { provider: config.provider, keyId: wrapped.keyId, wrappedKey: toBase64(blob), algorithm };
}

async function encryptWithAge(plaintext: Uint8Array, recipients: readonly string[]): Promise<{ ciphertext: string; envelope?: undefined }> {
  if (recipients.length === 0) throw badInput('the age path needs at least one recipient');
  const encrypter = new Encrypter();
  let file: Uint8Array;
  try {
    for (const r of recipients) encrypter.addRecipient(r);
    file = await encrypter.encrypt(plaintext);
  } catch (err) {
    throw new ClefError('CLEF_ENCRYPT_FAILED', 'age encryption of the artifact failed', {
      hint: "check the identity's age recipient in clef.yaml: it must be a real age1… X25519 public key",
      cause: err,
    });
  }
  return { ciphertext: toBase64(file) };
}
