/**
 * The typed failures of attestation-document handling. One code per failure class so callers
 * (KMS simulator, verify-receipt, the CLI) branch on codes and people read messages.
 *
 * Codes, in the order `verifyAttestationDocument` can raise them:
 * - ATTESTATION_INVALID_OPTIONS       the caller's options are unusable (bad `at`, bad PCR hex, no roots)
 * - ATTESTATION_NO_EXPECTED_PCRS      no expected PCRs and no explicit 'skip': fail closed, never a pass
 * - ATTESTATION_MALFORMED_CBOR        not CBOR, truncated, trailing bytes, indefinite lengths, too large
 * - ATTESTATION_BAD_TAG               a CBOR tag other than 18 (COSE_Sign1) on the top-level item
 * - ATTESTATION_BAD_COSE_STRUCTURE    not a 4-element array; unprotected not a map; payload not a non-empty bstr
 * - ATTESTATION_BAD_PROTECTED_HEADER  protected not a bstr / empty / not a map / alg missing or ≠ ES384 (-35)
 * - ATTESTATION_BAD_SIGNATURE_FORMAT  signature not 96 bytes of raw r‖s, or r/s outside [1, n-1]
 * - ATTESTATION_BAD_PAYLOAD           payload not the NSM document schema (types, sizes, duplicates, nulls)
 * - ATTESTATION_BAD_CERTIFICATE       a certificate is not strict DER X.509 v3
 * - ATTESTATION_UNTRUSTED_ROOT        cabundle[0] is not byte-identical to a pinned trusted root
 * - ATTESTATION_BAD_KEY_ALGORITHM     a key is not P-384 ECDSA or a signature is not ecdsa-with-SHA384
 * - ATTESTATION_CERT_PROFILE          basic constraints, key usage, pathLen or an unknown critical extension
 * - ATTESTATION_CHAIN_INVALID         issuer/subject names or certificate signatures do not link up
 * - ATTESTATION_CERT_EXPIRED          a certificate's notAfter is before the verification time
 * - ATTESTATION_CERT_NOT_YET_VALID    a certificate's notBefore is after the verification time
 * - ATTESTATION_SIGNATURE_INVALID     the COSE_Sign1 ES384 signature does not verify with the leaf key
 * - ATTESTATION_FUTURE_TIMESTAMP      `timestamp` is later than the verification time plus the allowed skew
 * - ATTESTATION_STALE                 `timestamp` is older than `maxAgeMs`
 * - ATTESTATION_DEBUG_MODE            PCR0/1/2 all zero (debug enclave) or any of them zero/absent
 * - ATTESTATION_PCR_MISMATCH          an expected PCR differs or is absent (details name the index)
 * - ATTESTATION_NONCE_MISMATCH        the nonce differs from the expected one or is missing
 * - ATTESTATION_NONCE_REPLAYED        the nonce was never issued, already used or expired (single use)
 * - ATTESTATION_USER_DATA_MISMATCH    user_data differs from the expected bytes or is missing
 * - ATTESTATION_PUBLIC_KEY_MISSING    a public_key is required but the document has none
 * - ATTESTATION_PUBLIC_KEY_MISMATCH   public_key differs from the expected bytes
 * - ATTESTATION_PUBLIC_KEY_INVALID    public_key is not an RSA SPKI of at least 2048 bits (KMS recipient)
 * - ATTESTATION_BAD_TRUSTED_ROOT      a configured trust root is unusable (bad PEM/DER, not a CA, pin mismatch)
 */
import { AttestedPackError, type ErrorCategory, type ErrorOptions } from '../common/errors.js';

