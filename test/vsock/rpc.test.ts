// The RPC layer: hello/version negotiation, many requests per connection matched by id,
// per-request timeouts, backpressure, bounded server concurrency, typed errors and clean closes
// on hostile bytes. Real sockets (unix, tcp) for volume; in-memory pairs for fuzzing.
import fc from 'fast-check';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { AttestedPackError, InputError } from '../../common/errors.js';
import {
  connectTransport,
  encodeFrame,
  FrameDecoder,
  listenTransport,
  RpcClient,
  RpcError,
  RpcRemoteError,
  serveRpc,
  type RpcConnection,
  type RpcHandler,
  type ServeRpcOptions,
} from '../../vsock/index.js';
import { duplexPair, mixedSize, patternBytes, rejectionOf, sameBytes, tempDir } from './helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A client and server over an in-memory pair. */
async function memoryPair(handlers: Record<string, RpcHandler>, serverOptions: ServeRpcOptions = {}, clientOptions = {}) {
  const [a, b] = duplexPair();
  const server = serveRpc(b, handlers, serverOptions);
  const client = await RpcClient.connect(a, clientOptions);
  cleanups.push(() => client.close());
  return { client, server, clientStream: a, serverStream: b };
}

/** Reads envelopes arriving on a raw stream (to watch what a server sends back). */
function collect(stream: Duplex): { values: unknown[]; ended: Promise<void> } {
  const decoder = new FrameDecoder();
  const values: unknown[] = [];
  stream.on('data', (c: Buffer) => values.push(...decoder.push(c)));
  const ended = new Promise<void>((r) => {
    stream.once('end', () => r());
    stream.once('close', () => r());
  });
  return { values, ended };
}

class DemoError extends AttestedPackError {}

describe('hello and protocol versions', () => {
  it('agrees on the highest common version and exchanges names', async () => {
    const { client } = await memoryPair({}, { versions: [1, 2, 3], server: 'enclave-app/test' }, { versions: [1, 2], client: 'host/test' });
    expect(client.version).toBe(2);
    expect(client.server).toBe('enclave-app/test');
  });

  it('passes the negotiated version and client name to handlers', async () => {
    const seen: unknown[] = [];
    const { client } = await memoryPair({ who: (_b, ctx) => (seen.push(ctx), 'ok') }, { versions: [1, 2] }, { versions: [2], client: 'host/x' });
    await client.request('who', null);
    expect(seen).toEqual([{ id: 2, type: 'who', version: 2, client: 'host/x' }]);
  });

  it('fails with PROTOCOL_VERSION when no version is shared, and closes the stream', async () => {
    const [a, b] = duplexPair();
    serveRpc(b, {}, { versions: [1] });
    const err = await rejectionOf(RpcClient.connect(a, { versions: [7, 8] }));
    expect(err).toBeInstanceOf(RpcError);
    expect((err as RpcError).code).toBe('PROTOCOL_VERSION');
    expect((err as RpcError).message).toMatch(/\[7, 8\].*\[1\]/);
    expect(a.destroyed).toBe(true);
  });

  it('a server requires hello first: anything else gets a connection-level PROTOCOL_VERSION error and a close', async () => {
    const [a, b] = duplexPair();
    const server = serveRpc(b, { pack: () => 'never' });
    const seen = collect(a);
    a.write(encodeFrame({ v: 1, id: 1, type: 'pack', body: null }));
    await seen.ended;
    await server.closed;
    expect(seen.values).toEqual([{ v: 1, id: 0, type: 'error', body: expect.objectContaining({ code: 'PROTOCOL_VERSION', category: 'unavailable' }) }]);
  });

  it('a request carrying another version is answered with PROTOCOL_VERSION for that id only', async () => {
    const [a, b] = duplexPair();
    serveRpc(b, { echo: (x) => x });
    const seen = collect(a);
    a.write(encodeFrame({ v: 1, id: 1, type: 'hello', body: { versions: [1], client: 'raw' } }));
    a.write(encodeFrame({ v: 9, id: 2, type: 'echo', body: 'x' }));
    a.write(encodeFrame({ v: 1, id: 3, type: 'echo', body: 'y' }));
    while (seen.values.length < 3) await tick();
    expect(seen.values[0]).toMatchObject({ id: 1, type: 'hello.ok', body: { version: 1 } });
    expect(seen.values).toContainEqual({ v: 1, id: 2, type: 'error', body: expect.objectContaining({ code: 'PROTOCOL_VERSION' }) });
    expect(seen.values).toContainEqual({ v: 1, id: 3, type: 'echo.ok', body: 'y' });
    a.destroy();
  });

  it('hello twice is a protocol violation that closes the connection', async () => {
    const [a, b] = duplexPair();
    const server = serveRpc(b, {});
    const seen = collect(a);
    a.write(encodeFrame({ v: 1, id: 1, type: 'hello', body: { versions: [1], client: 'raw' } }));
    a.write(encodeFrame({ v: 1, id: 2, type: 'hello', body: { versions: [1], client: 'raw' } }));
    await server.closed;
    expect(seen.values.at(-1)).toMatchObject({ id: 0, type: 'error', body: { code: 'RPC_PROTOCOL' } });
  });
});

