/**
 * Who is calling and what they may pack. Authentication (a token → a `Principal`) happens before
 * the body is read; authorisation (may this principal pack identity × environment for this
 * repository?) happens once the validated body names them.
 */
import { HostProxyError } from '../errors.js';

/** What one grant allows: `*` in a list allows every value. */
export interface Grant {
  identities: string[];
  environments: string[];
  /** Repositories the request may name (`*` = any); absent only for the local principal. */
  repositories?: string[];
  /** The commit the request must name (a GitHub OIDC token's `sha`); absent → any. */
  commit?: string;
}

/** An authenticated caller. */
export interface Principal {
  /** Becomes `requestedBy` in the pack request and the receipt (token name or OIDC `sub`). */
  name: string;
  kind: 'token' | 'github-oidc' | 'local';
  /** Rate-limit bucket key (one per static token, one per repository for OIDC). */
  rateKey: string;
  grants: Grant[];
  /** For OIDC callers, the repository the token was issued to: the request must name it. */
  repository?: string;
}

/** What a pack request asks for, as far as authorisation is concerned. */
export interface PackScope {
  identity: string;
  environment: string;
  repository: string;
  commit: string;
}

function allows(list: readonly string[], value: string): boolean {
  return list.includes('*') || list.includes(value);
}

function quoteList(values: readonly string[]): string {
  return values.map((v) => JSON.stringify(v)).join(', ');
}

/** Throws AUTH_FORBIDDEN (403) unless the principal may pack this scope. */
export function authorizePack(principal: Principal, scope: PackScope): void {
  if (principal.repository !== undefined && scope.repository !== principal.repository) {
    throw new HostProxyError(
      'AUTH_FORBIDDEN',
      `the request names repository ${JSON.stringify(scope.repository)} but the token was issued to ${JSON.stringify(principal.repository)}`,
      { hint: 'send the repository the workflow runs in (GITHUB_REPOSITORY)' },
    );
  }
  const byRepo = principal.grants.filter((g) => g.repositories === undefined || allows(g.repositories, scope.repository));
  if (byRepo.length === 0) {
    throw new HostProxyError('AUTH_FORBIDDEN', `${principal.name} may not pack for repository ${JSON.stringify(scope.repository)}`, {
      hint: 'ask the proxy operator to add the repository to this token\'s `repositories`',
    });
  }
  const byCommit = byRepo.filter((g) => g.commit === undefined || g.commit === scope.commit.toLowerCase());
  if (byCommit.length === 0) {
    throw new HostProxyError(
      'AUTH_FORBIDDEN',
      `the request names commit ${JSON.stringify(scope.commit)} but the token was issued for the workflow run at ${JSON.stringify(byRepo[0]!.commit)}`,
      { hint: 'pack the commit the workflow runs on (actions/checkout of github.sha), or ask the proxy operator for a rule with anyCommit: true' },
    );
  }
  const byIdentity = byCommit.filter((g) => allows(g.identities, scope.identity));
  if (byIdentity.length === 0) {
    const allowed = [...new Set(byCommit.flatMap((g) => g.identities))];
    throw new HostProxyError(
      'AUTH_FORBIDDEN',
      `${principal.name} may not pack service identity ${JSON.stringify(scope.identity)} (allowed: ${quoteList(allowed)})`,
      { hint: 'ask the proxy operator to extend the allowlist, or pack an allowed identity' },
    );
  }
  if (!byIdentity.some((g) => allows(g.environments, scope.environment))) {
    const allowed = [...new Set(byIdentity.flatMap((g) => g.environments))];
    throw new HostProxyError(
      'AUTH_FORBIDDEN',
      `${principal.name} may not pack environment ${JSON.stringify(scope.environment)} of ${JSON.stringify(scope.identity)} (allowed: ${quoteList(allowed)})`,
      { hint: 'ask the proxy operator to extend the allowlist, or pack an allowed environment' },
    );
  }
}

/** The principal of an unauthenticated local proxy (`--insecure-local`): may pack anything. */
export const LOCAL_PRINCIPAL: Principal = Object.freeze({
  name: 'local',
  kind: 'local',
  rateKey: 'local',
  grants: [{ identities: ['*'], environments: ['*'] }],
});
