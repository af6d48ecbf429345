/**
 * Fuzzing every HTTP body and query the host proxy accepts, through the real fastify server
 * (host-proxy buildServer + inject, an in-process enclave stand-in that echoes like the enclave):
 * random JSON and edited pack bodies for POST /v1/pack, random query strings for
 * GET /v1/attestation, random paths, methods and content types. Oracle: never a 5xx, every
 * refusal is a 4xx with the JSON error body `{error: {code, message}}`; valid bodies get 200.
 */
import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, parseProxyConfig, type EnclaveCalls, type EnclaveCallType, type EnclaveLink } from '../../../host-proxy/index.js';
import type { PackRequest } from '../../../enclave-app/protocol.js';
import { Tally, applyJsonEdits, jsonEditArb, params, runs, timeoutFor } from '../support.js';

const TOKEN = 'ap_security_fuzz_token_0123456789';

/** Answers like the enclave would (artifact and receipt echo the request); never fails. */
class EchoEnclave implements EnclaveLink {
  packs = 0;
  async request<T extends EnclaveCallType>(type: T, body: EnclaveCalls[T]['request']): Promise<EnclaveCalls[T]['response']> {
    if (type === 'pack') {
      this.packs++;
      const req = body as PackRequest;
      const artifact = Buffer.from(JSON.stringify({ version: 1, identity: req.identity, environment: req.environment }));
      const receipt = Buffer.from(JSON.stringify({ receiptVersion: 1, claims: { request: { nonce: Buffer.from(req.nonce).toString('hex') } }, attestation: 'AAAA' }));
      return { artifact, receipt } as EnclaveCalls[T]['response'];
    }
    if (type === 'attest') return { document: new Uint8Array([0xd2, 0x84, 0x40]) } as EnclaveCalls[T]['response'];
    return { status: 'ok', version: 'fuzz', inFlight: 0, signingReady: false } as EnclaveCalls[T]['response'];
  }
  async close(): Promise<void> {}
}

let app: FastifyInstance;
const enclave = new EchoEnclave();

beforeAll(async () => {
  const config = parseProxyConfig(
    {
      listen: '127.0.0.1:0',
      enclave: { url: 'unix:///tmp/unused-security-fuzz.sock', concurrency: 4, queueSize: 64 },
      auth: { tokens: [{ name: 'ci', sha256: createHash('sha256').update(TOKEN).digest('hex'), identities: ['api-gateway'], environments: ['dev', 'production'], repositories: '*' }] },
      limits: { rateLimit: { requestsPerMinute: 1_000_000, burst: 1_000_000 }, bodyLimitBytes: 64 * 1024 },
      log: { level: 'silent' },
    },
    { source: 'security-fuzz' },
  );
  app = await buildServer(config, { enclave, credentials: { get: async () => undefined } });
  await app.ready();
});
afterAll(() => app?.close());

function validBody(): Record<string, unknown> {
  return {
    identity: 'api-gateway',
    environment: 'production',
    commit: 'ab'.repeat(20),
    repository: 'example/payments',
    nonce: randomBytes(32).toString('hex'),
    manifest: { path: 'clef.yaml', content: Buffer.from('version: 1\n').toString('base64') },
    files: [{ path: 'secrets/payments/production.enc.yaml', content: Buffer.from('sops: {}\n').toString('base64') }],
    options: { signing: 'none', ttlSeconds: 3600 },
  };
}

/** Checks one answer against the oracle; returns its status. */
function check(res: { statusCode: number; headers: Record<string, unknown>; body: string }, tally: Tally): number {
  expect(res.statusCode, res.body).toBeLessThan(500);
  if (res.statusCode === 200) {
    tally.ok();
    return 200;
  }
  expect(res.statusCode).toBeGreaterThanOrEqual(400);
  expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
  const body = JSON.parse(res.body) as { error?: { code?: unknown; message?: unknown } };
  expect(typeof body.error?.code).toBe('string');
  expect(typeof body.error?.message).toBe('string');
  tally.rejected(`${res.statusCode} ${String(body.error!.code)}`);
  return res.statusCode;
}

