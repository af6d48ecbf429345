/** /metrics: the instruments move with traffic, and the exposition passes `promtool check metrics`. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { buildServer } from '../../host-proxy/server.js';
import { createProxyMetrics } from '../../host-proxy/metrics.js';
import { FakeEnclave, TOKEN, packBody, testConfig } from './helpers.js';
import { missingTool } from '../tools.js';

const noPromtool = missingTool('promtool', 'prometheus');

/** The /metrics exposition after a few requests of each kind. */
async function scrape(): Promise<{ statusCode: number; contentType: unknown; text: string }> {
  const metrics = createProxyMetrics();
  const app = await buildServer(testConfig(), { enclave: new FakeEnclave(), metrics });
  const auth = { authorization: `Bearer ${TOKEN}` };
  await app.inject({ method: 'POST', url: '/v1/pack', headers: auth, payload: packBody() });
  await app.inject({ method: 'POST', url: '/v1/pack', payload: packBody() });
  await app.inject({ method: 'GET', url: `/v1/attestation?nonce=${'ab'.repeat(16)}`, headers: auth });
  await app.inject({ method: 'GET', url: '/no/such/path/123' });
  metrics.relayBytes.inc({ direction: 'to_upstream' }, 517);
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  await app.close();
  return { statusCode: res.statusCode, contentType: res.headers['content-type'], text: res.body };
}

describe('GET /metrics', () => {
  it('counts requests by route template and status, tracks the queue and relay bytes', async () => {
    const { statusCode, contentType, text } = await scrape();
    expect(statusCode).toBe(200);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(text).toContain('attested_pack_proxy_http_requests_total{route="/v1/pack",method="POST",status="200"} 1');
    expect(text).toContain('attested_pack_proxy_http_requests_total{route="/v1/pack",method="POST",status="401"} 1');
    expect(text).toContain('attested_pack_proxy_http_requests_total{route="unmatched",method="GET",status="404"} 1');
    expect(text).not.toContain('/no/such/path');
    expect(text).toMatch(/attested_pack_proxy_http_request_duration_seconds_bucket\{le="0\.005",route="\/v1\/pack",method="POST",status="200"\} \d/);
    expect(text).toContain('attested_pack_proxy_enclave_requests_total{type="pack",outcome="ok"} 1');
    expect(text).toContain('attested_pack_proxy_enclave_requests_total{type="attest",outcome="ok"} 1');
    expect(text).toContain('attested_pack_proxy_enclave_in_flight 0');
    expect(text).toContain('attested_pack_proxy_enclave_queue_depth 0');
    expect(text).toContain('attested_pack_proxy_relay_bytes_total{direction="to_upstream"} 517');
    expect(text).toContain('attested_pack_proxy_process_cpu_seconds_total');
  });

  it.skipIf(noPromtool)('lints clean with `promtool check metrics`', async () => {
    const { text } = await scrape();
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.status).toBe(0);
  });
});
