/** Errors of kms-policies/: unusable policy documents and generator inputs. */
import { AttestedPackError, type ErrorCategory, type ErrorOptions } from '../common/errors.js';

export type KmsPolicyErrorCode =
  /** The key policy is not valid JSON or not the IAM policy grammar this module understands. */
  | 'KMS_POLICY_INVALID'
  /** A condition operator or feature the evaluator does not implement (refused, never ignored). */
  | 'KMS_POLICY_UNSUPPORTED'
  /** Generator options are unusable (bad ARN, unknown purpose, bad PCR list). */
  | 'KMS_POLICY_BAD_OPTIONS';

/** Raised by the policy parser, evaluator and generator. */
export class KmsPolicyError extends AttestedPackError {
  static override defaultCategory: ErrorCategory = 'input';
  declare readonly code: KmsPolicyErrorCode;
  constructor(code: KmsPolicyErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
  }
}
