/**
 * Static bearer tokens. The configuration holds only SHA-256 hashes, so a leaked config file
 * does not leak tokens; lookups compare hashes in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { TokenRule } from '../config.js';
import type { Principal } from './principal.js';

/** Hashes a token the way `auth.tokens[].sha256` expects (lower-case hex SHA-256 of UTF-8). */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Looks up presented tokens against the configured hashes. */
export class StaticTokens {
  private readonly entries: Array<{ rule: TokenRule; digest: Buffer }>;

  constructor(rules: readonly TokenRule[]) {
    this.entries = rules.map((rule) => ({ rule, digest: Buffer.from(rule.sha256, 'hex') }));
  }

  get size(): number {
    return this.entries.length;
  }

  /** The principal for a token, or undefined when no configured hash matches. */
  lookup(token: string): Principal | undefined {
    const digest = createHash('sha256').update(token, 'utf8').digest();
    let found: TokenRule | undefined;
    // Compare against every entry so the time taken does not say which one matched.
    for (const e of this.entries) {
      if (timingSafeEqual(digest, e.digest) && found === undefined) found = e.rule;
    }
    if (!found) return undefined;
    const grant = { identities: found.identities, environments: found.environments, repositories: found.repositories };
    return { name: found.name, kind: 'token', rateKey: `token:${found.name}`, grants: [grant] };
  }
}
