/** startHostProxy: HTTPS with the configured certificate, the relay alongside, and clear start-up failures. */
import { execFileSync } from 'node:child_process';
import https from 'node:https';
import net from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHostProxy } from '../../host-proxy/start.js';
import { FakeEnclave, testConfig } from './helpers.js';
import { missingTool } from '../tools.js';

const noOpenssl = missingTool('openssl', 'openssl', ['version']);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hp-start-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function get(url: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('startHostProxy', () => {
  it.skipIf(noOpenssl)('serves HTTPS with the configured certificate and runs the relay', async () => {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    const upstream = net.createServer((s) => s.end());
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const up = `127.0.0.1:${(upstream.address() as net.AddressInfo).port}`;
    const config = testConfig({ tls: { certFile: cert, keyFile: key }, relay: { listen: `unix://${join(dir, 'relay.sock')}`, upstream: up, allowlist: [up] } }, true);
    const proxy = await startHostProxy(config, { enclave: new FakeEnclave() });
    try {
      expect(proxy.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(proxy.relay?.url).toBe(`unix://${join(dir, 'relay.sock')}`);
      const res = await get(`${proxy.url}/healthz`, await readFile(cert));
      expect(res).toEqual({ status: 200, body: '{"status":"ok"}' });
    } finally {
      await proxy.close();
      await new Promise((r) => upstream.close(r));
    }
  });

  it('fails clearly when the port is taken or the certificate is missing', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      await expect(startHostProxy(testConfig({ listen: `127.0.0.1:${port}` }), { enclave: new FakeEnclave() })).rejects.toMatchObject({
        code: 'PROXY_LISTEN_FAILED',
        message: expect.stringContaining('EADDRINUSE'),
        exitCode: 3,
      });
    } finally {
      await new Promise((r) => blocker.close(r));
    }
    await expect(startHostProxy(testConfig({ tls: { certFile: join(dir, 'nope.pem'), keyFile: join(dir, 'nope.key') } }), { enclave: new FakeEnclave() })).rejects.toMatchObject({
      code: 'PROXY_TLS_UNREADABLE',
      message: expect.stringContaining('tls.certFile'),
    });
  });
});
