/**
 * `GET /healthz` (the process answers) and `GET /readyz` (the enclave answers `health` and
 * produces an attestation document). Readiness bypasses the queue: a busy enclave is still
 * a ready one. Anonymous callers share one cached probe (see healthRoutes).
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { toAttestedPackError } from '../../common/errors.js';
import type { EnclaveLink } from '../enclave-link.js';
import { readyResponseSchema } from '../schemas.js';

/** How long one readiness answer serves every /readyz caller (default 5 s). */
export const DEFAULT_READY_CACHE_MS = 5_000;

type ReadyAnswer = { ok: true; body: Record<string, unknown> } | { ok: false; code: string; body: Record<string, unknown> };

/**
 * Registers /healthz and /readyz. /readyz is unauthenticated, so it must cost the enclave nothing
 * per caller: one probe (`health` + `attest`) runs at a time, shared by every caller waiting for
 * it, and a ready answer is reused for `readyCacheMs` while the link stays connected — however
 * many anonymous clients ask, the enclave sees at most one probe per period (or, while it fails,
 * one at a time).
 */
export async function healthRoutes(
  app: FastifyInstance,
  opts: { link: EnclaveLink; healthTimeoutMs: number; retryAfterSeconds: number; readyCacheMs?: number; now?: () => number },
): Promise<void> {
  const now = opts.now ?? Date.now;
  const ttl = opts.readyCacheMs ?? DEFAULT_READY_CACHE_MS;
  let cached: { at: number; answer: ReadyAnswer } | undefined;
  let probing: Promise<ReadyAnswer> | undefined;
  const probe = async (): Promise<ReadyAnswer> => {
    try {
      const health = await opts.link.request('health', {}, { timeoutMs: opts.healthTimeoutMs });
      await opts.link.request('attest', { nonce: new Uint8Array(randomBytes(32)) }, { timeoutMs: opts.healthTimeoutMs });
      return { ok: true, body: { status: 'ready', enclave: { status: health.status, version: health.version, inFlight: health.inFlight, signingReady: health.signingReady } } };
    } catch (err) {
      const e = toAttestedPackError(err);
      return { ok: false, code: e.code, body: { status: 'unready', error: { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) } } };
    }
  };
  const readiness = (): Promise<ReadyAnswer> => {
    // A ready answer stands for `ttl` while the link stays connected (asking the link is free).
    if (cached && now() - cached.at < ttl && opts.link.connected !== false) return Promise.resolve(cached.answer);
    cached = undefined;
    // One probe at a time, whatever the number of callers. A failure is not kept: the next caller
    // probes again (still one at a time), so a recovered enclave is seen at once.
    probing ??= probe().then((answer) => {
      if (answer.ok) cached = { at: now(), answer };
      probing = undefined;
      return answer;
    });
    return probing;
  };

  app.get(
    '/healthz',
    { schema: { summary: 'Liveness: the proxy process answers', response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: the enclave is reachable and attesting (one probe per period, shared by all callers)',
        response: { 200: readyResponseSchema, 503: readyResponseSchema },
      },
    },
    async (request, reply) => {
      const answer = await readiness();
      if (!answer.ok) {
        request.log.warn({ code: answer.code }, 'not ready');
        reply.header('retry-after', String(opts.retryAfterSeconds)).status(503);
      }
      return answer.body;
    },
  );
}
