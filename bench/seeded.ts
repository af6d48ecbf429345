/**
 * Deterministic inputs from fixed seeds: a byte stream (AES-256-CTR keystream under
 * SHA-256(seed), fast enough for a 256 MiB ramdisk) and age identities derived from it, so every
 * run of the benchmarks feeds ours and the peers the same plaintexts, keys and images.
 */
import { createCipheriv, createHash } from 'node:crypto';

/** A seeded, reproducible stream of pseudo-random bytes. */
export class SeededBytes {
  private readonly cipher;

  constructor(seed: string) {
    const key = createHash('sha256').update(`attested-pack bench seed\0${seed}`).digest();
    this.cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  }

  /** The next `n` bytes of the stream. */
  next(n: number): Buffer {
    return this.cipher.update(Buffer.alloc(n));
  }

  /** A 32-bit unsigned integer from the stream. */
  uint32(): number {
    return this.next(4).readUInt32BE(0);
  }
}

/** `n` seeded bytes (a fresh stream each call: the same seed gives the same bytes). */
export function seededBytes(seed: string, n: number): Buffer {
  return new SeededBytes(seed).next(n);
}

const BECH32_CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';

function polymod(values: number[]): number {
  const gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= gen[i]!;
  }
  return chk >>> 0;
}

/** Bech32 (BIP-173, not bech32m) without the 90-character limit, as age encodes its keys. */
export function bech32Encode(hrp: string, data: Uint8Array): string {
  const words: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const b of data) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      words.push((acc >>> bits) & 31);
    }
  }
  if (bits > 0) words.push((acc << (5 - bits)) & 31);
  const expanded = [...hrp].map((c) => c.charCodeAt(0) >> 5).concat([0], [...hrp].map((c) => c.charCodeAt(0) & 31));
  const mod = polymod([...expanded, ...words, 0, 0, 0, 0, 0, 0]) ^ 1;
  const checksum = Array.from({ length: 6 }, (_, i) => (mod >>> (5 * (5 - i))) & 31);
  return `${hrp}1${[...words, ...checksum].map((w) => BECH32_CHARSET[w]).join('')}`;
}

/** An X25519 age identity (`AGE-SECRET-KEY-1…`) whose scalar comes from the seed. */
export function ageIdentityFromSeed(seed: string): string {
  return bech32Encode('age-secret-key-', seededBytes(`age identity ${seed}`, 32)).toUpperCase();
}

/** A lower-case hex string of `bytes` seeded bytes (fixed commits, PCRs, nonces). */
export function seededHex(seed: string, bytes: number): string {
  return seededBytes(seed, bytes).toString('hex');
}
