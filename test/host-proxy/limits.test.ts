/** Body validation, size limit, rate limit, queue bound and error mapping, over inject(). */
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../host-proxy/server.js';
import { EnclaveError, HostProxyError } from '../../host-proxy/errors.js';
import type { PackResponse } from '../../enclave-app/protocol.js';
import { FakeEnclave, TOKEN, deferred, packBody, testConfig } from './helpers.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});
const auth = { authorization: `Bearer ${TOKEN}` };

async function postPack(a: FastifyInstance, payload: unknown) {
  const res = await a.inject({ method: 'POST', url: '/v1/pack', headers: auth, payload: payload as Record<string, unknown> });
  return { status: res.statusCode, json: res.json(), headers: res.headers };
}

describe('request validation', () => {
  let shared: FastifyInstance;
  const enclave = new FakeEnclave();
  beforeAll(async () => {
    shared = await buildServer(testConfig({ limits: { rateLimit: { requestsPerMinute: 1000, burst: 1000 } } }), { enclave });
  });
  afterAll(async () => {
    await shared.close();
  });

  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['a missing field', (() => { const b = packBody(); delete b.commit; return b; })(), 'body.commit: is required'],
    ['a bad nonce', packBody({ nonce: 'xyz' }), 'body.nonce: must match pattern'],
    ['an odd-length nonce', packBody({ nonce: 'abc' }), 'body.nonce'],
    ['a short commit', packBody({ commit: 'abc123' }), 'body.commit: must match pattern'],
    ['an unknown field', packBody({ extra: 1 }), 'body.extra: is not a known field'],
    ['bad base64 in a file', packBody({ files: [{ path: 'a.enc.yaml', content: 'not base64!' }] }), 'body.files[0].content: must match format "base64"'],
    ['non-canonical base64', packBody({ files: [{ path: 'a.enc.yaml', content: 'QR==' }] }), 'body.files[0].content'],
    ['an absolute path', packBody({ files: [{ path: '/etc/passwd', content: 'QQ==' }] }), 'body.files[0].path'],
    ['a .. path', packBody({ files: [{ path: 'secrets/../../x', content: 'QQ==' }] }), 'body.files[0].path'],
    ['a bad identity', packBody({ identity: 'Not_A_Label' }), 'body.identity'],
    ['a bad signing mode', packBody({ options: { signing: 'hmac' } }), 'body.options.signing: must be equal to one of the allowed values'],
    ['a zero ttl', packBody({ options: { ttlSeconds: 0 } }), 'body.options.ttlSeconds: must be >= 1'],
    ['a string ttl (no coercion)', packBody({ options: { ttlSeconds: '60' } }), 'body.options.ttlSeconds: must be integer'],
    ['a file missing content', packBody({ files: [{ path: 'a.enc.yaml' }] }), 'body.files[0].content: is required'],
  ];
  for (const [name, body, message] of cases) {
    it(`400 INVALID_REQUEST naming the field for ${name}`, async () => {
      const r = await postPack(shared, body);
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe('INVALID_REQUEST');
      expect(r.json.error.message).toContain(message);
    });
  }

  it('400 for a duplicated file path and for invalid JSON', async () => {
    const f = { path: 'a.enc.yaml', content: 'QQ==' };
    const dup = await postPack(shared, packBody({ files: [f, f] }));
    expect(dup.status).toBe(400);
    expect(dup.json.error.message).toContain('body.files[1].path');
    const res = await shared.inject({ method: 'POST', url: '/v1/pack', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"identity": ' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('INVALID_REQUEST');
  });

  it('400 naming the query parameter for GET /v1/attestation', async () => {
    const res = await shared.inject({ method: 'GET', url: '/v1/attestation?nonce=zz', headers: auth });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toContain('querystring.nonce');
  });

  it('404 in the same error shape', async () => {
    const res = await shared.inject({ method: 'GET', url: '/v2/nothing' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toMatchObject({ code: 'NOT_FOUND' });
    expect(enclave.calls).toHaveLength(0);
  });
});

describe('limits', () => {
  it('413 BODY_TOO_LARGE above the body limit', async () => {
    const enclave = new FakeEnclave();
    app = await buildServer(testConfig({ limits: { bodyLimitBytes: 64 * 1024 } }), { enclave });
    const big = Buffer.alloc(80 * 1024, 1).toString('base64');
    const r = await postPack(app, packBody({ files: [{ path: 'big.enc.yaml', content: big }] }));
    expect(r.status).toBe(413);
    expect(r.json.error.code).toBe('BODY_TOO_LARGE');
    expect(r.json.error.message).toContain(String(64 * 1024));
    expect(enclave.calls).toHaveLength(0);
  });

  it('accepts a body just under the default 10 MiB limit', async () => {
    app = await buildServer(testConfig(), { enclave: new FakeEnclave() });
    const content = Buffer.alloc(7 * 1024 * 1024, 2).toString('base64');
    const r = await postPack(app, packBody({ files: [{ path: 'big.enc.yaml', content }] }));
    expect(r.status).toBe(200);
  });

  it('429 RATE_LIMITED with Retry-After over the per-client rate, per client', async () => {
    let now = 1_000_000;
    app = await buildServer(testConfig({ limits: { rateLimit: { requestsPerMinute: 6, burst: 2 } } }), { enclave: new FakeEnclave(), now: () => now });
    expect((await postPack(app, packBody())).status).toBe(200);
    expect((await postPack(app, packBody())).status).toBe(200);
    const limited = await postPack(app, packBody());
    expect(limited.status).toBe(429);
    expect(limited.json.error.code).toBe('RATE_LIMITED');
    expect(limited.headers['retry-after']).toBe('10');
    now += 10_000;
    expect((await postPack(app, packBody())).status).toBe(200);
  });

  it('503 QUEUE_FULL with Retry-After when the enclave queue is full; queued requests still complete', async () => {
    const enclave = new FakeEnclave();
    const gate = deferred();
    const original = enclave.handlers.pack!;
    enclave.handlers.pack = async (req) => {
      await gate.promise;
      return original(req);
    };
    // concurrency 1, queue 1: the first runs, the second waits, the third is refused.
    app = await buildServer(testConfig({ limits: { retryAfterSeconds: 7 } }), { enclave });
    const first = postPack(app, packBody());
    const second = postPack(app, packBody());
    await waitFor(() => enclave.calls.length === 1);
    await new Promise((r) => setTimeout(r, 20));
    const third = await postPack(app, packBody());
    expect(third.status).toBe(503);
    expect(third.json.error.code).toBe('QUEUE_FULL');
    expect(third.headers['retry-after']).toBe('7');
    gate.resolve();
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
  });
});

describe('enclave error mapping', () => {
  const cases: Array<[string, Error, number, string]> = [
    ['input → 422', new EnclaveError('SOPS_PARSE', 'secrets/a.enc.yaml is not a SOPS file', { category: 'input' }), 422, 'SOPS_PARSE'],
    ['rejected → 403', new EnclaveError('SOPS_MAC_MISMATCH', 'MAC mismatch in secrets/a.enc.yaml', { category: 'rejected' }), 403, 'SOPS_MAC_MISMATCH'],
    ['unavailable → 503', new EnclaveError('KMS_UNAVAILABLE', 'KMS did not answer', { category: 'unavailable' }), 503, 'KMS_UNAVAILABLE'],
    ['internal → 500', new EnclaveError('INTERNAL', 'bug', { category: 'internal' }), 500, 'INTERNAL'],
    ['link down → 503', new HostProxyError('ENCLAVE_UNAVAILABLE', 'cannot reach the enclave'), 503, 'ENCLAVE_UNAVAILABLE'],
    ['a raw exception → 500 without its text', new TypeError('secret-value-in-message'), 500, 'INTERNAL'],
  ];
  for (const [name, err, status, code] of cases) {
    it(name, async () => {
      const enclave = new FakeEnclave();
      enclave.handlers.pack = async (): Promise<PackResponse> => {
        throw err;
      };
      app = await buildServer(testConfig(), { enclave });
      const r = await postPack(app, packBody());
      expect(r.status).toBe(status);
      expect(r.json.error.code).toBe(code);
      expect(JSON.stringify(r.json)).not.toContain('secret-value-in-message');
      if (status === 503) expect(r.headers['retry-after']).toMatch(/^\d+$/);
    });
  }

  it('500 ENCLAVE_PROTOCOL when the receipt is not JSON', async () => {
    const enclave = new FakeEnclave();
    enclave.handlers.pack = async () => ({ artifact: new Uint8Array([1]), receipt: new Uint8Array([0xff, 0x00]) });
    app = await buildServer(testConfig(), { enclave });
    const r = await postPack(app, packBody());
    expect(r.status).toBe(500);
    expect(r.json.error.code).toBe('ENCLAVE_PROTOCOL');
  });
});

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error('condition not reached');
}

// ---------------------------------------------------------------------------------------------
// Slow or many connections, on a real loopback listener (issue 17). Every wait is bounded: a
// socket that the server does not close makes `closedWithin` resolve false, and the test fails.

/** Connects to the app's port; resolves with the socket once connected. */
function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

/** Resolves with what the server sent once it closed the socket, or undefined if still open after `ms`. */
function closedWithin(s: net.Socket, ms: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let data = '';
    s.on('data', (c: Buffer) => (data += c.toString('latin1')));
    s.on('error', () => undefined);
    const timer = setTimeout(() => resolve(undefined), ms);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

describe('slow and many connections (real listener on 127.0.0.1)', () => {
  async function listening(limits: Record<string, unknown>): Promise<number> {
    app = await buildServer(testConfig({ limits: { rateLimit: { requestsPerMinute: 1000, burst: 1000 }, ...limits } }), { enclave: new FakeEnclave() });
    await app.listen({ host: '127.0.0.1', port: 0 });
    return (app.server.address() as net.AddressInfo).port;
  }

  it('closes a connection that trickles its headers past headersTimeoutSeconds (408), and one that never sends a byte', async () => {
    const port = await listening({ headersTimeoutSeconds: 1, receiveTimeoutSeconds: 2 });
    const slow = await connect(port);
    const silent = await connect(port);
    const slowClosed = closedWithin(slow, 8000);
    const silentClosed = closedWithin(silent, 8000);
    // One header byte every 200 ms (a slowloris), for at most 6 s.
    const line = 'POST /v1/pack HTTP/1.1\r\nHost: x\r\nX-Slow: ';
    let i = 0;
    const drip = setInterval(() => {
      if (slow.destroyed || i >= 30) return clearInterval(drip);
      slow.write(i === 0 ? line : 'a');
      i += 1;
    }, 200);
    try {
      const answer = await slowClosed;
      expect(answer, 'the trickling connection was still open after 8 s').toBeDefined();
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(i).toBeLessThan(30);
      expect(await silentClosed, 'the silent connection was still open after 8 s').toBeDefined();
    } finally {
      clearInterval(drip);
      slow.destroy();
      silent.destroy();
    }
  }, 20_000);

  it('closes a connection that sent its headers but trickles the body past receiveTimeoutSeconds (408); nothing reaches the enclave', async () => {
    const enclave = new FakeEnclave();
    app = await buildServer(testConfig({ limits: { headersTimeoutSeconds: 1, receiveTimeoutSeconds: 2 } }), { enclave });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const s = await connect((app.server.address() as net.AddressInfo).port);
    const closed = closedWithin(s, 10_000);
    s.write(`POST /v1/pack HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`);
    let i = 0;
    const drip = setInterval(() => {
      if (s.destroyed || i >= 40) return clearInterval(drip);
      s.write(' ');
      i += 1;
    }, 200);
    try {
      const answer = await closed;
      expect(answer, 'the trickling body was still accepted after 10 s').toBeDefined();
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(i).toBeLessThan(40);
      expect(enclave.calls).toHaveLength(0);
    } finally {
      clearInterval(drip);
      s.destroy();
    }
  }, 20_000);

  it('holds at most maxConnections sockets: the next one is closed on accept, and a slot frees when one closes', async () => {
    const port = await listening({ maxConnections: 2, headersTimeoutSeconds: 10, receiveTimeoutSeconds: 10 });
    const held = [await connect(port), await connect(port)];
    try {
      const extra = await connect(port);
      expect(await closedWithin(extra, 3000), 'a third connection was kept open').toBe('');
      held.pop()!.destroy();
      // The freed slot is usable: a real request is answered (bounded attempts while the close lands).
      let status = 0;
      for (let attempt = 0; attempt < 5 && status !== 200; attempt++) {
        await new Promise((r) => setTimeout(r, 100));
        status = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status, () => 0);
      }
      expect(status).toBe(200);
    } finally {
      for (const s of held) s.destroy();
    }
  }, 20_000);
});