const auth = { authorization: `Bearer ${TOKEN}` };

describe('host-proxy HTTP fuzzing (fastify inject)', () => {
  it('a valid pack body is answered 200 (the oracle is not vacuous)', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/pack', headers: auth, payload: validBody() });
    expect(res.statusCode).toBe(200);
  });

  const n = runs(2000);
  it(`POST /v1/pack: ${n} random and edited JSON bodies → 200 or a 4xx JSON error, never 5xx`, async () => {
    const tally = new Tally('POST /v1/pack');
    const body = fc.oneof(
      { weight: 3, arbitrary: fc.array(jsonEditArb, { minLength: 1, maxLength: 3 }).map((e) => JSON.stringify(applyJsonEdits(validBody(), e))) },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
      { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
      { weight: 1, arbitrary: fc.constant(null).map(() => JSON.stringify(validBody())) },
    );
    const headers = fc.oneof(
      { weight: 8, arbitrary: fc.constant({ ...auth, 'content-type': 'application/json' }) },
      { weight: 1, arbitrary: fc.record({ authorization: fc.oneof(fc.constant(`Bearer ${TOKEN}x`), fc.string({ maxLength: 40 }), fc.constant('Bearer ')), 'content-type': fc.constant('application/json') }) },
      { weight: 1, arbitrary: fc.record({ authorization: fc.constant(`Bearer ${TOKEN}`), 'content-type': fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'multipart/form-data', '') }) },
    );
    await fc.assert(
      fc.asyncProperty(body, headers, async (payload, h) => {
        check(await app.inject({ method: 'POST', url: '/v1/pack', headers: h, payload }), tally);
      }),
      params(n),
    );
    tally.print();
    expect(tally.accepted).toBeGreaterThan(0);
    expect(tally.cases - tally.accepted).toBeGreaterThan(n / 2);
  }, timeoutFor(n, 20));

  const nQuery = runs(2000);
  it(`GET /v1/attestation: ${nQuery} random query strings → 200 or a 4xx JSON error, never 5xx`, async () => {
    const tally = new Tally('GET /v1/attestation');
    const query = fc.oneof(
      fc.string({ maxLength: 60 }).map((s) => `nonce=${encodeURIComponent(s)}`),
      fc.stringMatching(/^[0-9a-fA-F]{0,1030}$/).map((s) => `nonce=${s}`),
      fc.string({ maxLength: 80 }),
      fc.array(fc.tuple(fc.constantFrom('nonce', 'x', '__proto__', 'constructor', ''), fc.string({ maxLength: 10 })), { maxLength: 4 }).map((kv) =>
        kv.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&'),
      ),
    );
    await fc.assert(
      fc.asyncProperty(query, async (q) => {
        check(await app.inject({ method: 'GET', url: `/v1/attestation?${q}`, headers: auth }), tally);
      }),
      params(nQuery),
    );
    tally.print();
    expect(tally.accepted).toBeGreaterThan(0);
  }, timeoutFor(nQuery, 20));

  // An extra next to the two body/query targets above.
  const nPath = runs(1000);
  it(`${nPath} random methods and paths → a known route's answer or a 4xx JSON error, never 5xx`, async () => {
    const tally = new Tally('random routes');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS') as fc.Arbitrary<'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS'>,
        fc.oneof(fc.webPath(), fc.constantFrom('/v1/pack', '/v1/attestation', '/healthz', '/readyz', '/openapi.json', '/v1//pack', '/v1/pack/', '/%2e%2e/v1/pack')),
        fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
        async (method, path, payload) => {
          const res = await app.inject({ method, url: path || '/', headers: auth, ...(payload === undefined || method === 'GET' ? {} : { payload: JSON.stringify(payload), headers: { ...auth, 'content-type': 'application/json' } }) });
          if (res.statusCode === 200 && !String(res.headers['content-type']).startsWith('application/json')) {
            tally.ok(); // /metrics is text
            return;
          }
          check(res, tally);
        },
      ),
      params(nPath),
    );
    tally.print();
  }, timeoutFor(nPath, 20));
});
