/**
 * Errors of the host proxy and its `pack` client: one class, a closed union of codes, and the
 * one place that decides which HTTP status each failure becomes.
 */
import { AttestedPackError, isAttestedPackError, type ErrorCategory, type ErrorOptions } from '../common/errors.js';

/** Every code the host proxy or the pack client raises on purpose. */
export type HostProxyErrorCode =
  // authentication (401) and authorisation (403)
  | 'AUTH_MISSING'
  | 'AUTH_MALFORMED'
  | 'AUTH_UNKNOWN_TOKEN'
  | 'AUTH_EXPIRED'
  | 'AUTH_BAD_SIGNATURE'
  | 'AUTH_WRONG_ISSUER'
  | 'AUTH_WRONG_AUDIENCE'
  | 'AUTH_INVALID_CLAIMS'
  | 'AUTH_JWKS_UNAVAILABLE'
  | 'AUTH_FORBIDDEN'
  // request limits and validation
  | 'INVALID_REQUEST'
  | 'BODY_TOO_LARGE'
  | 'RATE_LIMITED'
  | 'QUEUE_FULL'
  | 'REQUEST_TIMEOUT'
  | 'NOT_FOUND'
  | 'SHUTTING_DOWN'
  // the enclave link
  | 'ENCLAVE_UNAVAILABLE'
  | 'ENCLAVE_TIMEOUT'
  | 'ENCLAVE_PROTOCOL'
  // parent credentials and the KMS relay
  | 'CREDENTIALS_UNAVAILABLE'
  | 'RELAY_UPSTREAM_NOT_ALLOWED'
  | 'RELAY_LISTEN_FAILED'
  // start-up
  | 'PROXY_LISTEN_FAILED'
  // the pack client
  | 'DIRTY_TREE'
  | 'GIT_FAILED'
  | 'MANIFEST_SCOPE'
  | 'PROXY_UNREACHABLE'
  | 'PROXY_BAD_RESPONSE'
  | 'NONCE_MISMATCH'
  | 'RECEIPT_MISMATCH'
  | 'RECEIPT_INPUTS_MISMATCH'
  | 'OUTPUT_OUTSIDE_REPO'
  | 'OIDC_TOKEN_UNAVAILABLE';

/** A failure of the host proxy or of the pack client (see `HostProxyErrorCode`). */
export class HostProxyError extends AttestedPackError {
  declare readonly code: HostProxyErrorCode;
  /** Seconds a caller should wait before retrying (sent as `Retry-After`), when known. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: HostProxyErrorCode, message: string, options: ErrorOptions & { retryAfterSeconds?: number } = {}) {
    super(code, message, { ...options, category: options.category ?? defaultCategoryOf(code) });
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/**
 * An error the enclave answered with (`ErrorResponse`): its code and category are the
 * enclave's, relayed unchanged so the caller sees why the pack failed.
 */
export class EnclaveError extends AttestedPackError {}

/**
 * An error answer from the proxy, as the pack client received it: the proxy's (or the
 * enclave's) code and message, with a category derived from the HTTP status so the exit code
 * matches (400/413/422 → input, 401/403 → rejected, 429/503 → unavailable, else internal).
 */
export class ProxyAnswerError extends AttestedPackError {
  constructor(readonly status: number, code: string, message: string, hint?: string) {
    super(code, message, { category: categoryOfStatus(status), ...(hint ? { hint } : {}), details: { status } });
  }
}

/** The error category a proxy HTTP status stands for (see ProxyAnswerError). */
export function categoryOfStatus(status: number): ErrorCategory {
  if (status === 400 || status === 404 || status === 413 || status === 415 || status === 422) return 'input';
  if (status === 401 || status === 403) return 'rejected';
  if (status === 429 || status === 502 || status === 503 || status === 504) return 'unavailable';
  return 'internal';
}

function defaultCategoryOf(code: HostProxyErrorCode): ErrorCategory {
  switch (code) {
    case 'INVALID_REQUEST':
    case 'BODY_TOO_LARGE':
    case 'NOT_FOUND':
    case 'DIRTY_TREE':
    case 'GIT_FAILED':
    case 'MANIFEST_SCOPE':
    case 'OUTPUT_OUTSIDE_REPO':
      return 'input';
    case 'RATE_LIMITED':
    case 'QUEUE_FULL':
    case 'REQUEST_TIMEOUT':
    case 'SHUTTING_DOWN':
    case 'ENCLAVE_UNAVAILABLE':
    case 'ENCLAVE_TIMEOUT':
    case 'AUTH_JWKS_UNAVAILABLE':
    case 'CREDENTIALS_UNAVAILABLE':
    case 'RELAY_LISTEN_FAILED':
    case 'PROXY_LISTEN_FAILED':
    case 'PROXY_UNREACHABLE':
    case 'OIDC_TOKEN_UNAVAILABLE':
      return 'unavailable';
    case 'ENCLAVE_PROTOCOL':
    case 'PROXY_BAD_RESPONSE':
      return 'internal';
    case 'RELAY_UPSTREAM_NOT_ALLOWED':
      return 'input';
    default:
      return 'rejected';
  }
}

const STATUS_BY_CODE: Partial<Record<HostProxyErrorCode, number>> = {
  AUTH_MISSING: 401,
  AUTH_MALFORMED: 401,
  AUTH_UNKNOWN_TOKEN: 401,
  AUTH_EXPIRED: 401,
  AUTH_BAD_SIGNATURE: 401,
  AUTH_WRONG_ISSUER: 401,
  AUTH_WRONG_AUDIENCE: 401,
  AUTH_INVALID_CLAIMS: 401,
  AUTH_JWKS_UNAVAILABLE: 503,
  AUTH_FORBIDDEN: 403,
  INVALID_REQUEST: 400,
  BODY_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  QUEUE_FULL: 503,
  REQUEST_TIMEOUT: 503,
  NOT_FOUND: 404,
  SHUTTING_DOWN: 503,
};

/**
 * The HTTP status for any error. Proxy codes have fixed statuses (401 unauthenticated, 403 not
 * allowed, 413, 429, 503); everything else — notably the enclave's own errors — maps by
 * category: `input` → 422 (the body passed the schema but its content is unusable, e.g. a SOPS
 * file that does not parse), `rejected` → 403 (a check said no: MAC mismatch, KMS key policy
 * denied the enclave's measurements), `unavailable` → 503, `internal` → 500.
 */
export function httpStatusFor(err: unknown): number {
  if (err instanceof HostProxyError) {
    const fixed = STATUS_BY_CODE[err.code];
    if (fixed !== undefined) return fixed;
  }
  if (!isAttestedPackError(err)) return 500;
  switch (err.category) {
    case 'input':
      return 422;
    case 'rejected':
      return 403;
    case 'unavailable':
      return 503;
    default:
      return 500;
  }
}
