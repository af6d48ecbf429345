/** The benchmark's building blocks: summaries, percentiles and seeded inputs, against independent values. */
import { describe, expect, it } from 'vitest';
import { Decrypter, Encrypter, identityToRecipient } from 'age-encryption';
import { ageIdentityFromSeed, bech32Encode, percentile, seededBytes, seededHex, summarize } from '../../bench/index.js';

describe('summarize and percentile', () => {
  it('min, median (mean of the middle two when even), max and nearest-rank p99', () => {
    expect(summarize([5, 1, 3])).toEqual({ n: 3, min: 1, median: 3, max: 5, p99: 5 });
    expect(summarize([4, 1, 3, 2])).toMatchObject({ median: 2.5 });
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile([7], 99)).toBe(7);
  });

  it('is NaN for no samples rather than a made-up number', () => {
    const s = summarize([]);
    expect(s.n).toBe(0);
    expect(Number.isNaN(s.median)).toBe(true);
    expect(Number.isNaN(percentile([], 50))).toBe(true);
  });
});

describe('seeded inputs', () => {
  it('the same seed gives the same bytes, another seed other bytes', () => {
    expect(seededBytes('a', 64).equals(seededBytes('a', 64))).toBe(true);
    expect(seededBytes('a', 64).equals(seededBytes('b', 64))).toBe(false);
    expect(seededHex('a', 4)).toBe(seededBytes('a', 4).toString('hex'));
  });

  it('bech32 matches the BIP-173 test vectors', () => {
    expect(bech32Encode('a', new Uint8Array(0))).toBe('a12uel5l');
    // "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw": data words 0..31 = these 20 bytes.
    const words = Array.from({ length: 32 }, (_, i) => i);
    let acc = 0n;
    for (const w of words) acc = (acc << 5n) | BigInt(w);
    const bytes = Buffer.from(acc.toString(16).padStart(40, '0'), 'hex');
    expect(bech32Encode('abcdef', bytes)).toBe('abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw');
  });

  it('seeded age identities are valid keys for age-encryption, and differ by seed', async () => {
    const id = ageIdentityFromSeed('test');
    expect(id).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
    expect(ageIdentityFromSeed('test')).toBe(id);
    expect(ageIdentityFromSeed('other')).not.toBe(id);
    const e = new Encrypter();
    e.addRecipient(await identityToRecipient(id));
    const d = new Decrypter();
    d.addIdentity(id);
    expect(new TextDecoder().decode(await d.decrypt(await e.encrypt('x')))).toBe('x');
    const wrong = new Decrypter();
    wrong.addIdentity(ageIdentityFromSeed('other'));
    await expect(wrong.decrypt(await e.encrypt('x'))).rejects.toThrow();
  });
});
