/** Errors of the enclave's KMS port: stable codes, the key ARN named, never key material. */
import { AttestedPackError, type ErrorOptions } from '../../common/errors.js';

export type KmsErrorCode =
  /** The key policy (or IAM) refused the call; usually measurements that do not match. */
  | 'KMS_ACCESS_DENIED'
  /** KMS did not answer within the configured budget. */
  | 'KMS_TIMEOUT'
  /** KMS kept throttling after the retries. */
  | 'KMS_THROTTLED'
  /** KMS (or the relay to it) failed or was unreachable. */
  | 'KMS_UNAVAILABLE'
  | 'KMS_NOT_FOUND'
  | 'KMS_DISABLED'
  | 'KMS_INVALID_CIPHERTEXT'
  /** KMS answered with a plaintext instead of CiphertextForRecipient: refused (invariant 2). */
  | 'KMS_PLAINTEXT_REFUSED'
  /** The CiphertextForRecipient was not for our key or not in KMS's exact format. */
  | 'KMS_BAD_RECIPIENT_RESPONSE'
  /** The AWS SDK found no credentials to sign the call with (host-side commands only). */
  | 'KMS_NO_CREDENTIALS'
  /** Any other KMS error, with its AWS error name in details. */
  | 'KMS_ERROR';

export class KmsError extends AttestedPackError {
  declare readonly code: KmsErrorCode;
  constructor(code: KmsErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, {
      ...options,
      category:
        options.category ??
        (code === 'KMS_TIMEOUT' || code === 'KMS_THROTTLED' || code === 'KMS_UNAVAILABLE'
          ? 'unavailable'
          : code === 'KMS_NO_CREDENTIALS'
            ? 'input'
            : 'rejected'),
    });
  }
}
