/**
 * Single-use nonces for relying parties: issue a fresh random nonce per exchange, and accept
 * a document carrying it once. A document replayed with a used, unknown or expired nonce is
 * refused (checklist 25), which closes the up-to-3-hour replay window a valid chain leaves open.
 */
import { randomBytes } from 'node:crypto';
import { AttestationError } from './errors.js';

/** Issues nonces and accepts each one once, within its time to live. */
export class SingleUseNonces {
  private readonly outstanding = new Map<string, number>();
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly maxOutstanding: number;

  constructor(options: { ttlMs?: number; now?: () => number; maxOutstanding?: number } = {}) {
    this.ttlMs = options.ttlMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
    this.maxOutstanding = options.maxOutstanding ?? 10_000;
  }

  /** Returns a fresh random nonce (default 32 bytes) to send to the attesting party. */
  issue(bytes = 32): Uint8Array {
    if (!Number.isInteger(bytes) || bytes < 16 || bytes > 512) throw new RangeError('nonce length must be 16..512 bytes');
    this.prune();
    if (this.outstanding.size >= this.maxOutstanding) {
      // Drop the oldest rather than grow without bound; its holder will see NONCE_REPLAYED.
      const oldest = this.outstanding.keys().next().value;
      if (oldest !== undefined) this.outstanding.delete(oldest);
    }
    const nonce = new Uint8Array(randomBytes(bytes));
    this.outstanding.set(Buffer.from(nonce).toString('hex'), this.now() + this.ttlMs);
    return nonce;
  }

  /** True when the nonce was issued, is unused and unexpired (does not consume it). */
  isOutstanding(nonce: Uint8Array): boolean {
    const expiry = this.outstanding.get(Buffer.from(nonce).toString('hex'));
    return expiry !== undefined && this.now() <= expiry;
  }

  /** Accepts a nonce once; throws ATTESTATION_NONCE_REPLAYED when unknown, used or expired. */
  consume(nonce: Uint8Array): void {
    const key = Buffer.from(nonce).toString('hex');
    const expiry = this.outstanding.get(key);
    this.outstanding.delete(key);
    if (expiry === undefined || this.now() > expiry) {
      throw new AttestationError('ATTESTATION_NONCE_REPLAYED', 'nonce was not issued here, was already used, or expired', {
        hint: 'request a fresh nonce and a new attestation document',
      });
    }
  }

  private prune(): void {
    const t = this.now();
    for (const [k, expiry] of this.outstanding) if (t > expiry) this.outstanding.delete(k);
  }
}
