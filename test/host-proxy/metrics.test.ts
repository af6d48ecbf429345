/** /metrics: the instruments move with traffic, and the exposition passes `promtool check metrics`. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { buildServer } from '../../host-proxy/server.js';
import { createProxyMetrics } from '../../host-proxy/metrics.js';
import { FakeEnclave, TOKEN, packBody, testConfig } from './helpers.js';

function promtoolAvailable(): boolean {
  return spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
}

describe('GET /metrics', () => {
  it('counts requests by route template and status, tracks the queue and relay bytes, and lints clean', async () => {
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
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.body;
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

    if (!promtoolAvailable()) {
      // CI installs Debian's `prometheus` package (.ci/run); there a missing promtool is a failure.
      expect(process.env.CI, 'promtool is required in CI (apt-get install prometheus)').not.toBe('true');
      console.warn('promtool not installed: skipped the `promtool check metrics` lint');
      return;
    }
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.status).toBe(0);
  });
});
