/** Errors of the Clef layer (manifest, scope, merge, artifact, signature): stable codes, no secrets. */
import { AttestedPackError, type ErrorCategory, type ErrorOptions } from '../../common/errors.js';

/** Every code a `ClefError` can carry; callers branch on these, people read the messages. */
export type ClefErrorCode =
  /** clef.yaml is not valid YAML or breaks one of Clef's manifest rules; `details.path` names the field. */
  | 'CLEF_MANIFEST_INVALID'
  /** The requested service identity is not in the manifest. */
  | 'CLEF_UNKNOWN_IDENTITY'
  /** The requested environment is not in the manifest or not configured on the identity. */
  | 'CLEF_UNKNOWN_ENVIRONMENT'
  /** A scoped cell has no file (only in strict mode) or its decrypted values were not supplied. */
  | 'CLEF_MISSING_CELL'
  /** Decrypted values were supplied for a namespace outside the identity's scope, or twice. */
  | 'CLEF_OUT_OF_SCOPE'
  /** A SOPS value is not a string (only in strict mode; Clef stringifies it). */
  | 'CLEF_NON_STRING_VALUE'
  /** Two values for one key in a namespace, or a key Clef's merge cannot hold (Object.prototype names). */
  | 'CLEF_KEY_COLLISION'
  /** The caller handed the packer unusable inputs (DEK/IV length, timestamps, revision, TTL). */
  | 'CLEF_PACK_INPUT_INVALID'
  /** age encryption of the artifact failed (usually a recipient that is not a real age key). */
  | 'CLEF_ENCRYPT_FAILED'
  /** The KMS wrap port failed or answered with something unusable. */
  | 'CLEF_KEY_WRAP_FAILED'
  /** The signer port failed, answered with the wrong algorithm, or produced a signature that does not verify. */
  | 'CLEF_SIGNING_FAILED'
  /** A signing key (PKCS#8) could not be loaded or has the wrong type. */
  | 'CLEF_SIGNING_KEY_INVALID'
  /** A verify key (SPKI) could not be loaded or has an unsupported type. */
  | 'CLEF_VERIFY_KEY_INVALID'
  /** Verification was asked for without a verify key and without explicitly skipping the signature. */
  | 'CLEF_VERIFY_KEY_REQUIRED'
  /** The artifact is not valid JSON or does not have Clef's packed-artifact v1 shape. */
  | 'CLEF_ARTIFACT_INVALID'
  /** The artifact (or marker) carries `revokedAt`; Clef runtimes refuse it. */
  | 'CLEF_ARTIFACT_REVOKED'
  /** The artifact's `expiresAt` is in the past. */
  | 'CLEF_ARTIFACT_EXPIRED'
  /** sha256(ciphertext string) differs from `ciphertextHash`. */
  | 'CLEF_CIPHERTEXT_HASH_MISMATCH'
  /** A signature was required but the artifact is unsigned. */
  | 'CLEF_SIGNATURE_MISSING'
  /** The clef-sig-v3 signature does not verify under the given key. */
  | 'CLEF_SIGNATURE_INVALID'
  /** Unwrapping the DEK or decrypting the ciphertext failed. */
  | 'CLEF_DECRYPT_FAILED'
  /** The decrypted payload is not Clef's nested `{namespace: {key: string}}` JSON. */
  | 'CLEF_PLAINTEXT_INVALID';

const INPUT_CODES: ReadonlySet<ClefErrorCode> = new Set<ClefErrorCode>([
  'CLEF_MANIFEST_INVALID',
  'CLEF_UNKNOWN_IDENTITY',
  'CLEF_UNKNOWN_ENVIRONMENT',
  'CLEF_PACK_INPUT_INVALID',
  'CLEF_SIGNING_KEY_INVALID',
  'CLEF_VERIFY_KEY_INVALID',
  'CLEF_VERIFY_KEY_REQUIRED',
  'CLEF_ARTIFACT_INVALID',
]);

const UNAVAILABLE_CODES: ReadonlySet<ClefErrorCode> = new Set<ClefErrorCode>(['CLEF_KEY_WRAP_FAILED']);

function categoryFor(code: ClefErrorCode): ErrorCategory {
  if (INPUT_CODES.has(code)) return 'input';
  if (UNAVAILABLE_CODES.has(code)) return 'unavailable';
  return 'rejected';
}

/** The one error class of enclave-app/clef: a closed set of codes, category derived from the code. */
export class ClefError extends AttestedPackError {
  declare readonly code: ClefErrorCode;
  constructor(code: ClefErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, { ...options, category: options.category ?? categoryFor(code) });
  }
}

/** True when `err` is a ClefError with (optionally) the given code. */
export function isClefError(err: unknown, code?: ClefErrorCode): err is ClefError {
  return err instanceof ClefError && (code === undefined || err.code === code);
}
