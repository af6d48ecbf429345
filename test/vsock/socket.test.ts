// VsockSocket's stream machinery (non-blocking read/write, libuv polling, backpressure, EOF,
// half-close, errors) on a connected AF_UNIX pair made by the addon: the same code path as a
// vsock connection, without reaching any vsock peer.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadVsockAddon, RpcClient, serveRpc, VsockError, VsockSocket } from '../../vsock/index.js';
import { missingVsockAddon } from '../tools.js';
import { mixedSize, patternBytes, sameBytes, sha256 } from './helpers.js';

const noAddon = missingVsockAddon();

function socketPair(): [VsockSocket, VsockSocket] {
  const addon = loadVsockAddon();
  const [x, y] = addon.unixSocketPair();
  return [new VsockSocket(addon, x, { cid: 1, port: 1 }), new VsockSocket(addon, y, { cid: 1, port: 2 })];
}

function readAll(s: VsockSocket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

describe.skipIf(noAddon)('VsockSocket on a socketpair', () => {
  it('moves megabytes both ways at once, intact', async () => {
    const [a, b] = socketPair();
    const toB = Buffer.from(patternBytes(1, 200 * 1024));
    const toA = Buffer.from(patternBytes(2, 150 * 1024));
    const gotB = readAll(b);
    const gotA = readAll(a);
    for (let i = 0; i < 20; i++) a.write(toB);
    for (let i = 0; i < 20; i++) b.write(toA);
    a.end();
    b.end();
    const [atB, atA] = await Promise.all([gotB, gotA]);
    expect(atB.length).toBe(20 * toB.length);
    expect(atA.length).toBe(20 * toA.length);
    expect(sha256(atB)).toBe(sha256(Buffer.concat(Array(20).fill(toB))));
    expect(sha256(atA)).toBe(sha256(Buffer.concat(Array(20).fill(toA))));
  });

  it('applies backpressure: write() returns false while the peer does not read, then drains', async () => {
    const [a, b] = socketPair();
    const chunk = Buffer.alloc(256 * 1024, 7);
    let accepted = 0;
    let refused = false;
    for (let i = 0; i < 64 && !refused; i++) {
      refused = !a.write(chunk);
      accepted += chunk.length;
    }
    expect(refused).toBe(true);
    // What sits in user space is bounded by one chunk over the high-water mark.
    expect(a.writableLength).toBeLessThanOrEqual(a.writableHighWaterMark + chunk.length);
    const drained = new Promise<void>((r) => a.once('drain', () => r()));
    const received = readAll(b);
    await drained;
    a.end();
    expect((await received).length).toBe(accepted);
    b.destroy();
  });

  it('stops reading when the consumer pauses (no unbounded buffering on the reading side)', async () => {
    const [a, b] = socketPair();
    b.pause();
    const chunk = Buffer.alloc(64 * 1024, 1);
    for (let i = 0; i < 64; i++) a.write(chunk);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(b.readableLength).toBeLessThanOrEqual(b.readableHighWaterMark + 64 * 1024);
    a.destroy();
    b.destroy();
  });

  it('end() half-closes: the peer sees end-of-stream and (allowHalfOpen=false) closes too', async () => {
    const [a, b] = socketPair();
    const bEnded = new Promise<void>((r) => b.once('end', () => r()));
    const aClosed = new Promise<void>((r) => a.once('close', () => r()));
    b.resume();
    a.resume();
    a.end('bye');
    await bEnded;
    await aClosed;
    expect(a.destroyed).toBe(true);
  });

  it('writing to a peer that has gone away fails with a typed VsockError (VSOCK_RESET)', async () => {
    const [a, b] = socketPair();
    b.destroy();
    const err = await new Promise<unknown>((resolve) => {
      a.on('error', resolve);
      a.resume();
      const big = Buffer.alloc(1024 * 1024);
      const pump = (): void => {
        if (!a.destroyed && a.write(big)) setImmediate(pump);
      };
      pump();
    });
    expect(err).toBeInstanceOf(VsockError);
    expect((err as VsockError).code).toBe('VSOCK_RESET');
    expect(a.destroyed).toBe(true);
  });

  it('releases descriptors and poll handles: 300 pairs opened and destroyed leave no fds behind', async () => {
    const before = openFds();
    for (let i = 0; i < 300; i++) {
      const [a, b] = socketPair();
      a.resume();
      b.write('x');
      a.destroy();
      b.destroy();
    }
    await new Promise((r) => setImmediate(r));
    expect(openFds()).toBeLessThanOrEqual(before);
  });

  it('carries 2,000 RPC requests of mixed sizes, matched by id', async () => {
    const [a, b] = socketPair();
    serveRpc(b, { echo: (body) => ({ n: (body as { n: number }).n, data: patternBytes((body as { n: number }).n, mixedSize(1999 - (body as { n: number }).n)) }) });
    const client = await RpcClient.connect(a);
    const answers = await Promise.all(Array.from({ length: 2000 }, (_, n) => client.request('echo', { n, data: patternBytes(n, mixedSize(n)) })));
    let ok = 0;
    for (const [n, answer] of answers.entries()) {
      const x = answer as { n: number; data: Uint8Array };
      if (x.n === n && sameBytes(x.data, patternBytes(n, mixedSize(1999 - n)))) ok += 1;
    }
    expect(ok).toBe(2000);
    await client.close();
  });
});
