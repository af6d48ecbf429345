import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import fastJsonStringify from 'fast-json-stringify';
import { buildServer } from '../../host-proxy/server.js';
import { packResponseSchema } from '../../host-proxy/schemas.js';
import { FakeEnclave, TOKEN, packBody, testConfig } from './helpers.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const auth = { authorization: `Bearer ${TOKEN}` };

describe('POST /v1/pack', () => {
  it('relays the artifact bytes and the receipt, with the caller as requestedBy', async () => {
    const enclave = new FakeEnclave();
    app = await buildServer(testConfig(), { enclave });
    const body = packBody();
    const res = await app.inject({ method: 'POST', url: '/v1/pack', headers: auth, payload: body });
    expect(res.statusCode).toBe(200);
    const json = res.json();
    expect(Buffer.from(json.artifact, 'base64').toString()).toContain('"identity":"api"');
    expect(json.receipt.claims.request.nonce).toBe(body.nonce);
    expect(json.receipt.claims.request.requestedBy).toBe('ci');
    const call = enclave.calls.find((c) => c.type === 'pack');
    expect(call).toBeDefined();
  });
});

describe('POST /v1/pack answer bytes', () => {
  it('are exactly what the response schema serializer writes, and carry the receipt JSON unchanged', async () => {
    const enclave = new FakeEnclave();
    // A receipt with what JSON escaping has to care about: quotes, a line separator, non-ASCII, nesting.
    const receipt = { receiptVersion: 1, claims: { note: 'a "quoted" \u2028 é \\ value', list: [1, null, { deep: true }], n: 1.5 }, attestation: 'AAAA' };
    enclave.handlers.pack = async () => ({ artifact: new Uint8Array([0, 1, 2, 250, 251]), receipt: new Uint8Array(Buffer.from(JSON.stringify(receipt, null, 2) + '\n')) });
    app = await buildServer(testConfig(), { enclave });
    const res = await app.inject({ method: 'POST', url: '/v1/pack', headers: auth, payload: packBody() });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const expected = { artifact: Buffer.from([0, 1, 2, 250, 251]).toString('base64'), receipt };
    expect(res.body).toBe(fastJsonStringify(packResponseSchema as never)(expected));
    expect(res.json()).toEqual(expected);
  });

  it('still refuses a receipt that is not a JSON object', async () => {
    const enclave = new FakeEnclave();
    enclave.handlers.pack = async () => ({ artifact: new Uint8Array([1]), receipt: new Uint8Array(Buffer.from('[1,2]')) });
    app = await buildServer(testConfig(), { enclave });
    const res = await app.inject({ method: 'POST', url: '/v1/pack', headers: auth, payload: packBody() });
    expect(res.statusCode).toBeGreaterThanOrEqual(500);
    expect(res.json().error.code).toBe('ENCLAVE_PROTOCOL');
  });
});

describe('GET /openapi.json', () => {
  it('documents the API from the route schemas', async () => {
    app = await buildServer(testConfig(), { enclave: new FakeEnclave() });
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe('3.0.3');
    expect(Object.keys(doc.paths).sort()).toEqual(['/healthz', '/readyz', '/v1/attestation', '/v1/pack']);
    const pack = doc.paths['/v1/pack'].post;
    const schema = pack.requestBody.content['application/json'].schema;
    expect(schema.required).toEqual(expect.arrayContaining(['identity', 'environment', 'commit', 'nonce', 'manifest', 'files']));
    expect(schema.properties.options.properties.signing.enum).toEqual(['kms', 'sealed', 'none']);
    expect(Object.keys(pack.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '403', '413', '429', '503']));
    expect(pack.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/v1/attestation'].get.parameters[0]).toMatchObject({ name: 'nonce', in: 'query', required: true });
  });
});

describe('pack options and local mode', () => {
  it('passes ttl and signing mode through, defaulting signing to sealed', async () => {
    const enclave = new FakeEnclave();
    app = await buildServer(testConfig(), { enclave });
    await app.inject({ method: 'POST', url: '/v1/pack', headers: auth, payload: packBody({ options: { ttlSeconds: 3600, signing: 'kms' } }) });
    const body = packBody();
    delete body.options;
    await app.inject({ method: 'POST', url: '/v1/pack', headers: auth, payload: body });
    const packs = enclave.calls.filter((c) => c.type === 'pack').map((c) => (c.body as { options: unknown }).options);
    expect(packs).toEqual([{ ttlSeconds: 3600, signing: 'kms' }, { signing: 'sealed' }]);
  });

  it('--insecure-local without auth: anyone on loopback may pack, as "local"', async () => {
    app = await buildServer(testConfig({ auth: {} }, true), { enclave: new FakeEnclave() });
    const res = await app.inject({ method: 'POST', url: '/v1/pack', payload: packBody() });
    expect(res.statusCode).toBe(200);
    expect(res.json().receipt.claims.request.requestedBy).toBe('local');
  });

  it('--insecure-local with auth configured still requires it', async () => {
    app = await buildServer(testConfig({}, true), { enclave: new FakeEnclave() });
    expect((await app.inject({ method: 'POST', url: '/v1/pack', payload: packBody() })).statusCode).toBe(401);
  });
});
