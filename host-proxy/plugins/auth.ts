/**
 * Authentication for routes marked `config: { authenticate: true }`: runs before the body is
 * read (an unauthenticated caller never gets a 10 MiB body parsed) and leaves the caller on
 * `request.principal`. Authorisation of identity × environment happens in the route, once
 * the validated body names them.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Authenticator } from '../auth/authenticator.js';
import type { Principal } from '../auth/principal.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route needs an authenticated caller (and is rate limited per caller). */
    authenticate?: boolean;
  }
  interface FastifyRequest {
    principal: Principal | undefined;
  }
}

/** Adds the authentication hook. */
export const authPlugin = fp(
  async (app: FastifyInstance, opts: { authenticator: Authenticator }) => {
    app.decorateRequest('principal', undefined);
    app.addHook('onRequest', async (request) => {
      if (request.routeOptions.config.authenticate !== true) return;
      request.principal = await opts.authenticator.authenticate(request.headers.authorization);
      request.log.debug({ principal: request.principal.name, kind: request.principal.kind }, 'authenticated');
    });
  },
  { name: 'attested-pack-auth', dependencies: ['attested-pack-errors'] },
);
