/**
 * Errors of the SOPS codec. Every failure of a public function of enclave-app/sops is a
 * `SopsError` with one of the codes below; messages name paths, key sources and positions,
 * never a plaintext value, a data key or a decrypted MAC.
 */
import { AttestedPackError, type ErrorCategory, type ErrorOptions } from '../../common/errors.js';

/** Stable codes callers branch on. */
export type SopsErrorCode =
  /** The MAC stored in the file does not match the data (tampering, wrong key group). */
  | 'SOPS_MAC_MISMATCH'
  /** The file has no MAC (or an empty one): sops refuses such files, so do we. */
  | 'SOPS_NO_MAC'
  /** The input has no `sops` metadata: it is not an encrypted SOPS file. */
  | 'SOPS_NOT_SOPS_FILE'
  /** No key source could recover the data key; `details.attempts` says why for each. */
  | 'SOPS_NO_KEY'
  /** An encrypted value is malformed or fails authentication; `details.path` says where. */
  | 'SOPS_BAD_VALUE'
  /** A feature this codec deliberately does not implement (named in the message). */
  | 'SOPS_UNSUPPORTED'
  /** The input is not valid YAML / JSON / dotenv / INI; `details.line`/`col` when known. */
  | 'SOPS_PARSE_ERROR'
  /** The `sops` metadata block is present but invalid (bad lastmodified, two rules, …). */
  | 'SOPS_BAD_METADATA'
  /** An `--extract` path is malformed or does not exist in the document. */
  | 'SOPS_BAD_PATH'
  /** A plaintext tree cannot be encrypted as asked (reserved key, bad option, wrap failure). */
  | 'SOPS_ENCRYPT_FAILED'
  /** A bug: an unexpected exception inside the codec (wrapped so nothing untyped escapes). */
  | 'SOPS_INTERNAL';

const CATEGORY: Record<SopsErrorCode, ErrorCategory> = {
  SOPS_MAC_MISMATCH: 'rejected',
  SOPS_NO_MAC: 'rejected',
  SOPS_NOT_SOPS_FILE: 'input',
  SOPS_NO_KEY: 'rejected',
  SOPS_BAD_VALUE: 'rejected',
  SOPS_UNSUPPORTED: 'input',
  SOPS_PARSE_ERROR: 'input',
  SOPS_BAD_METADATA: 'input',
  SOPS_BAD_PATH: 'input',
  SOPS_ENCRYPT_FAILED: 'input',
  SOPS_INTERNAL: 'internal',
};

/** The one error class of the SOPS codec. */
export class SopsError extends AttestedPackError {
  static override defaultCategory: ErrorCategory = 'rejected';
  declare readonly code: SopsErrorCode;

  constructor(code: SopsErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, { ...options, category: options.category ?? CATEGORY[code] });
  }
}

/** True when `err` is a SopsError with the given code (handy in tests and callers). */
export function isSopsError(err: unknown, code?: SopsErrorCode): err is SopsError {
  return err instanceof SopsError && (code === undefined || err.code === code);
}

/** Renders a tree path for messages in `--extract` syntax, e.g. `["app2"]["db"]`, or `(top level)`. */
export function describePath(path: readonly string[]): string {
  return path.length === 0 ? '(top level)' : path.map((p) => `[${JSON.stringify(p)}]`).join('');
}
