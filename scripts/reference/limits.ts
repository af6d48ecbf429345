/** Limits users meet, read from the constants the code enforces (never retyped here). */
import { PACK_LIMITS, MAX_FRAME_BYTES } from '../../enclave-app/protocol.js';
import { PACK_RECEIPT_MAX_AGE_MS } from '../../host-proxy/client/pack-client.js';
import { DEFAULT_RETRY_POLICY, RETRYABLE_NETWORK_CODES } from '../../host-proxy/client/retry.js';
import { formatDuration } from '../../common/duration.js';

const n = (x: number): string => x.toLocaleString('en-US');

/** The limits table and the `pack` client's retry policy. */
export function renderLimits(): string {
  return [
    '| limit | value | enforced by |',
    '|---|---|---|',
    `| SOPS files per pack request | at most ${n(PACK_LIMITS.maxFiles)} | proxy (400 \`INVALID_REQUEST\`) and enclave (\`PACK_BAD_REQUEST\`) |`,
    `| repo-relative path length | at most ${n(PACK_LIMITS.maxPathLength)} characters | proxy and enclave |`,
    `| nonce | ${PACK_LIMITS.minNonceBytes}–${PACK_LIMITS.maxNonceBytes} bytes (the \`pack\` client sends 32 random bytes) | proxy and enclave |`,
    `| artifact TTL (\`pack --ttl\`, \`options.ttlSeconds\`) | 1 to ${n(PACK_LIMITS.maxTtlSeconds)} seconds (${PACK_LIMITS.maxTtlSeconds / 86_400} days) | \`pack\`, proxy and enclave |`,
    `| receipt age accepted by \`pack --measurements\` | ${formatDuration(PACK_RECEIPT_MAX_AGE_MS)} between attestation and the client's clock | \`pack\` (\`ATTESTATION_STALE\`) |`,
    `| host ↔ enclave frame | at most ${n(MAX_FRAME_BYTES)} bytes | both ends (\`FRAME_TOO_LARGE\`) |`,
    '',
    '### pack client retry policy',
    '',
    `\`pack\` retries HTTP 503, HTTP 429 and these connection failures before any answer: ${[...RETRYABLE_NETWORK_CODES].map((c) => `\`${c}\``).join(', ')}.`,
    `At most \`--retries\` times (default ${DEFAULT_RETRY_POLICY.retries}); it waits the server's \`Retry-After\` (capped at ${DEFAULT_RETRY_POLICY.maxWaitSeconds} s),`,
    `else ${DEFAULT_RETRY_POLICY.baseDelayMs / 1000} s, ${(2 * DEFAULT_RETRY_POLICY.baseDelayMs) / 1000} s, ${(4 * DEFAULT_RETRY_POLICY.baseDelayMs) / 1000} s… ±20 % (capped at ${DEFAULT_RETRY_POLICY.maxBackoffMs / 1000} s).`,
    'Other statuses, TLS failures, and a request with no answer within `--timeout` (the pack may still be running) are not retried.',
    '',
  ].join('\n');
}
