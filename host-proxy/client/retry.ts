/**
 * The pack client's retry policy, in one place:
 * - retried: HTTP 503 (queue full, enclave down, draining), HTTP 429 (rate limited), and
 *   connection failures before any answer: refused, reset, unreachable, timed out while
 *   connecting, and DNS failures (`RETRYABLE_NETWORK_CODES`; a proxy still starting or a DNS
 *   record still propagating looks like this);
 * - not retried: every other status (a 4xx will not change by itself; a 500 is a bug) and a
 *   request that got no answer within the timeout (the pack may still be running);
 * - at most `retries` retries (default 4, so 5 attempts);
 * - the wait before retry n (1-based) is the server's `Retry-After` when it sent one, else
 *   2^(n-1) s with ±20 % jitter, capped at 30 s; never more than `maxWaitSeconds` (60 s).
 */

/** Retry settings (see the module comment for the policy). */
export interface RetryPolicy {
  retries: number;
  baseDelayMs: number;
  maxBackoffMs: number;
  maxWaitSeconds: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 4, baseDelayMs: 1000, maxBackoffMs: 30_000, maxWaitSeconds: 60 };

/** Connection failures that mean "nothing answered": safe to retry (listed in docs/reference.md). */
export const RETRYABLE_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** One attempt's outcome. */
export type AttemptOutcome =
  | { kind: 'response'; status: number; retryAfter: string | null }
  | { kind: 'network'; code: string }
  | { kind: 'timeout' };

/** True when the policy retries this outcome. */
export function isRetryable(outcome: AttemptOutcome): boolean {
  if (outcome.kind === 'response') return outcome.status === 503 || outcome.status === 429;
  if (outcome.kind === 'network') return RETRYABLE_NETWORK_CODES.has(outcome.code);
  return false;
}

/** Parses `Retry-After` (delta seconds or an HTTP date) into seconds, or undefined. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d{1,9}$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isFinite(t)) return Math.max(0, Math.ceil((t - now) / 1000));
  return undefined;
}

/** Milliseconds to wait before retry number `retry` (1-based). */
export function retryDelayMs(retry: number, outcome: AttemptOutcome, policy: RetryPolicy, random: () => number = Math.random, now?: number): number {
  const capMs = policy.maxWaitSeconds * 1000;
  const fromServer = outcome.kind === 'response' ? parseRetryAfter(outcome.retryAfter, now) : undefined;
  if (fromServer !== undefined) return Math.min(fromServer * 1000, capMs);
  const backoff = Math.min(policy.baseDelayMs * 2 ** (retry - 1), policy.maxBackoffMs);
  const jitter = 0.8 + 0.4 * random();
  return Math.min(Math.round(backoff * jitter), capMs);
}
