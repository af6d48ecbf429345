// Shared helpers for the vsock/ tests (not a test file).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { createHash } from 'node:crypto';
import { loadVsockAddon } from '../../vsock/index.js';

/** A short temporary directory (unix socket paths are limited to 107 bytes). */
export function tempDir(): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), 'apv-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Two in-memory Duplex streams wired to each other, for fast protocol tests without sockets. */
export function duplexPair(): [Duplex, Duplex] {
  const make = (peer: () => Duplex): Duplex =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _enc, done) {
        const p = peer();
        if (!p.destroyed) p.push(chunk);
        done();
      },
      final(done) {
        const p = peer();
        if (!p.destroyed) p.push(null);
        done();
      },
      destroy(err, done) {
        const p = peer();
        if (!p.destroyed) p.destroy();
        done(err);
      },
    });
  const a: Duplex = make(() => b);
  const b: Duplex = make(() => a);
  return [a, b];
}

/**
 * Payload size for message number `i`: mostly small, every 10th a few KiB, every 100th up to
 * 128 KiB — a mix that exercises single-chunk, multi-chunk and backpressured frames.
 */
export function mixedSize(i: number): number {
  if (i % 100 === 99) return 64 * 1024 + ((i * 7919) % (64 * 1024));
  if (i % 10 === 9) return 1024 + ((i * 131) % 8192);
  return (i * 37) % 300;
}

/** 512 KiB of fixed pseudo-random bytes that message payloads are cut from. */
const BASE = ((): Uint8Array => {
  const out = new Uint8Array(512 * 1024);
  let x = 0x9e3779b9;
  for (let k = 0; k < out.length; k++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[k] = x & 0xff;
  }
  return out;
})();

/** Deterministic bytes for message `i` of `size` bytes (≤ 256 KiB), so receivers can check content. */
export function patternBytes(i: number, size: number): Uint8Array {
  const start = (i * 7919) % (BASE.length - size + 1);
  return BASE.slice(start, start + size);
}

/** Byte equality without copying either side. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** SHA-256 hex, to compare large payloads cheaply in assertions. */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Resolves with the rejection reason of `p`; fails if it resolves. */
export async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** A vsock port nothing holds right now (the kernel picks one; released at once). Binds only, never connects. */
export function freeVsockPort(): number {
  const addon = loadVsockAddon();
  const fd = addon.socket();
  try {
    addon.bind(fd, addon.VMADDR_CID_ANY, addon.VMADDR_PORT_ANY);
    return addon.localAddress(fd).port;
  } finally {
    addon.close(fd);
  }
}

/** errno of binding VMADDR_CID_ANY:port (0: the bind worked): whether someone holds the port. */
export function vsockBindErrno(port: number): number {
  const addon = loadVsockAddon();
  const fd = addon.socket();
  try {
    addon.bind(fd, addon.VMADDR_CID_ANY, port);
    return 0;
  } catch (err) {
    return (err as { errno: number }).errno;
  } finally {
    addon.close(fd);
  }
}
