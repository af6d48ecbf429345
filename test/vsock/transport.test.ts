// Transports chosen by URL (unix, loopback tcp; vsock is covered by addon.test.ts), their typed
// errors, and 10,000 frames of mixed sizes each way over unix and tcp.
import { spawnSync } from 'node:child_process';
import { writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  connectTransport,
  encodeFrame,
  formatTransportUrl,
  FrameDecoder,
  isLoopbackHost,
  listenTransport,
  parseTransportUrl,
  TransportError,
  type TransportServer,
} from '../../vsock/index.js';
import { mixedSize, patternBytes, rejectionOf, sameBytes, tempDir } from './helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function parseError(url: string, options = {}): TransportError {
  try {
    parseTransportUrl(url, options);
  } catch (err) {
    expect(err).toBeInstanceOf(TransportError);
    return err as TransportError;
  }
  throw new Error(`expected ${url} to be rejected`);
}

async function freeTcpPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('transport URLs', () => {
  it('parses the three schemes', () => {
    expect(parseTransportUrl('vsock://16:5000')).toEqual({ kind: 'vsock', cid: 16, port: 5000 });
    expect(parseTransportUrl('vsock://ANY:5000')).toEqual({ kind: 'vsock', cid: 'ANY', port: 5000 });
    expect(parseTransportUrl('vsock://any:ANY')).toEqual({ kind: 'vsock', cid: 'ANY', port: 'ANY' });
    expect(parseTransportUrl('vsock://4294967295:0')).toEqual({ kind: 'vsock', cid: 4294967295, port: 0 });
    expect(parseTransportUrl('unix:///run/ap/enclave.sock')).toEqual({ kind: 'unix', path: '/run/ap/enclave.sock' });
    expect(parseTransportUrl('unix:///tmp/with%20space.sock')).toEqual({ kind: 'unix', path: '/tmp/with space.sock' });
    expect(parseTransportUrl('tcp://127.0.0.1:7000')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 7000 });
    expect(parseTransportUrl('tcp://127.9.9.9:0')).toEqual({ kind: 'tcp', host: '127.9.9.9', port: 0 });
    expect(parseTransportUrl('tcp://[::1]:7000')).toEqual({ kind: 'tcp', host: '::1', port: 7000 });
  });

  it('formats back to the same URL', () => {
    for (const url of ['vsock://16:5000', 'vsock://ANY:5000', 'unix:///tmp/a%20b.sock', 'tcp://127.0.0.1:7000', 'tcp://[::1]:7000']) {
      expect(formatTransportUrl(parseTransportUrl(url))).toBe(url);
    }
  });

  it('rejects malformed URLs with TRANSPORT_URL_INVALID (category input)', () => {
    for (const url of [
      '',
      'localhost:5000',
      'http://127.0.0.1:80',
      'vsock://16',
      'vsock://16:5000:1',
      'vsock://-1:5000',
      'vsock://16:4294967296',
      'vsock://16:5k',
      'unix://relative.sock',
      `unix:///${'x'.repeat(120)}`,
      'unix:///tmp/%E0%A4%A',
      'unix:///tmp/a%00b',
      'tcp://127.0.0.1',
      'tcp://127.0.0.1:65536',
      'tcp://127.0.0.1:http',
    ]) {
      const err = parseError(url);
      expect(err.code).toBe('TRANSPORT_URL_INVALID');
      expect(err.category).toBe('input');
      expect(err.hint).toMatch(/vsock:\/\/CID:PORT/);
    }
  });

  it('restricts tcp to loopback unless explicitly allowed', () => {
    for (const url of ['tcp://10.0.0.5:7000', 'tcp://0.0.0.0:7000', 'tcp://localhost:7000', 'tcp://[::]:7000', 'tcp://kms.example:443']) {
      const err = parseError(url);
      expect(err.code).toBe('TRANSPORT_NOT_LOOPBACK');
      expect(err.hint).toBeTruthy();
    }
    expect(parseTransportUrl('tcp://10.0.0.5:7000', { allowNonLoopbackTcp: true })).toEqual({ kind: 'tcp', host: '10.0.0.5', port: 7000 });
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('::ffff:127.0.0.1')).toBe(true);
    expect(isLoopbackHost('128.0.0.1')).toBe(false);
  });
});

