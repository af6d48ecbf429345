import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../host-proxy/server.js';
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
