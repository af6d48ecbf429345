/**
 * The one error hierarchy of attested-pack.
 *
 * Every failure a user or a caller can meet is an `AttestedPackError` with a stable
 * string `code` (callers branch on codes, people read messages) and, where it helps, a
 * `hint` saying what to do next. Each module defines its own subclass and its own closed
 * union of codes (e.g. `AttestationError` with `ATTESTATION_*` codes) in its own folder;
 * this file only holds the base class and the mapping to CLI exit codes.
 *
 * Rule for every message, hint and detail: no plaintext secret, data key or credential,
 * ever. Errors cross process and trust boundaries (enclave → host → CI logs).
 */

/** How a failure maps to a process exit code. Documented in README.md ("Exit codes"). */
export type ErrorCategory =
  /** A check said no: verification failed, policy denied, MAC mismatch. Exit 1. */
  | 'rejected'
  /** The caller's words or input are unusable: bad flag, unreadable or malformed file. Exit 2. */
  | 'input'
  /** A dependency was unreachable or too slow: KMS, enclave, proxy, network. Exit 3. */
  | 'unavailable'
  /** A bug or an impossible state inside attested-pack. Exit 4. */
  | 'internal';

export const EXIT_CODES: Readonly<Record<ErrorCategory | 'ok', number>> = Object.freeze({
  ok: 0,
  rejected: 1,
  input: 2,
  unavailable: 3,
  internal: 4,
});

export interface ErrorOptions {
  /** One sentence telling the user what to do about it. */
  hint?: string;
  /** Machine-readable context (never secrets). Serialised in `--json` output. */
  details?: Record<string, unknown>;
  /** The underlying error, kept for debugging; never printed to users by the CLI. */
  cause?: unknown;
  /** Overrides the subclass's default category. */
  category?: ErrorCategory;
}

/** Base class of every error attested-pack raises on purpose. */
export class AttestedPackError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;
  readonly category: ErrorCategory;

  constructor(code: string, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
    this.category = options.category ?? (new.target as typeof AttestedPackError).defaultCategory;
  }

  /** Category used when the constructor is not given one; subclasses override. */
  static defaultCategory: ErrorCategory = 'rejected';

  get exitCode(): number {
    return EXIT_CODES[this.category];
  }

  /** The shape printed by `--json` and sent across the host↔enclave protocol. */
  toJSON(): { code: string; message: string; hint?: string; details?: Record<string, unknown> } {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint === undefined ? {} : { hint: this.hint }),
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

/** Bad command-line usage: unknown flag, missing argument, contradictory options. */
export class UsageError extends AttestedPackError {
  static override defaultCategory: ErrorCategory = 'input';
  constructor(message: string, options: ErrorOptions = {}) {
    super('USAGE', message, options);
  }
}

/** A file or value supplied by the user could not be read or parsed. */
export class InputError extends AttestedPackError {
  static override defaultCategory: ErrorCategory = 'input';
}

/** Configuration files and environment overrides (host-proxy, simulator, CLI). */
export class ConfigError extends AttestedPackError {
  static override defaultCategory: ErrorCategory = 'input';
}

/** Something that should not happen; wraps unexpected exceptions at boundaries. */
export class InternalError extends AttestedPackError {
  static override defaultCategory: ErrorCategory = 'internal';
  constructor(message: string, options: ErrorOptions = {}) {
    super('INTERNAL', message, options);
  }
}

/** True for any error of the hierarchy (also across duplicated module instances). */
export function isAttestedPackError(err: unknown): err is AttestedPackError {
  return (
    err instanceof AttestedPackError ||
    (typeof err === 'object' &&
      err !== null &&
      typeof (err as { code?: unknown }).code === 'string' &&
      typeof (err as { category?: unknown }).category === 'string' &&
      (err as { category: string }).category in EXIT_CODES)
  );
}

/**
 * Turns anything thrown into an `AttestedPackError` without leaking its message when the
 * message could hold data (unknown errors become INTERNAL with a generic text).
 */
export function toAttestedPackError(err: unknown): AttestedPackError {
  if (isAttestedPackError(err)) return err;
  return new InternalError('unexpected internal error', {
    hint: 'this is a bug in attested-pack; re-run with ATTESTED_PACK_DEBUG=1 and report it',
    cause: err,
  });
}

/**
 * The operating-system error behind `err` (its errno code such as `EADDRINUSE` and the system's
 * message), found on `err` or along its `cause` chain; undefined when there is none. For
 * messages that must carry the real reason a bind or connect failed.
 */
export function systemErrorOf(err: unknown): { code: string; message: string } | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 6 && typeof e === 'object' && e !== null; depth++) {
    const { code, message, syscall } = e as { code?: unknown; message?: unknown; syscall?: unknown };
    if (typeof code === 'string' && /^E[A-Z0-9_]+$/.test(code) && (typeof syscall === 'string' || !isAttestedPackError(e))) {
      return { code, message: typeof message === 'string' ? message : code };
    }
    const errno = (e as { details?: { errno?: unknown } }).details?.errno;
    const cause = (e as { cause?: unknown }).cause;
    if (cause === undefined && typeof errno === 'string') return { code: errno, message: typeof message === 'string' ? message : errno };
    e = cause;
  }
  return undefined;
}
