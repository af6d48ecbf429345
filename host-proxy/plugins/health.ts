/**
 * `GET /healthz` (the process answers) and `GET /readyz` (the enclave answers `health` and
 * produces an attestation document). Readiness bypasses the queue: a busy enclave is still
 * a ready one.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { toAttestedPackError } from '../../common/errors.js';
import type { EnclaveLink } from '../enclave-link.js';
import { readyResponseSchema } from '../schemas.js';

/** Registers /healthz and /readyz. */
export async function healthRoutes(app: FastifyInstance, opts: { link: EnclaveLink; healthTimeoutMs: number; retryAfterSeconds: number }): Promise<void> {
  app.get(
    '/healthz',
    { schema: { summary: 'Liveness: the proxy process answers', response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    { schema: { summary: 'Readiness: the enclave is reachable and attesting', response: { 200: readyResponseSchema, 503: readyResponseSchema } } },
    async (request, reply) => {
      try {
        const health = await opts.link.request('health', {}, { timeoutMs: opts.healthTimeoutMs });
        await opts.link.request('attest', { nonce: new Uint8Array(randomBytes(32)) }, { timeoutMs: opts.healthTimeoutMs });
        return { status: 'ready', enclave: { status: health.status, version: health.version, inFlight: health.inFlight, signingReady: health.signingReady } };
      } catch (err) {
        const e = toAttestedPackError(err);
        request.log.warn({ code: e.code }, 'not ready');
        reply.header('retry-after', String(opts.retryAfterSeconds)).status(503);
        return { status: 'unready', error: { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) } };
      }
    },
  );
}
