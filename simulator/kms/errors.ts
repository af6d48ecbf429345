/**
 * Two kinds of failure in the KMS simulator: wire errors that go back to the client exactly as
 * KMS sends them (`__type` + message, HTTP status), and the simulator's own start-up / state
 * errors, which belong to attested-pack's error hierarchy.
 */
import { AttestedPackError, type ErrorCategory, type ErrorOptions } from '../../common/errors.js';

/** The `__type` names the simulator can answer with (the real KMS / AWS JSON 1.1 names). */
export type KmsErrorType =
  | 'AccessDeniedException'
  | 'AlreadyExistsException'
  | 'DisabledException'
  | 'IncompleteSignatureException'
  | 'IncorrectKeyException'
  | 'InvalidAliasNameException'
  | 'InvalidCiphertextException'
  | 'InvalidKeyUsageException'
  | 'InvalidMarkerException'
  | 'InvalidSignatureException'
  | 'KMSInternalException'
  | 'KMSInvalidSignatureException'
  | 'KMSInvalidStateException'
  | 'MalformedPolicyDocumentException'
  | 'MissingAuthenticationTokenException'
  | 'NotFoundException'
  | 'SerializationException'
  | 'ThrottlingException'
  | 'UnknownOperationException'
  | 'UnrecognizedClientException'
  | 'UnsupportedOperationException'
  | 'ValidationException';

/** An error answered on the wire as `{"__type": type, "message": …}` with an HTTP status. */
export class KmsApiError extends Error {
  constructor(
    readonly type: KmsErrorType,
    message: string,
    readonly status: number = 400,
  ) {
    super(message);
    this.name = type;
  }

  /** The JSON body KMS sends: capital-M `Message` for AccessDenied (as real KMS does), `message` otherwise. */
  toBody(): Record<string, string> {
    return this.type === 'AccessDeniedException' || this.type === 'UnsupportedOperationException'
      ? { __type: this.type, Message: this.message }
      : { __type: this.type, message: this.message };
  }
}

/** Shorthand for a ValidationException with KMS's "1 validation error detected" phrasing. */
export function validationError(message: string): KmsApiError {
  return new KmsApiError('ValidationException', message);
}

export type KmsSimErrorCode =
  /** The state file exists but cannot be read back: never reset silently. */
  | 'KMS_SIM_STATE_CORRUPT'
  /** Writing the state file failed (disk full, permissions). */
  | 'KMS_SIM_STATE_WRITE_FAILED'
  /** The simulator's own configuration is unusable (credentials, roots, listen address). */
  | 'KMS_SIM_BAD_CONFIG';

/** Start-up and persistence errors of the simulator. */
export class KmsSimError extends AttestedPackError {
  static override defaultCategory: ErrorCategory = 'input';
  declare readonly code: KmsSimErrorCode;
  constructor(code: KmsSimErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, {
      ...options,
      category: options.category ?? (code === 'KMS_SIM_STATE_WRITE_FAILED' ? 'unavailable' : 'input'),
    });
  }
}
