/**
 * The proxy against an enclave speaking the real protocol on a real unix socket: packs relay,
 * enclave errors keep their code and category, a missing enclave is 503 and the proxy recovers
 * by itself when the enclave comes back, timeouts are 503, readiness follows the enclave, and
 * graceful shutdown completes every accepted pack (real HTTP on 127.0.0.1).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { AttestedPackError } from '../../common/errors.js';
import { buildServer } from '../../host-proxy/server.js';
import { EnclaveClient } from '../../host-proxy/enclave-client.js';
import { startHostProxy } from '../../host-proxy/start.js';
import type { PackRequest, UnsealRequest } from '../../enclave-app/protocol.js';
import { TOKEN, deferred, packBody, testConfig } from './helpers.js';
import { startEnclaveDouble, type EnclaveDouble } from './enclave-double.js';

let dir: string;
let enclave: EnclaveDouble;
let app: FastifyInstance | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hp-link-'));
  enclave = await startEnclaveDouble(join(dir, 'enclave.sock'));
});
afterEach(async () => {
  await app?.close();
  app = undefined;
  await enclave.stop();
  await rm(dir, { recursive: true, force: true });
});

const auth = { authorization: `Bearer ${TOKEN}` };

async function build(overrides: Record<string, unknown> = {}, client?: EnclaveClient): Promise<FastifyInstance> {
  const config = testConfig({ enclave: { url: enclave.url, concurrency: 2, queueSize: 8, packTimeoutSeconds: 1, healthTimeoutSeconds: 1 }, limits: { rateLimit: { requestsPerMinute: 1000, burst: 1000 } }, ...overrides });
  app = await buildServer(config, { enclave: client ?? new EnclaveClient({ url: config.enclave.url }) });
  return app;
}

describe('EnclaveClient over a unix socket', () => {
  it('relays a pack with the decoded files, nonce bytes and requestedBy', async () => {
    const a = await build();
    const body = packBody();
    const res = await a.inject({ method: 'POST', url: '/v1/pack', headers: auth, payload: body });
    expect(res.statusCode).toBe(200);
    expect(res.json().receipt.claims.request.nonce).toBe(body.nonce);
    const seen = enclave.seen.find((s) => s.type === 'pack')?.body as PackRequest;
    expect(seen.nonce).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(seen.nonce).toString('hex')).toBe(body.nonce);
    expect(Buffer.from(seen.files[0].content).toString()).toBe('sops: {}\n');
    expect(seen.manifest.path).toBe('clef.yaml');
    expect(seen.requestedBy).toBe('ci');
    expect(seen.options).toEqual({ signing: 'none' });
  });

  it("keeps the enclave's error code and category (rejected → 403, input → 422)", async () => {
    const a = await build();
    enclave.handlers.pack = () => {
      throw new AttestedPackError('KMS_ACCESS_DENIED', 'KMS refused Decrypt for this enclave image', { category: 'rejected', hint: 'update the key policy' });
    };
    const r1 = await a.inject({ method: 'POST', url: '/v1/pack', headers: auth, payload: packBody() });
    expect(r1.statusCode).toBe(403);
    expect(r1.json().error).toEqual({ code: 'KMS_ACCESS_DENIED', message: 'KMS refused Decrypt for this enclave image', hint: 'update the key policy' });
    enclave.handlers.pack = () => {
      throw new AttestedPackError('CLEF_IDENTITY_NOT_FOUND', "Service identity 'api' not found in manifest.", { category: 'input' });
    };
    const r2 = await a.inject({ method: 'POST', url: '/v1/pack', headers: auth, payload: packBody() });
    expect(r2.statusCode).toBe(422);
    expect(r2.json().error.code).toBe('CLEF_IDENTITY_NOT_FOUND');
  });

  it('answers 503 while the enclave is down and recovers by itself when it returns', async () => {
    const a = await build();
    expect((await a.inject({ method: 'POST', url: '/v1/pack', headers: auth, payload: packBody() })).statusCode).toBe(200);
    await enclave.stop();
    const down = await a.inject({ method: 'POST', url: '/v1/pack', headers: auth, payload: packBody() });
    expect(down.statusCode).toBe(503);
    expect(down.json().error.code).toBe('ENCLAVE_UNAVAILABLE');
    expect(down.headers['retry-after']).toMatch(/^\d+$/);
    const notReady = await a.inject({ method: 'GET', url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json()).toMatchObject({ status: 'unready', error: { code: 'ENCLAVE_UNAVAILABLE' } });
    await enclave.start();
    const ready = await a.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ready', enclave: { status: 'ok', version: 'double' } });
    expect((await a.inject({ method: 'POST', url: '/v1/pack', headers: auth, payload: packBody() })).statusCode).toBe(200);
  });

  it('answers 503 ENCLAVE_TIMEOUT when the enclave does not answer in time', async () => {
    const a = await build();
    const never = deferred<unknown>();
    enclave.handlers.pack = () => never.promise;
    const res = await a.inject({ method: 'POST', url: '/v1/pack', headers: auth, payload: packBody() });
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('ENCLAVE_TIMEOUT');
    never.resolve(null);
  });

  it('sends unseal on every new connection when configured', async () => {
    const unseals: number[] = [];
    enclave.handlers.unseal = () => {
      unseals.push(1);
      return { publicKey: new Uint8Array([1, 2, 3]) };
    };
    const client = new EnclaveClient({
      url: enclave.url,
      onConnect: async (link) => {
        await link.request('unseal', { sealedKey: { kmsKeyId: 'arn:aws:kms:us-east-1:111111111111:key/k', ciphertextBlob: new Uint8Array([9]), publicKey: new Uint8Array([1, 2, 3]) } }, { timeoutMs: 1000 });
      },
    });
    const a = await build({}, client);
    expect((await a.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    expect(unseals).toHaveLength(1);
    await enclave.stop();
    await enclave.start();
    // The next request that reaches the enclave (a pack; /readyz may answer from its cache) reconnects.
    expect((await a.inject({ method: 'POST', url: '/v1/pack', headers: auth, payload: packBody() })).statusCode).toBe(200);
    expect(unseals).toHaveLength(2);
  });

  it('startHostProxy sends the configured sealed key with the forwarded credentials on each connection', async () => {
    const sealedKeyFile = join(dir, 'sealed.json');
    await writeFile(
      sealedKeyFile,
      JSON.stringify({ type: 'attested-pack/sealed-ed25519/v1', kmsKeyId: 'arn:aws:kms:us-east-1:111111111111:key/seal', ciphertextBlob: 'AQID', publicKey: 'BAUG' }),
    );
    enclave.handlers.unseal = () => ({ publicKey: new Uint8Array([4, 5, 6]) });
    const config = testConfig({
      enclave: { url: enclave.url },
      signing: { sealedKeyFile },
      credentials: { source: 'static', region: 'us-east-1', accessKeyId: 'AKID', secretAccessKey: 'SECRET' },
    });
    const handle = await startHostProxy(config);
    try {
      expect((await fetch(`${handle.url}/readyz`)).status).toBe(200);
      const unseals = enclave.seen.filter((s) => s.type === 'unseal').map((s) => s.body as UnsealRequest);
      expect(unseals).toHaveLength(1);
      expect(unseals[0].sealedKey).toEqual({ kmsKeyId: 'arn:aws:kms:us-east-1:111111111111:key/seal', ciphertextBlob: new Uint8Array([1, 2, 3]), publicKey: new Uint8Array([4, 5, 6]) });
      expect(unseals[0].credentials).toEqual({ accessKeyId: 'AKID', secretAccessKey: 'SECRET', region: 'us-east-1' });
    } finally {
      await handle.close();
    }
    await writeFile(sealedKeyFile, '{"type":"something-else"}');
    await expect(startHostProxy(config)).rejects.toMatchObject({ code: 'PROXY_SEALED_KEY_INVALID', message: expect.stringContaining('signing.sealedKeyFile') });
  });

  it('graceful shutdown: every accepted pack completes, then the link closes', async () => {
    const gate = deferred();
    let started = 0;
    enclave.handlers.pack = async (body) => {
      started += 1;
      await gate.promise;
      const req = body as PackRequest;
      const { fakeArtifact, fakeReceipt } = await import('./helpers.js');
      return { artifact: fakeArtifact(req), receipt: fakeReceipt(req) };
    };
    const client = new EnclaveClient({ url: enclave.url });
    const a = await build({}, client);
    await a.listen({ host: '127.0.0.1', port: 0 });
    const address = a.server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    const url = `http://127.0.0.1:${address.port}/v1/pack`;
    const bodies = [packBody(), packBody(), packBody()];
    // concurrency 2: two in the enclave, one waiting in the queue.
    const inflight = bodies.map((b) => fetch(url, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(b) }));
    for (let i = 0; i < 400 && started < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect(started).toBe(2);
    const closing = a.close();
    app = undefined;
    // New connections are refused (or answered 503) while the accepted packs drain.
    const late = await fetch(url, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(packBody()) }).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(['refused', 503]).toContain(late);
    gate.resolve();
    const results = await Promise.all(inflight);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    const nonces = await Promise.all(results.map(async (r) => ((await r.json()) as { receipt: { claims: { request: { nonce: string } } } }).receipt.claims.request.nonce));
    expect(nonces).toEqual(bodies.map((b) => b.nonce));
    await closing;
    expect(started).toBe(3);
    await expect(client.request('health', {}, { timeoutMs: 500 })).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
  });
});
