/**
 * Unauthenticated /readyz must cost the enclave nothing per anonymous caller (issue 16, item 4).
 * Replayed as the attacker did it: many anonymous HTTP clients hammer the real proxy (listening on
 * 127.0.0.1) in front of an enclave that speaks the real protocol on a unix socket; the enclave
 * counts the `health` and `attest` requests it has to answer.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../host-proxy/server.js';
import { EnclaveClient } from '../../host-proxy/enclave-client.js';
import { testConfig } from './helpers.js';
import { startEnclaveDouble, type EnclaveDouble } from './enclave-double.js';

let dir: string;
let enclave: EnclaveDouble;
let app: FastifyInstance;
let url: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hp-readyz-'));
  enclave = await startEnclaveDouble(join(dir, 'enclave.sock'));
  const config = testConfig({
    enclave: { url: enclave.url, concurrency: 2, queueSize: 8, packTimeoutSeconds: 5, healthTimeoutSeconds: 5 },
    limits: { rateLimit: { requestsPerMinute: 100_000, burst: 100_000 } },
  });
  app = await buildServer(config, { enclave: new EnclaveClient({ url: config.enclave.url }) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
afterEach(async () => {
  await app?.close();
  await enclave.stop();
  await rm(dir, { recursive: true, force: true });
});

const probes = (): { health: number; attest: number } => ({
  health: enclave.seen.filter((s) => s.type === 'health').length,
  attest: enclave.seen.filter((s) => s.type === 'attest').length,
});

describe('GET /readyz from anonymous clients', () => {
  it('200 concurrent callers, then 200 more: every one is answered ready, the enclave sees one health and one attest', async () => {
    // A slow enclave makes the callers overlap for real.
    const attest = enclave.handlers.attest!;
    enclave.handlers.attest = async (body, ctx) => {
      await new Promise((r) => setTimeout(r, 100));
      return attest(body, ctx);
    };
    for (let round = 0; round < 2; round++) {
      const answers = await Promise.all(Array.from({ length: 200 }, () => fetch(`${url}/readyz`).then(async (r) => ({ status: r.status, body: (await r.json()) as { status: string } }))));
      expect(answers.every((a) => a.status === 200 && a.body.status === 'ready')).toBe(true);
    }
    expect(probes()).toEqual({ health: 1, attest: 1 });
  });

  it('while the enclave is down, callers are answered 503 and probes run one at a time; a recovered enclave is seen at once', async () => {
    await enclave.stop();
    const down = await Promise.all(Array.from({ length: 50 }, () => fetch(`${url}/readyz`)));
    expect(down.every((r) => r.status === 503 && r.headers.get('retry-after') !== null)).toBe(true);
    expect(probes()).toEqual({ health: 0, attest: 0 });
    await enclave.start();
    let inFlight = 0;
    let most = 0;
    const health = enclave.handlers.health!;
    enclave.handlers.health = async (body, ctx) => {
      most = Math.max(most, ++inFlight);
      try {
        await new Promise((r) => setTimeout(r, 50));
        return await health(body, ctx);
      } finally {
        inFlight--;
      }
    };
    const up = await Promise.all(Array.from({ length: 50 }, () => fetch(`${url}/readyz`)));
    expect(up.every((r) => r.status === 200)).toBe(true);
    expect(most).toBe(1);
    expect(probes().health).toBe(1);
  });
});
