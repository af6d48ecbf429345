import { describe, expect, it } from 'vitest';
import { createPublicKey } from 'node:crypto';
import { RecipientKeyRing } from '../../../enclave-app/pack/recipient-keys.js';

describe('RecipientKeyRing', () => {
  it('reuses one RSA-2048 key up to maxUses, then rotates to a different key', async () => {
    const ring = new RecipientKeyRing({ maxUses: 3 });
    const a = await ring.acquire();
    const b = await ring.acquire();
    const c = await ring.acquire();
    const d = await ring.acquire();
    expect(b).toBe(a);
    expect(c).toBe(a);
    expect(d).not.toBe(a);
    expect(d.serial).toBeGreaterThan(a.serial);
    const pub = createPublicKey({ key: Buffer.from(a.spkiDer), format: 'der', type: 'spki' });
    expect(pub.asymmetricKeyType).toBe('rsa');
    expect(pub.asymmetricKeyDetails?.modulusLength).toBe(2048);
    ring.clear();
  });

  it('rotates by age with an injected clock', async () => {
    let now = 1_000_000;
    const ring = new RecipientKeyRing({ maxAgeMs: 1000, now: () => now });
    const a = await ring.acquire();
    now += 999;
    expect(await ring.acquire()).toBe(a);
    now += 1;
    const b = await ring.acquire();
    expect(b).not.toBe(a);
    expect(Buffer.from(b.spkiDer).equals(Buffer.from(a.spkiDer))).toBe(false);
    ring.clear();
  });

  it('gives a fresh key to every pack in single-use mode', async () => {
    const ring = new RecipientKeyRing({ maxUses: 1 });
    ring.warmUp();
    const keys = [await ring.acquire(), await ring.acquire(), await ring.acquire()];
    expect(new Set(keys.map((k) => Buffer.from(k.spkiDer).toString('hex'))).size).toBe(3);
    ring.clear();
  });

  it('never hands one single-use key to two concurrent packs', async () => {
    const ring = new RecipientKeyRing({ maxUses: 1 });
    const keys = await Promise.all([ring.acquire(), ring.acquire(), ring.acquire()]);
    expect(new Set(keys.map((k) => k.serial)).size).toBe(3);
    ring.clear();
  });

  it('counts uses exactly under concurrency', async () => {
    const ring = new RecipientKeyRing({ maxUses: 2 });
    const keys = await Promise.all([ring.acquire(), ring.acquire(), ring.acquire(), ring.acquire()]);
    const uses = new Map<number, number>();
    for (const k of keys) uses.set(k.serial, (uses.get(k.serial) ?? 0) + 1);
    expect([...uses.values()]).toEqual([2, 2]);
    ring.clear();
  });

  it('rejects nonsensical settings', () => {
    expect(() => new RecipientKeyRing({ maxUses: 0 })).toThrow(RangeError);
    expect(() => new RecipientKeyRing({ maxAgeMs: 0 })).toThrow(RangeError);
  });
  it('reuses a key\'s attestation document for documentMaxAgeMs, per NSM source; a new key or a failure means a new document', async () => {
    let now = 5_000_000;
    const ring = new RecipientKeyRing({ maxUses: 2, documentMaxAgeMs: 1000, now: () => now });
    const nsm = {};
    let made = 0;
    const attest = async () => new Uint8Array([++made]);
    const a = await ring.acquire();
    const d1 = await ring.documentFor(a, nsm, attest);
    expect(await ring.documentFor(a, nsm, attest)).toBe(d1);
    // Concurrent packs share one attestation.
    now += 500;
    const [x, y] = await Promise.all([ring.documentFor(a, nsm, attest), ring.documentFor(a, nsm, attest)]);
    expect(x).toBe(d1);
    expect(y).toBe(d1);
    expect(made).toBe(1);
    // Another NSM port (other measurements) never gets this one's document.
    const other = await ring.documentFor(a, {}, attest);
    expect(other).not.toBe(d1);
    expect(made).toBe(2);
    // Too old: attest again.
    now += 1000;
    const d3 = await ring.documentFor(a, nsm, attest);
    expect(d3[0]).toBe(3);
    // Rotation: the next key gets its own document.
    await ring.acquire();
    const b = await ring.acquire();
    expect(b).not.toBe(a);
    expect((await ring.documentFor(b, nsm, attest))[0]).toBe(4);
    // A failed attestation is not remembered.
    const failing = () => Promise.reject(new Error('nsm busy'));
    now += 5000;
    await expect(ring.documentFor(b, nsm, failing)).rejects.toThrow('nsm busy');
    expect((await ring.documentFor(b, nsm, attest))[0]).toBe(5);
    ring.clear();
  });
});
