/** Errors of `attested-pack audit`: why a receipt's image could not be rebuilt or did not match. */
import { AttestedPackError, type ErrorCategory, type ErrorOptions } from '../common/errors.js';

/**
 * Closed set of codes:
 * - AUDIT_NO_SOURCE       the receipt names no source commit (older receipt, or an unbundled enclave)
 * - AUDIT_DIRTY_IMAGE     the receipt's image was built from uncommitted changes: no commit rebuilds it
 * - AUDIT_SOURCE_INVALID  --source is not a git checkout of attested-pack (or has no built CLI)
 * - AUDIT_WRONG_COMMIT    --source is checked out at another commit than the receipt's
 * - AUDIT_DIRTY_SOURCE    --source has uncommitted or untracked changes
 * - AUDIT_REBUILD_FAILED  the source's own `eif build --locked` failed (drift, missing blobs/runtime …)
 * - AUDIT_PCR_MISMATCH    the rebuilt image's PCRs differ from the attestation document's (in `--json` output; exit 1)
 */
export type AuditErrorCode =
  | 'AUDIT_NO_SOURCE'
  | 'AUDIT_DIRTY_IMAGE'
  | 'AUDIT_SOURCE_INVALID'
  | 'AUDIT_WRONG_COMMIT'
  | 'AUDIT_DIRTY_SOURCE'
  | 'AUDIT_REBUILD_FAILED'
  | 'AUDIT_PCR_MISMATCH';

/** An audit that could not run or did not reproduce the receipt's image. */
export class AuditError extends AttestedPackError {
  static override defaultCategory: ErrorCategory = 'input';
  declare readonly code: AuditErrorCode;
  constructor(code: AuditErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
  }
}
