/**
 * Failures of the verify-receipt CLI that are not a check saying "no": unreadable inputs, a
 * missing expectation, a broken repository. All exit 2 (the auditor must fix the call), so a
 * problem on the auditor's side is never confused with a receipt that failed verification.
 */
import { InputError, type ErrorOptions } from '../common/errors.js';

/**
 * Closed set of codes:
 * - VERIFY_INPUT_UNREADABLE        a file given on the command line cannot be read or parsed
 * - VERIFY_NO_EXPECTED_MEASUREMENTS no --measurements, --pcrN or --policy: nothing to compare PCRs with
 * - VERIFY_REPO_INVALID            --repo is not a git work tree / repository
 * - VERIFY_GIT_FAILED              git could not be run or answered something unexpected
 */
export type VerifyInputErrorCode =
  | 'VERIFY_INPUT_UNREADABLE'
  | 'VERIFY_NO_EXPECTED_MEASUREMENTS'
  | 'VERIFY_REPO_INVALID'
  | 'VERIFY_GIT_FAILED'
  /** An --expect file (expectations.json) is not the format `deploy render` writes. */
  | 'VERIFY_EXPECTATIONS_INVALID';

/** An input of verify-receipt is missing or unusable (exit 2). */
export class VerifyInputError extends InputError {
  declare readonly code: VerifyInputErrorCode;

  constructor(code: VerifyInputErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
  }
}
