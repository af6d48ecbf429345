/**
 * GitHub Actions OIDC tokens: signature against the configured JWKS (GitHub's URL or a local
 * file), issuer, audience and lifetime checked by `jose`, then the allowlist mapping the
 * `repository` (pinned by `repository_id`, optionally `repository_owner_id`), `event_name`, `ref`,
 * `environment` and `job_workflow_ref` claims to what that workflow may pack, bound to the run's `sha`.
 * Failures of the token itself are 401; a valid token outside the allowlist is 403.
 */
import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ConfigError } from '../../common/errors.js';
import type { GithubOidcConfig, OidcAllowRule } from '../config.js';
import { HostProxyError } from '../errors.js';
import type { Principal } from './principal.js';

/** The GitHub claims the allowlist looks at. */
export interface GithubClaims {
  sub: string;
  repository: string;
  repositoryId?: string;
  repositoryOwnerId?: string;
  ref?: string;
  environment?: string;
  eventName?: string;
  jobWorkflowRef?: string;
  /** The commit the workflow run is for (lower-case hex). */
  sha?: string;
}

/** Asymmetric algorithms only: GitHub signs with RS256; `none` and HMAC are never accepted. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384'];

/** Heuristic: compact JWS (three base64url parts, JSON header) rather than a static token. */
export function looksLikeJwt(token: string): boolean {
  return /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

/** Verifies GitHub Actions OIDC tokens and maps them to principals. */
export class GithubOidcVerifier {
  constructor(
    private readonly config: GithubOidcConfig,
    private readonly keys: JWTVerifyGetKey,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Builds a verifier, loading a JWKS file or preparing the (cached, lazily fetched) remote set. */
  static async create(config: GithubOidcConfig, now?: () => Date): Promise<GithubOidcVerifier> {
    if (config.jwksFile !== undefined) {
      let jwks: JSONWebKeySet;
      try {
        jwks = JSON.parse(await readFile(config.jwksFile, 'utf8')) as JSONWebKeySet;
        if (!Array.isArray(jwks.keys)) throw new TypeError('no keys array');
      } catch {
        throw new ConfigError('PROXY_JWKS_UNREADABLE', `auth.githubOidc.jwksFile: ${config.jwksFile} is not a readable JWKS JSON file`, {
          hint: 'download https://token.actions.githubusercontent.com/.well-known/jwks into that file, or use jwksUrl',
        });
      }
      return new GithubOidcVerifier(config, createLocalJWKSet(jwks), now);
    }
    const url = new URL(config.jwksUrl ?? '');
    return new GithubOidcVerifier(config, createRemoteJWKSet(url, { timeoutDuration: 5000, cooldownDuration: 30_000, cacheMaxAge: 600_000 }), now);
  }

  /** Verifies a token and returns the principal it stands for; throws 401/403 errors. */
  async authenticate(token: string): Promise<Principal> {
    const claims = await this.verifyToken(token);
    return this.principalFor(claims);
  }

  /** Step 1: signature, issuer, audience, lifetime; then the claims GitHub always sets. */
  async verifyToken(token: string): Promise<GithubClaims> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keys, {
        issuer: this.config.issuer,
        audience: this.config.audience,
        algorithms: ALGORITHMS,
        clockTolerance: this.config.clockToleranceSeconds,
        currentDate: this.now(),
        requiredClaims: ['exp', 'iat'],
      }));
    } catch (err) {
      throw this.explain(err);
    }
    const repository = payload.repository;
    if (typeof payload.sub !== 'string' || typeof repository !== 'string') {
      throw new HostProxyError('AUTH_INVALID_CLAIMS', 'the OIDC token has no `sub` or `repository` claim: it is not a GitHub Actions token', {
        hint: 'request the token from the GitHub Actions runtime (ACTIONS_ID_TOKEN_REQUEST_URL)',
      });
    }
    const claims: GithubClaims = { sub: payload.sub, repository };
    if (typeof payload.ref === 'string') claims.ref = payload.ref;
    if (typeof payload.environment === 'string') claims.environment = payload.environment;
    if (typeof payload.repository_id === 'string') claims.repositoryId = payload.repository_id;
    if (typeof payload.repository_owner_id === 'string') claims.repositoryOwnerId = payload.repository_owner_id;
    if (typeof payload.event_name === 'string') claims.eventName = payload.event_name;
    if (typeof payload.job_workflow_ref === 'string') claims.jobWorkflowRef = payload.job_workflow_ref;
    if (typeof payload.sha === 'string' && /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/i.test(payload.sha)) claims.sha = payload.sha.toLowerCase();
    return claims;
  }

  /**
   * Step 2: the allowlist entries for this repository, pinned by its numeric id (and the owner's,
   * when the rule says), then narrowed by event, ref, GitHub environment and calling workflow.
   * Each rule that still matches becomes a grant, bound to the token's `sha` unless the rule
   * says `anyCommit`. Every narrowing step that empties the list is its own 403.
   */
  principalFor(claims: GithubClaims): Principal {
    const forRepo = this.config.allow.filter((r) => r.repository.toLowerCase() === claims.repository.toLowerCase());
    if (forRepo.length === 0) {
      throw new HostProxyError('AUTH_FORBIDDEN', `repository ${JSON.stringify(claims.repository)} is not in the proxy's allowlist`, {
        hint: 'ask the proxy operator to add it under auth.githubOidc.allow',
      });
    }
    const byId = forRepo.filter(
      (r) => claims.repositoryId === r.repositoryId && (r.repositoryOwnerId === undefined || claims.repositoryOwnerId === r.repositoryOwnerId),
    );
    if (byId.length === 0) {
      throw new HostProxyError(
        'AUTH_FORBIDDEN',
        `${claims.repository} (repository_id ${JSON.stringify(claims.repositoryId ?? null)}, repository_owner_id ${JSON.stringify(claims.repositoryOwnerId ?? null)}) is not the repository the allowlist pins by id`,
        { hint: 'a repository of that name was deleted and re-created, or transferred: the operator must confirm and update repositoryId' },
      );
    }
    const byEvent = byId.filter((r) => claims.eventName !== undefined && r.eventNames.includes(claims.eventName));
    if (byEvent.length === 0) {
      throw new HostProxyError(
        'AUTH_FORBIDDEN',
        `a ${JSON.stringify(claims.eventName ?? '(no event_name)')} run of ${claims.repository} may not pack (allowed events: ${[...new Set(byId.flatMap((r) => r.eventNames))].join(', ')})`,
        { hint: 'pack from a push, workflow_dispatch, schedule or release run; pull_request_target runs must never pack unless a rule lists the event' },
      );
    }
    const byRef = byEvent.filter((r) => r.refs === undefined || (claims.ref !== undefined && r.refs.includes(claims.ref)));
    if (byRef.length === 0) {
      throw new HostProxyError('AUTH_FORBIDDEN', `ref ${JSON.stringify(claims.ref ?? '')} of ${claims.repository} may not pack (allowed: ${listOf(byEvent, 'refs')})`, {
        hint: 'run the workflow from an allowed branch or tag',
      });
    }
    const byEnv = byRef.filter(
      (r) => r.githubEnvironments === undefined || (claims.environment !== undefined && r.githubEnvironments.includes(claims.environment)),
    );
    if (byEnv.length === 0) {
      throw new HostProxyError(
        'AUTH_FORBIDDEN',
        `GitHub environment ${JSON.stringify(claims.environment ?? '(none)')} of ${claims.repository} may not pack (allowed: ${listOf(byRef, 'githubEnvironments')})`,
        { hint: 'set `environment:` on the job to an allowed GitHub environment' },
      );
    }
    const byWorkflow = byEnv.filter((r) => r.jobWorkflowRefs === undefined || (claims.jobWorkflowRef !== undefined && r.jobWorkflowRefs.includes(claims.jobWorkflowRef)));
    if (byWorkflow.length === 0) {
      throw new HostProxyError(
        'AUTH_FORBIDDEN',
        `workflow ${JSON.stringify(claims.jobWorkflowRef ?? '(none)')} of ${claims.repository} may not pack (allowed: ${listOf(byEnv, 'jobWorkflowRefs')})`,
        { hint: 'pack from an allowed workflow file on an allowed ref' },
      );
    }
    const bySha = byWorkflow.filter((r) => r.anyCommit || claims.sha !== undefined);
    if (bySha.length === 0) {
      throw new HostProxyError('AUTH_INVALID_CLAIMS', `the OIDC token of ${claims.repository} has no usable \`sha\` claim, and the allowlist binds packs to it`, {
        hint: 'request the token from the GitHub Actions runtime, or ask the proxy operator for a rule with anyCommit: true',
      });
    }
    return {
      name: claims.sub,
      kind: 'github-oidc',
      rateKey: `github:${claims.repository.toLowerCase()}`,
      repository: claims.repository,
      grants: bySha.map((r) => ({ identities: r.identities, environments: r.environments, ...(r.anyCommit ? {} : { commit: claims.sha! }) })),
    };
  }

  private explain(err: unknown): HostProxyError {
    const hint = `request a token with audience ${JSON.stringify(this.config.audience)} from GitHub Actions (permissions: id-token: write)`;
    if (err instanceof joseErrors.JWTExpired) {
      const exp = typeof err.payload.exp === 'number' ? new Date(err.payload.exp * 1000).toISOString() : 'unknown';
      return new HostProxyError('AUTH_EXPIRED', `the OIDC token expired (exp ${exp})`, { hint: 'request a fresh token right before calling the proxy' });
    }
    if (err instanceof joseErrors.JWTClaimValidationFailed) {
      if (err.claim === 'iss') {
        return new HostProxyError('AUTH_WRONG_ISSUER', `the OIDC token's issuer ${describeClaim(err.payload.iss)} is not ${JSON.stringify(this.config.issuer)}`, { hint });
      }
      if (err.claim === 'aud') {
        return new HostProxyError('AUTH_WRONG_AUDIENCE', `the OIDC token's audience ${describeClaim(err.payload.aud)} does not include ${JSON.stringify(this.config.audience)}`, { hint });
      }
      if (err.claim === 'nbf' || err.claim === 'iat') {
        return new HostProxyError('AUTH_INVALID_CLAIMS', `the OIDC token is not valid yet (${err.claim} is in the future)`, { hint: 'check the clocks of the runner and the proxy' });
      }
      return new HostProxyError('AUTH_INVALID_CLAIMS', `the OIDC token's ${err.claim} claim is missing or invalid`, { hint });
    }
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
      return new HostProxyError('AUTH_BAD_SIGNATURE', 'the OIDC token signature does not verify against the configured JWKS', { hint });
    }
    if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) {
      return new HostProxyError('AUTH_BAD_SIGNATURE', 'no key of the configured JWKS matches the OIDC token (kid/alg)', { hint });
    }
    if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) {
      return new HostProxyError('AUTH_MALFORMED', 'the OIDC token uses an algorithm the proxy does not accept', { hint });
    }
    if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) {
      return new HostProxyError('AUTH_MALFORMED', 'the bearer token is not a well-formed JWT', { hint });
    }
    // JWKS fetch failures (timeout, non-200, bad JSON, network): the proxy cannot decide now.
    return new HostProxyError('AUTH_JWKS_UNAVAILABLE', 'the proxy could not load the OIDC signing keys (JWKS)', {
      hint: 'retry shortly; if it persists the operator should check auth.githubOidc.jwksUrl',
      retryAfterSeconds: 5,
      cause: err,
    });
  }
}

function describeClaim(v: unknown): string {
  const text = JSON.stringify(v ?? null);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function listOf(rules: readonly OidcAllowRule[], key: 'refs' | 'githubEnvironments' | 'jobWorkflowRefs'): string {
  if (rules.some((r) => r[key] === undefined)) return 'any';
  return [...new Set(rules.flatMap((r) => r[key] ?? []))].map((v) => JSON.stringify(v)).join(', ');
}
