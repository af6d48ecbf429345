/**
 * Turns an `Authorization` header into a principal: a static token, a GitHub OIDC token, or —
 * only when the proxy runs with `--insecure-local` and no auth at all — the local principal.
 */
import { HostProxyError } from '../errors.js';
import { looksLikeJwt, type GithubOidcVerifier } from './github-oidc.js';
import { LOCAL_PRINCIPAL, type Principal } from './principal.js';
import type { StaticTokens } from './static-tokens.js';

/** Authenticates callers from their `Authorization` header. */
export class Authenticator {
  constructor(
    private readonly tokens: StaticTokens,
    private readonly oidc: GithubOidcVerifier | undefined,
    /** True only for an insecure local proxy with no auth configured. */
    private readonly anonymousAllowed: boolean,
  ) {}

  async authenticate(header: string | undefined): Promise<Principal> {
    if (header === undefined || header === '') {
      if (this.anonymousAllowed) return LOCAL_PRINCIPAL;
      throw new HostProxyError('AUTH_MISSING', 'missing Authorization header', {
        hint: 'send `Authorization: Bearer <token>` (a proxy token, or a GitHub Actions OIDC token)',
      });
    }
    const m = /^Bearer ([\x21-\x7e]{1,8192})$/i.exec(header);
    if (!m) {
      throw new HostProxyError('AUTH_MALFORMED', 'the Authorization header is not `Bearer <token>`', {
        hint: 'send exactly `Authorization: Bearer <token>` with no extra spaces',
      });
    }
    const token = m[1];
    if (this.oidc && looksLikeJwt(token)) return this.oidc.authenticate(token);
    const principal = this.tokens.lookup(token);
    if (principal) return principal;
    if (this.anonymousAllowed) return LOCAL_PRINCIPAL;
    throw new HostProxyError('AUTH_UNKNOWN_TOKEN', 'the bearer token is not one this proxy knows', {
      hint: this.oidc ? 'use a configured proxy token or a GitHub Actions OIDC token' : 'use a token configured under auth.tokens',
    });
  }
}
