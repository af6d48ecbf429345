/**
 * The enclave's ephemeral RSA-2048 recipient keys for KMS `Recipient` calls.
 *
 * Generating RSA-2048 costs about 0.2 s of CPU, so a key per pack would cap throughput at a few
 * packs per second per core. Instead a key is used for at most `maxUses` packs or `maxAgeMs`
 * (default 1,000 uses / 5 minutes), and its successor is generated in the background (libuv's
 * thread pool) so rotation never blocks a pack. `maxUses: 1` gives a fresh key per pack.
 * Keys live only in enclave memory and are never exported.
 *
 * The attestation document that carries a key's public half to KMS (`documentFor`) is made once
 * per key and reused for at most `documentMaxAgeMs` (default 60 s): it binds nothing but the
 * enclave's measurements and that public key — no request data, no nonce — so a copy in the host's
 * hands only lets KMS encrypt to a key the host does not hold. Rotation is unchanged: a new key
 * gets a new document.
 */
import { generateKeyPair, type KeyObject } from 'node:crypto';

export interface RecipientKey {
  /** Monotonic number of this key since start (for logs and tests; not secret). */
  readonly serial: number;
  readonly privateKey: KeyObject;
  /** SubjectPublicKeyInfo DER: what goes into the attestation document's `public_key`. */
  readonly spkiDer: Uint8Array;
  readonly createdAt: number;
}

export interface RecipientKeyRingOptions {
  maxUses?: number;
  maxAgeMs?: number;
  modulusLength?: 2048 | 3072 | 4096;
  /** How long one attestation document of a key is reused (ms; KMS publishes no maximum age, the simulator accepts 5 minutes). */
  documentMaxAgeMs?: number;
  now?: () => number;
}

/** Hands out recipient keys, rotating by use count and age, with the next key pre-generated. */
export class RecipientKeyRing {
  private current: { key: RecipientKey; uses: number; firstUse: number } | undefined;
  private next: Promise<RecipientKey> | undefined;
  private queue: Promise<void> = Promise.resolve();
  private serial = 0;
  private readonly documents = new WeakMap<RecipientKey, { source: object; document: Promise<Uint8Array>; madeAt: number }>();
  private readonly documentMaxAgeMs: number;
  private readonly maxUses: number;
  private readonly maxAgeMs: number;
  private readonly modulusLength: number;
  private readonly now: () => number;

  constructor(options: RecipientKeyRingOptions = {}) {
    this.maxUses = options.maxUses ?? 1000;
    this.maxAgeMs = options.maxAgeMs ?? 5 * 60_000;
    this.modulusLength = options.modulusLength ?? 2048;
    this.now = options.now ?? Date.now;
    this.documentMaxAgeMs = options.documentMaxAgeMs ?? 60_000;
    if (!Number.isInteger(this.maxUses) || this.maxUses < 1) throw new RangeError('maxUses must be a positive integer');
    if (!(this.documentMaxAgeMs >= 0)) throw new RangeError('documentMaxAgeMs must not be negative');
    if (!(this.maxAgeMs > 0)) throw new RangeError('maxAgeMs must be positive');
  }

  /** Starts generating the first key (call at boot so the first pack does not wait). */
  warmUp(): void {
    this.startNext();
  }

  /** The key to use for one pack; counts one use and rotates when due. Safe under concurrency. */
  acquire(): Promise<RecipientKey> {
    // One acquire at a time: two concurrent callers must never share a single-use key, nor
    // reset each other's use counts.
    const run = this.queue.then(() => this.acquireNow());
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async acquireNow(): Promise<RecipientKey> {
    const c = this.current;
    if (c && c.uses < this.maxUses && this.now() - c.firstUse < this.maxAgeMs) {
      c.uses++;
      this.prefetchIfDue(c);
      return c.key;
    }
    const pending = this.next ?? this.generate();
    this.next = undefined;
    const key = await pending;
    // The age limit counts from first use, so a key made at warm-up is not born old.
    const fresh = { key, uses: 1, firstUse: this.now() };
    this.current = fresh;
    this.prefetchIfDue(fresh);
    return key;
  }

  /**
   * The attestation document carrying `key`'s public half, made by `source` (the NSM port):
   * `attest()` is called for the first pack of a key and again once the document is older than
   * `documentMaxAgeMs` or comes from another source; concurrent packs share one call, and a
   * failed call is not remembered.
   */
  documentFor(key: RecipientKey, source: object, attest: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const known = this.documents.get(key);
    if (known && known.source === source && this.now() - known.madeAt < this.documentMaxAgeMs) return known.document;
    const entry = { source, document: attest(), madeAt: this.now() };
    this.documents.set(key, entry);
    entry.document.catch(() => {
      if (this.documents.get(key) === entry) this.documents.delete(key);
    });
    return entry.document;
  }

  /** Forgets every key (shutdown). */
  clear(): void {
    this.current = undefined;
    this.next = undefined;
  }

  private prefetchIfDue(c: { key: RecipientKey; uses: number; firstUse: number }): void {
    // Start the successor once the current key is past half its life, or at once for single-use keys.
    const halfUses = c.uses >= Math.ceil(this.maxUses / 2);
    const halfAge = this.now() - c.firstUse >= this.maxAgeMs / 2;
    if (halfUses || halfAge || this.maxUses === 1) this.startNext();
  }

  /** Generates the successor in the background; a failure is forgotten and retried on demand. */
  private startNext(): void {
    if (this.next) return;
    const p = this.generate();
    this.next = p;
    p.catch(() => {
      if (this.next === p) this.next = undefined;
    });
  }

  private generate(): Promise<RecipientKey> {
    const serial = ++this.serial;
    return new Promise((resolve, reject) => {
      generateKeyPair('rsa', { modulusLength: this.modulusLength, publicExponent: 0x10001 }, (err, publicKey, privateKey) => {
        if (err) return reject(err);
        const spkiDer = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
        resolve({ serial, privateKey, spkiDer, createdAt: this.now() });
      });
    });
  }
}
