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
    // Callback style: an async hook costs a promise per request.
    app.addHook('onRequest', (request, _reply, done) => {
      if (request.routeOptions.config.authenticate !== true || request.principal === undefined) return done();
      const decision = opts.buckets.take(request.principal.rateKey);
      if (!decision.allowed) {
        return done(
          new HostProxyError('RATE_LIMITED', `too many requests from ${request.principal.name}`, {
            hint: `retry in ${decision.retryAfterSeconds} s (Retry-After)`,
            retryAfterSeconds: decision.retryAfterSeconds,
          }),
        );
      }
      done();
    });
  },
  { name: 'attested-pack-rate-limit', dependencies: ['attested-pack-auth'] },
);
