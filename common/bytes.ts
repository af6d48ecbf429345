/** Small byte helpers shared by every module: hex, constant-time compare, zeroisation. */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Lower-case hex of some bytes. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Strict hex decoding: even length, [0-9a-fA-F] only; returns undefined otherwise. */
export function fromHex(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Normalises a hex string for comparison (lower case, optional 0x prefix removed). */
export function normalizeHex(hex: string): string {
  return hex.trim().replace(/^0x/i, '').toLowerCase();
}

/** Constant-time equality of two byte arrays (length leak only). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  return timingSafeEqual(a, b);
}

/**
 * Overwrites buffers that held keys or plaintext. Call in `finally` blocks; the caller must
 * not use the buffers afterwards. JS strings cannot be wiped: keep secrets in buffers.
 */
export function zeroize(...buffers: Array<Uint8Array | undefined | null>): void {
  for (const b of buffers) if (b) b.fill(0);
}

/** Views any byte container as a Buffer without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * SHA-256 and git blob id (`git hash-object`: SHA-1 of `blob <size>\0` ‖ bytes) of a file's
 * bytes: how a receipt names its inputs, computed the same way by the enclave and the CI client.
 */
export function fileDigests(content: Uint8Array): { sha256: string; gitBlobId: string } {
  return {
    sha256: createHash('sha256').update(content).digest('hex'),
    gitBlobId: createHash('sha1').update(`blob ${content.byteLength}\0`).update(content).digest('hex'),
  };
}