describe('answers and errors', () => {
  it('returns handler results as the body of <type>.ok', async () => {
    const { client } = await memoryPair({ add: (b) => (b as { x: number; y: number }).x + (b as { x: number; y: number }).y, nothing: () => undefined });
    expect(await client.request('add', { x: 2, y: 3 })).toBe(5);
    expect(await client.request('nothing', null)).toBe(null);
  });

  it('carries an AttestedPackError across unchanged: code, message, hint, category', async () => {
    const { client } = await memoryPair({
      fail: () => {
        throw new DemoError('SOPS_MAC_MISMATCH', 'MAC check failed for secrets/prod.yaml', { hint: 'the file was edited without sops', category: 'rejected' });
      },
      bad: () => {
        throw new InputError('PACK_BAD_INPUT', 'nonce must be 1..512 bytes');
      },
    });
    const err = await rejectionOf(client.request('fail', null));
    expect(err).toBeInstanceOf(RpcRemoteError);
    expect(err).toMatchObject({ code: 'SOPS_MAC_MISMATCH', message: 'MAC check failed for secrets/prod.yaml', hint: 'the file was edited without sops', category: 'rejected' });
    expect((err as RpcRemoteError).exitCode).toBe(1);
    const input = await rejectionOf(client.request('bad', null));
    expect(input).toMatchObject({ code: 'PACK_BAD_INPUT', category: 'input' });
  });

  it('never forwards the text of an unexpected exception (it may hold data)', async () => {
    const { client } = await memoryPair({
      boom: () => {
        throw new TypeError('cannot read property of plaintext "hunter2"');
      },
    });
    const err = await rejectionOf(client.request('boom', null));
    expect(err).toMatchObject({ code: 'INTERNAL', category: 'internal', message: 'unexpected internal error' });
    expect(JSON.stringify(err)).not.toContain('hunter2');
  });

  it('unknown request types get RPC_UNKNOWN_TYPE (no prototype lookups)', async () => {
    const { client } = await memoryPair({ echo: (x) => x });
    for (const type of ['nope', 'toString', 'constructor', '__proto__']) {
      const err = await rejectionOf(client.request(type, null));
      expect(err).toMatchObject({ code: 'RPC_UNKNOWN_TYPE', category: 'input' });
    }
    expect(await client.request('echo', 'still fine')).toBe('still fine');
  });

  it('an answer too large to frame becomes an error answer instead of a dead connection', async () => {
    const { client } = await memoryPair({ big: () => new Uint8Array(2048), echo: (x) => x }, { maxFrameBytes: 1024 });
    const err = await rejectionOf(client.request('big', null));
    expect(err).toMatchObject({ code: 'FRAME_TOO_LARGE' });
    expect(await client.request('echo', 1)).toBe(1);
  });

  it('a request too large for the frame limit fails locally with FRAME_TOO_LARGE', async () => {
    const { client } = await memoryPair({ echo: (x) => x }, {}, { maxFrameBytes: 1024 });
    const err = await rejectionOf(client.request('echo', new Uint8Array(4096)));
    expect(err).toMatchObject({ code: 'FRAME_TOO_LARGE' });
    expect(await client.request('echo', 2)).toBe(2);
  });
});

