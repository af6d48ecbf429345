/**
 * Shamir secret sharing over GF(2^8) as sops uses it for key groups (shamir/shamir.go, a fork
 * of Vault's): each share is the 32 y-bytes followed by its x-coordinate; combining is Lagrange
 * interpolation at x = 0. The field uses the AES polynomial 0x11B.
 */
import { randomBytes } from 'node:crypto';
import { SopsError } from './errors.js';

function mul(a: number, b: number): number {
  let p = 0;
  while (b) {
    if (b & 1) p ^= a;
    a <<= 1;
    if (a & 0x100) a ^= 0x11b;
    b >>= 1;
  }
  return p;
}

function inv(a: number): number {
  // a^254 = a^-1 in GF(2^8).
  let r = 1;
  let base = a;
  let e = 254;
  while (e) {
    if (e & 1) r = mul(r, base);
    base = mul(base, base);
    e >>= 1;
  }
  return r;
}

function div(a: number, b: number): number {
  return a === 0 ? 0 : mul(a, inv(b));
}

/** GF(2^8) multiplication, exported for the field self-check in tests (`mult(3, 7) = 9`). */
export const gfMul = mul;

/** Recovers the secret from shares (each `secret ‖ x`); needs at least two distinct shares. */
export function shamirCombine(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length < 2) throw new SopsError('SOPS_NO_KEY', 'Shamir recovery needs at least two key-group shares');
  const len = parts[0].length;
  if (len < 2 || parts.some((p) => p.length !== len)) {
    throw new SopsError('SOPS_NO_KEY', 'Shamir shares have inconsistent lengths');
  }
  const xs = parts.map((p) => p[len - 1]);
  if (new Set(xs).size !== xs.length || xs.includes(0)) {
    throw new SopsError('SOPS_NO_KEY', 'Shamir shares have duplicate or zero x-coordinates');
  }
  const secret = new Uint8Array(len - 1);
  for (let idx = 0; idx < len - 1; idx++) {
    let result = 0;
    for (let i = 0; i < parts.length; i++) {
      let basis = 1;
      for (let j = 0; j < parts.length; j++) {
        if (i === j) continue;
        basis = mul(basis, div(xs[j], xs[i] ^ xs[j]));
      }
      result ^= mul(parts[i][idx], basis);
    }
    secret[idx] = result;
  }
  return secret;
}

/** Splits a secret into `n` shares of which any `threshold` recover it (x-coordinates 1..n). */
export function shamirSplit(secret: Uint8Array, n: number, threshold: number, random: (n: number) => Uint8Array = randomBytes): Uint8Array[] {
  if (threshold < 2 || threshold > n || n > 255 || secret.length === 0) {
    throw new SopsError('SOPS_ENCRYPT_FAILED', `cannot split a key into ${n} shares with threshold ${threshold}`);
  }
  const shares = Array.from({ length: n }, (_, i) => {
    const s = new Uint8Array(secret.length + 1);
    s[secret.length] = i + 1;
    return s;
  });
  for (let idx = 0; idx < secret.length; idx++) {
    const coeffs = random(threshold - 1);
    for (let i = 0; i < n; i++) {
      const x = i + 1;
      // Horner: ((c_{t-1} x + c_{t-2}) x + ...) x + secret
      let y = 0;
      for (let c = coeffs.length - 1; c >= 0; c--) y = mul(y ^ coeffs[c], x);
      shares[i][idx] = y ^ secret[idx];
    }
    coeffs.fill(0);
  }
  return shares;
}
