/**
 * CRC-32/ISO-HDLC (zlib's crc32), as EIF headers store it, plus `crc32Combine` so the writer can
 * checksum the sections before it knows the header (the signature's size depends on PCR0).
 */
import * as zlib from 'node:zlib';

type Crc32Fn = (data: Uint8Array, value?: number) => number;

let table: Uint32Array | undefined;
function tableCrc32(data: Uint8Array, value = 0): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = (value ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

// Namespace import: a named import of `crc32` would fail to link on Node < 20.15.
const nativeCrc32 = (zlib as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;

/**
 * CRC-32/ISO-HDLC (zlib's crc32), continuable: `crc32(b, crc32(a)) == crc32(a ‖ b)`.
 * Uses node:zlib's native crc32 (Node ≥ 20.15) and a table implementation before that.
 */
export const crc32: Crc32Fn = typeof nativeCrc32 === 'function' ? (d, v = 0) => nativeCrc32(d, v) >>> 0 : tableCrc32;

/** The portable table implementation, exported so tests can cross-check the native one. */
export const crc32Portable: Crc32Fn = tableCrc32;

const POLY = 0xedb88320;

/** (a·b) mod P over GF(2), bit-reflected, as zlib's multmodp. */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if ((a & m) >>> 0) {
      p = (p ^ b) >>> 0;
      if (((a & (m - 1)) >>> 0) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? ((b >>> 1) ^ POLY) >>> 0 : b >>> 1;
  }
  return p >>> 0;
}

// x^(2^k) mod P for k = 0..31 (zlib's x2n_table).
const X2N: number[] = [];
{
  let p = 0x40000000; // x^1
  X2N.push(p);
  for (let n = 1; n < 32; n++) X2N.push((p = multModP(p, p)));
}

/** x^(n·2^k) mod P. */
function x2nModP(n: number, k: number): number {
  let p = 0x80000000; // x^0
  while (n > 0) {
    if (n % 2 === 1) p = multModP(X2N[k & 31]!, p);
    n = Math.floor(n / 2);
    k++;
  }
  return p;
}

/** The CRC of `A ‖ B` from `crc(A)`, `crc(B)` and `len(B)` (zlib's crc32_combine). */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  return (multModP(x2nModP(lengthB, 3), crcA >>> 0) ^ (crcB >>> 0)) >>> 0;
}