describe('timeouts and closing', () => {
  it('times out one request with RPC_TIMEOUT, ignores its late answer, and keeps the connection', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const { client } = await memoryPair({ slow: async () => (await gate, 'late'), echo: (x) => x }, { maxConcurrent: 4 });
    const err = await rejectionOf(client.request('slow', null, { timeoutMs: 20 }));
    expect(err).toBeInstanceOf(RpcError);
    expect((err as RpcError).code).toBe('RPC_TIMEOUT');
    expect((err as RpcError).category).toBe('unavailable');
    release();
    expect(await client.request('echo', 'after')).toBe('after');
    expect(client.isClosed).toBe(false);
    expect(client.pendingCount).toBe(0);
  });

  it('client.close() fails every pending request with RPC_CLOSED', async () => {
    const { client } = await memoryPair({ hang: () => new Promise(() => undefined) }, { maxConcurrent: 16 });
    const pending = [1, 2, 3].map(() => rejectionOf(client.request('hang', null)));
    await tick();
    await client.close();
    for (const err of await Promise.all(pending)) {
      expect(err).toBeInstanceOf(RpcError);
      expect((err as RpcError).code).toBe('RPC_CLOSED');
    }
    expect(await rejectionOf(client.request('hang', null))).toMatchObject({ code: 'RPC_CLOSED' });
  });

  it('the server dropping the connection fails pending requests with RPC_CLOSED', async () => {
    let conn: RpcConnection | undefined;
    const [a, b] = duplexPair();
    conn = serveRpc(b, { hang: () => new Promise(() => undefined) });
    const client = await RpcClient.connect(a);
    const pending = rejectionOf(client.request('hang', null));
    await tick();
    conn.close();
    conn = undefined;
    expect(await pending).toMatchObject({ code: 'RPC_CLOSED' });
    expect(client.isClosed).toBe(true);
  });

  it('a server sending an oversized frame header fails the client cleanly (RPC_CLOSED, reason FRAME_TOO_LARGE)', async () => {
    const [a, b] = duplexPair();
    const decoder = new FrameDecoder();
    b.on('data', (c: Buffer) => {
      for (const v of decoder.push(c)) {
        const e = v as { id: number; type: string };
        if (e.type === 'hello') b.write(encodeFrame({ v: 1, id: e.id, type: 'hello.ok', body: { version: 1, server: 'evil' } }));
        else b.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
      }
    });
    const client = await RpcClient.connect(a);
    const err = await rejectionOf(client.request('x', null));
    expect(err).toMatchObject({ code: 'RPC_CLOSED', details: { reason: 'FRAME_TOO_LARGE' } });
    expect(a.destroyed).toBe(true);
  });

  it('a server answering an id never issued is a protocol error (RPC_PROTOCOL)', async () => {
    const [a, b] = duplexPair();
    const decoder = new FrameDecoder();
    b.on('data', (c: Buffer) => {
      for (const v of decoder.push(c)) {
        const e = v as { id: number; type: string };
        if (e.type === 'hello') b.write(encodeFrame({ v: 1, id: e.id, type: 'hello.ok', body: { version: 1, server: 'evil' } }));
        else b.write(encodeFrame({ v: 1, id: 999, type: 'x.ok', body: null }));
      }
    });
    const client = await RpcClient.connect(a);
    expect(await rejectionOf(client.request('x', null))).toMatchObject({ code: 'RPC_PROTOCOL' });
  });

  it('a server answering with the wrong type is a protocol error', async () => {
    const [a, b] = duplexPair();
    const decoder = new FrameDecoder();
    b.on('data', (c: Buffer) => {
      for (const v of decoder.push(c)) {
        const e = v as { id: number; type: string };
        if (e.type === 'hello') b.write(encodeFrame({ v: 1, id: e.id, type: 'hello.ok', body: { version: 1, server: 'evil' } }));
        else b.write(encodeFrame({ v: 1, id: e.id, type: 'attest.ok', body: null }));
      }
    });
    const client = await RpcClient.connect(a);
    expect(await rejectionOf(client.request('pack', null))).toMatchObject({ code: 'RPC_PROTOCOL' });
  });

  it('hello gets no answer → RPC_TIMEOUT and the stream is destroyed', async () => {
    const [a] = duplexPair();
    const err = await rejectionOf(RpcClient.connect(a, { helloTimeoutMs: 20 }));
    expect(err).toMatchObject({ code: 'RPC_TIMEOUT' });
    expect(a.destroyed).toBe(true);
  });
});

describe('concurrency and backpressure', () => {
  it('never runs more than maxConcurrent handlers at once on a connection', async () => {
    let running = 0;
    let peak = 0;
    const { client } = await memoryPair(
      {
        work: async (b) => {
          running += 1;
          peak = Math.max(peak, running);
          for (let i = 0; i < 3; i++) await tick();
          running -= 1;
          return b;
        },
      },
      { maxConcurrent: 3 },
    );
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => client.request('work', i)));
    expect(answers).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(peak).toBe(3);
  });

  it('the client stops writing while the socket asks for drain (bounded write buffer), then finishes', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const server = await listenTransport(`unix://${join(dir.path, 'bp.sock')}`, (c) => {
      serveRpc(c, { hold: async (b) => (await gate, (b as Uint8Array).byteLength) }, { maxConcurrent: 1 });
    });
    cleanups.push(() => server.close());
    const stream = await connectTransport(server.url);
    const client = await RpcClient.connect(stream);
    cleanups.push(() => client.close());
    const body = new Uint8Array(64 * 1024);
    const answers = Array.from({ length: 300 }, () => client.request('hold', body, { timeoutMs: 60_000 }));
    // The server handles one request and stops reading; the client must not pile 19 MiB into the socket.
    let peak = 0;
    for (let i = 0; i < 50; i++) {
      await tick();
      peak = Math.max(peak, stream.writableLength);
    }
    expect(peak).toBeLessThanOrEqual(stream.writableHighWaterMark + body.byteLength + 64);
    release();
    expect(await Promise.all(answers)).toEqual(Array.from({ length: 300 }, () => body.byteLength));
  });
});

