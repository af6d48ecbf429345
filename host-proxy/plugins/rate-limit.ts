/**
 * Per-client rate limiting of authenticated routes (after the auth hook, before the body is
 * read): over the rate → 429 with `Retry-After`.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { HostProxyError } from '../errors.js';
import type { TokenBuckets } from '../token-bucket.js';

/** Adds the rate-limit hook. */
export const rateLimitPlugin = fp(
  async (app: FastifyInstance, opts: { buckets: TokenBuckets }) => {
    app.addHook('onRequest', async (request) => {
      if (request.routeOptions.config.authenticate !== true || request.principal === undefined) return;
      const decision = opts.buckets.take(request.principal.rateKey);
      if (!decision.allowed) {
        throw new HostProxyError('RATE_LIMITED', `too many requests from ${request.principal.name}`, {
          hint: `retry in ${decision.retryAfterSeconds} s (Retry-After)`,
          retryAfterSeconds: decision.retryAfterSeconds,
        });
      }
    });
  },
  { name: 'attested-pack-rate-limit', dependencies: ['attested-pack-auth'] },
);