describe('transport errors', () => {
  it('unix: a missing socket is TRANSPORT_NOT_FOUND', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const err = await rejectionOf(connectTransport(`unix://${join(dir.path, 'none.sock')}`));
    expect((err as TransportError).code).toBe('TRANSPORT_NOT_FOUND');
    expect((err as TransportError).category).toBe('unavailable');
    expect((err as TransportError).hint).toBeTruthy();
  });

  it('tcp: a closed loopback port is TRANSPORT_CONNECT_REFUSED', async () => {
    const port = await freeTcpPort();
    const err = await rejectionOf(connectTransport(`tcp://127.0.0.1:${port}`));
    expect((err as TransportError).code).toBe('TRANSPORT_CONNECT_REFUSED');
    expect((err as TransportError).details).toMatchObject({ errno: 'ECONNREFUSED' });
  });

  it('a second listener on the same address is TRANSPORT_ADDRESS_IN_USE (tcp and live unix socket)', async () => {
    const tcp = await listenTransport('tcp://127.0.0.1:0', () => undefined);
    cleanups.push(() => tcp.close());
    const e1 = await rejectionOf(listenTransport(tcp.url, () => undefined));
    expect((e1 as TransportError).code).toBe('TRANSPORT_ADDRESS_IN_USE');

    const dir = tempDir();
    cleanups.push(dir.remove);
    const url = `unix://${join(dir.path, 'live.sock')}`;
    const unix = await listenTransport(url, () => undefined);
    cleanups.push(() => unix.close());
    const e2 = await rejectionOf(listenTransport(url, () => undefined));
    expect((e2 as TransportError).code).toBe('TRANSPORT_ADDRESS_IN_USE');
  });

  it('unix: replaces a stale socket file left by a dead server, but never a regular file', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const path = join(dir.path, 'stale.sock');
    // Make a stale socket: a process that dies by SIGKILL while listening cannot unlink it.
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    expect(existsSync(path)).toBe(true);
    const server = await listenTransport(`unix://${path}`, () => undefined);
    cleanups.push(() => server.close());
    const client = await connectTransport(`unix://${path}`);
    client.destroy();

    const file = join(dir.path, 'regular');
    writeFileSync(file, 'keep me');
    const err = await rejectionOf(listenTransport(`unix://${file}`, () => undefined));
    expect((err as TransportError).code).toBe('TRANSPORT_ADDRESS_IN_USE');
    expect(existsSync(file)).toBe(true);
  });

  it('close() stops listening, destroys accepted connections and removes the unix socket', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const path = join(dir.path, 'close.sock');
    const accepted: Duplex[] = [];
    const server = await listenTransport(`unix://${path}`, (c) => accepted.push(c));
    const client = await connectTransport(server.url);
    const clientClosed = new Promise<void>((r) => client.once('close', () => r()));
    client.resume();
    while (accepted.length === 0) await new Promise((r) => setImmediate(r));
    await server.close();
    await clientClosed;
    expect(accepted[0].destroyed).toBe(true);
    expect(existsSync(path)).toBe(false);
    const err = await rejectionOf(connectTransport(server.url));
    expect(['TRANSPORT_NOT_FOUND', 'TRANSPORT_CONNECT_REFUSED']).toContain((err as TransportError).code);
  });
});

const FRAMES = 10_000;

/** Writes FRAMES frames in order, waiting for 'drain' as the stream asks. */
async function sendFrames(stream: Duplex, side: string): Promise<void> {
  for (let seq = 0; seq < FRAMES; seq++) {
    const frame = encodeFrame({ v: 1, id: seq + 1, type: side, body: patternBytes(seq + (side === 'server' ? FRAMES : 0), mixedSize(seq)) });
    if (!stream.write(frame)) await new Promise((r) => stream.once('drain', r));
  }
}

/** Reads FRAMES frames and checks each one is the next in order with the expected content. */
function receiveFrames(stream: Duplex, from: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const decoder = new FrameDecoder();
    let next = 0;
    stream.on('data', (chunk: Buffer) => {
      try {
        for (const value of decoder.push(chunk)) {
          const e = value as { id: number; type: string; body: Uint8Array };
          if (e.type !== from || e.id !== next + 1) throw new Error(`out of order: got ${e.type}#${e.id}, expected ${from}#${next + 1}`);
          const expected = patternBytes(next + (from === 'server' ? FRAMES : 0), mixedSize(next));
          if (!sameBytes(e.body, expected)) throw new Error(`frame ${e.id} content differs`);
          next += 1;
          if (next === FRAMES) resolve(next);
        }
      } catch (err) {
        reject(err);
      }
    });
    stream.once('error', reject);
  });
}

async function bothWays(listenUrl: string): Promise<void> {
  let serverSide: Promise<[number, void]> | undefined;
  const server: TransportServer = await listenTransport(listenUrl, (conn) => {
    serverSide = Promise.all([receiveFrames(conn, 'client'), sendFrames(conn, 'server')]);
  });
  cleanups.push(() => server.close());
  const client = await connectTransport(server.url);
  const clientSide = Promise.all([receiveFrames(client, 'server'), sendFrames(client, 'client')]);
  const [[gotFromServer]] = await Promise.all([clientSide]);
  while (serverSide === undefined) await new Promise((r) => setImmediate(r));
  const [gotFromClient] = await serverSide;
  expect(gotFromServer).toBe(FRAMES);
  expect(gotFromClient).toBe(FRAMES);
  client.destroy();
}

describe('10,000 frames of mixed sizes, both ways at once, in order', () => {
  it('over a unix socket', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    await bothWays(`unix://${join(dir.path, 'frames.sock')}`);
  });

  it('over loopback tcp', async () => {
    await bothWays('tcp://127.0.0.1:0');
  });
});