const REQUESTS = 10_000;

async function tenThousand(url: string): Promise<void> {
  let connection: RpcConnection | undefined;
  const server = await listenTransport(url, (c) => {
    connection = serveRpc(
      c,
      {
        echo: async (body, ctx) => {
          const b = body as { seq: number; data: Uint8Array };
          // Finish in a different order than requests arrived.
          if (b.seq % 3 === 0) await tick();
          return { seq: b.seq, id: ctx.id, data: patternBytes(b.seq + 1, mixedSize(REQUESTS - 1 - b.seq)) };
        },
      },
      { maxConcurrent: 16 },
    );
  });
  cleanups.push(() => server.close());
  const client = await RpcClient.connect(await connectTransport(url === server.url ? url : server.url));
  cleanups.push(() => client.close());
  const answers = await Promise.all(
    Array.from({ length: REQUESTS }, (_, seq) => client.request('echo', { seq, data: patternBytes(seq, mixedSize(seq)) })),
  );
  let ok = 0;
  for (const [seq, answer] of answers.entries()) {
    const a = answer as { seq: number; id: number; data: Uint8Array };
    // ids are 2..10001 in request order (hello took 1)
    if (a.seq === seq && a.id === seq + 2 && sameBytes(a.data, patternBytes(seq + 1, mixedSize(REQUESTS - 1 - seq)))) ok += 1;
  }
  expect(ok).toBe(REQUESTS);
  expect(connection?.inFlight).toBe(0);
}

describe('10,000 requests of mixed sizes over one connection, answered by id', () => {
  it('over a unix socket', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    await tenThousand(`unix://${join(dir.path, 'rpc.sock')}`);
  });

  it('over loopback tcp', async () => {
    await tenThousand('tcp://127.0.0.1:0');
  });
});

describe('hostile byte streams never crash or hang a peer (fast-check, seed 42)', () => {
  const hello = encodeFrame({ v: 1, id: 1, type: 'hello', body: { versions: [1], client: 'fuzz' } });
  const piece = fc.oneof(
    fc.uint8Array({ maxLength: 48 }),
    fc.constant(hello),
    fc.nat(50).map((id) => encodeFrame({ v: 1, id, type: 'echo', body: { n: id } })),
    fc.nat(50).map((id) => encodeFrame({ v: 1, id, type: 'hello', body: null })),
    fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((n) => {
      const h = Buffer.alloc(4);
      h.writeUInt32BE(n);
      return h;
    }),
  );

  it('server side: random frames and bytes, then EOF → the server closes (500 runs; the decoder alone gets 7,000 in frames.test.ts)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 8 }), async (pieces) => {
        const [a, b] = duplexPair();
        const conn = serveRpc(b, { echo: (x) => x }, { maxFrameBytes: 4096, maxConcurrent: 2 });
        a.resume();
        for (const p of pieces) a.write(p);
        a.end();
        await conn.closed;
        expect(b.destroyed).toBe(true);
        a.destroy();
      }),
      { seed: 42, numRuns: 500 },
    );
  });

  it('client side: random answers → every pending request settles, with a typed error if not answered (500 runs; the decoder alone gets 7,000 in frames.test.ts)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 8 }), async (pieces) => {
        const [a, b] = duplexPair();
        const decoder = new FrameDecoder();
        let answered = false;
        b.on('data', (c: Buffer) => {
          for (const v of decoder.push(c)) {
            const e = v as { id: number; type: string };
            if (e.type === 'hello') b.write(encodeFrame({ v: 1, id: e.id, type: 'hello.ok', body: { version: 1, server: 'fuzz' } }));
            else if (!answered) {
              answered = true;
              for (const p of pieces) b.write(p);
              b.end();
            }
          }
        });
        const client = await RpcClient.connect(a, { maxFrameBytes: 4096 });
        const results = await Promise.allSettled([client.request('echo', 1), client.request('echo', 2)]);
        for (const r of results) {
          if (r.status === 'rejected') {
            expect(r.reason).toBeInstanceOf(AttestedPackError);
          }
        }
        a.destroy();
      }),
      { seed: 42, numRuns: 500 },
    );
  });
});