/** Closed set of attestation failure codes (see the file comment for what each means). */
export type AttestationErrorCode =
  | 'ATTESTATION_INVALID_OPTIONS'
  | 'ATTESTATION_NO_EXPECTED_PCRS'
  | 'ATTESTATION_MALFORMED_CBOR'
  | 'ATTESTATION_BAD_TAG'
  | 'ATTESTATION_BAD_COSE_STRUCTURE'
  | 'ATTESTATION_BAD_PROTECTED_HEADER'
  | 'ATTESTATION_BAD_SIGNATURE_FORMAT'
  | 'ATTESTATION_BAD_PAYLOAD'
  | 'ATTESTATION_BAD_CERTIFICATE'
  | 'ATTESTATION_UNTRUSTED_ROOT'
  | 'ATTESTATION_BAD_KEY_ALGORITHM'
  | 'ATTESTATION_CERT_PROFILE'
  | 'ATTESTATION_CHAIN_INVALID'
  | 'ATTESTATION_CERT_EXPIRED'
  | 'ATTESTATION_CERT_NOT_YET_VALID'
  | 'ATTESTATION_SIGNATURE_INVALID'
  | 'ATTESTATION_FUTURE_TIMESTAMP'
  | 'ATTESTATION_STALE'
  | 'ATTESTATION_DEBUG_MODE'
  | 'ATTESTATION_PCR_MISMATCH'
  | 'ATTESTATION_NONCE_MISMATCH'
  | 'ATTESTATION_NONCE_REPLAYED'
  | 'ATTESTATION_USER_DATA_MISMATCH'
  | 'ATTESTATION_PUBLIC_KEY_MISSING'
  | 'ATTESTATION_PUBLIC_KEY_MISMATCH'
  | 'ATTESTATION_PUBLIC_KEY_INVALID'
  | 'ATTESTATION_BAD_TRUSTED_ROOT';

/** Every code, for exhaustive tests and documentation. */
export const ATTESTATION_ERROR_CODES: readonly AttestationErrorCode[] = Object.freeze([
  'ATTESTATION_INVALID_OPTIONS',
  'ATTESTATION_NO_EXPECTED_PCRS',
  'ATTESTATION_MALFORMED_CBOR',
  'ATTESTATION_BAD_TAG',
  'ATTESTATION_BAD_COSE_STRUCTURE',
  'ATTESTATION_BAD_PROTECTED_HEADER',
  'ATTESTATION_BAD_SIGNATURE_FORMAT',
  'ATTESTATION_BAD_PAYLOAD',
  'ATTESTATION_BAD_CERTIFICATE',
  'ATTESTATION_UNTRUSTED_ROOT',
  'ATTESTATION_BAD_KEY_ALGORITHM',
  'ATTESTATION_CERT_PROFILE',
  'ATTESTATION_CHAIN_INVALID',
  'ATTESTATION_CERT_EXPIRED',
  'ATTESTATION_CERT_NOT_YET_VALID',
  'ATTESTATION_SIGNATURE_INVALID',
  'ATTESTATION_FUTURE_TIMESTAMP',
  'ATTESTATION_STALE',
  'ATTESTATION_DEBUG_MODE',
  'ATTESTATION_PCR_MISMATCH',
  'ATTESTATION_NONCE_MISMATCH',
  'ATTESTATION_NONCE_REPLAYED',
  'ATTESTATION_USER_DATA_MISMATCH',
  'ATTESTATION_PUBLIC_KEY_MISSING',
  'ATTESTATION_PUBLIC_KEY_MISMATCH',
  'ATTESTATION_PUBLIC_KEY_INVALID',
  'ATTESTATION_BAD_TRUSTED_ROOT',
]);

/** Codes that blame the caller's configuration rather than the document (CLI exit 2). */
const INPUT_CODES: ReadonlySet<AttestationErrorCode> = new Set([
  'ATTESTATION_INVALID_OPTIONS',
  'ATTESTATION_NO_EXPECTED_PCRS',
  'ATTESTATION_BAD_TRUSTED_ROOT',
]);

/** Why an attestation document was not accepted (or could not be checked). */
export class AttestationError extends AttestedPackError {
  declare readonly code: AttestationErrorCode;

  constructor(code: AttestationErrorCode, message: string, options: ErrorOptions = {}) {
    const category: ErrorCategory = options.category ?? (INPUT_CODES.has(code) ? 'input' : 'rejected');
    super(code, message, { ...options, category });
  }
}
