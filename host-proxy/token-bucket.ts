/**
 * Per-client rate limiting: one token bucket per authenticated client, refilled continuously
 * at `requestsPerMinute`, holding at most `burst` tokens. The clock is injected for tests.
 */

export interface RateDecision {
  allowed: boolean;
  /** Whole seconds until a request would be allowed (0 when allowed). */
  retryAfterSeconds: number;
}

/** Token buckets keyed by client. */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly perMs: number;

  constructor(
    private readonly requestsPerMinute: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
    /** Bound on remembered clients; full idle buckets are forgotten first. */
    private readonly maxClients = 10_000,
  ) {
    this.perMs = requestsPerMinute / 60_000;
  }

  /** Clients currently remembered. */
  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token for `key` if there is one. */
  take(key: string): RateDecision {
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      // Make room before remembering a new client (never evicting the one being served).
      if (this.buckets.size >= this.maxClients) this.prune(t);
      b = { tokens: this.burst, at: t };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + Math.max(0, t - b.at) * this.perMs);
    b.at = t;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { allowed: true, retryAfterSeconds: 0 };
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / this.perMs / 1000)) };
  }

  private prune(t: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + (t - b.at) * this.perMs >= this.burst) this.buckets.delete(k);
    }
    // Still full of active clients: drop the oldest entries (Map keeps insertion order).
    for (const k of this.buckets.keys()) {
      if (this.buckets.size < this.maxClients) break;
      this.buckets.delete(k);
    }
  }
}
