/** The KMS relay: raw bytes both ways to its one upstream, counted; allowlist checked at start. */
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkRelayUpstream, startKmsRelay, type KmsRelay } from '../../host-proxy/kms-relay.js';
import { createProxyMetrics } from '../../host-proxy/metrics.js';
import { connectTransport } from '../../vsock/index.js';

let dir: string;
let upstream: net.Server;
let upstreamPort: number;
let relay: KmsRelay | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hp-relay-'));
  // A stand-in for KMS: answers every chunk with "ack:" + the chunk, and closes when the client ends.
  upstream = net.createServer((s) => {
    s.on('data', (d) => s.write(Buffer.concat([Buffer.from('ack:'), d])));
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as net.AddressInfo).port;
});
afterEach(async () => {
  await relay?.close();
  relay = undefined;
  await new Promise((r) => upstream.close(r));
  await rm(dir, { recursive: true, force: true });
});

/**
 * Sends `payload`, reads until `expect` bytes came back (like a TLS client waiting for the
 * server's answer, without half-closing first), then closes; resolves with what came back.
 */
function roundTrip(url: string, payload: Buffer, expect = payload.length + 4): Promise<Buffer> {
  return connectTransport(url).then(
    (s) =>
      new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        let got = 0;
        s.on('data', (d: Buffer) => {
          chunks.push(d);
          got += d.length;
          if (got >= expect) s.end();
        });
        s.on('error', reject);
        s.on('close', () => resolve(Buffer.concat(chunks)));
        s.write(payload);
      }),
  );
}

describe('KMS relay', () => {
  it('relays raw bytes both ways over a unix listener and counts them', async () => {
    const metrics = createProxyMetrics({ processMetrics: false });
    const up = `127.0.0.1:${upstreamPort}`;
    relay = await startKmsRelay({ listen: `unix://${join(dir, 'relay.sock')}`, upstream: up, allowlist: [up], allowLoopback: true, metrics });
    const payload = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]);
    const answer = await roundTrip(relay.url, payload);
    expect(answer.equals(Buffer.concat([Buffer.from('ack:'), payload]))).toBe(true);
    for (let i = 0; i < 200 && relay.connections > 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(relay.connections).toBe(0);
    const text = await metrics.registry.metrics();
    expect(text).toContain(`attested_pack_proxy_relay_bytes_total{direction="to_upstream"} ${payload.length}`);
    expect(text).toContain(`attested_pack_proxy_relay_bytes_total{direction="to_enclave"} ${payload.length + 4}`);
    expect(text).toContain('attested_pack_proxy_relay_connections_total{outcome="ok"} 1');
  });

  it('relays over a loopback tcp listener too, several connections at once', async () => {
    const up = `127.0.0.1:${upstreamPort}`;
    relay = await startKmsRelay({ listen: 'tcp://127.0.0.1:0', upstream: up, allowlist: [up], allowLoopback: true });
    const answers = await Promise.all([1, 2, 3].map((i) => roundTrip(relay!.url, Buffer.from(`hello ${i}`))));
    expect(answers.map((a) => a.toString())).toEqual(['ack:hello 1', 'ack:hello 2', 'ack:hello 3']);
  });

  it('closes the enclave side and counts an upstream error when the upstream is down', async () => {
    const metrics = createProxyMetrics({ processMetrics: false });
    await new Promise((r) => upstream.close(r));
    const up = `127.0.0.1:${upstreamPort}`;
    relay = await startKmsRelay({ listen: `unix://${join(dir, 'relay.sock')}`, upstream: up, allowlist: [up], allowLoopback: true, metrics });
    const answer = await roundTrip(relay.url, Buffer.from('x'));
    expect(answer.length).toBe(0);
    for (let i = 0; i < 200 && relay.connections > 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(await metrics.registry.metrics()).toContain('attested_pack_proxy_relay_connections_total{outcome="upstream_error"} 1');
    upstream = net.createServer();
    upstream.listen(0, '127.0.0.1');
  });

  it('refuses at start an upstream outside the allowlist or not a KMS endpoint', async () => {
    const listen = `unix://${join(dir, 'relay.sock')}`;
    await expect(startKmsRelay({ listen, upstream: 'kms.us-east-1.amazonaws.com:443', allowlist: ['kms.eu-west-1.amazonaws.com:443'] })).rejects.toMatchObject({
      code: 'RELAY_UPSTREAM_NOT_ALLOWED',
    });
    expect(() => checkRelayUpstream('example.com:443', ['example.com:443'])).toThrow(/not an AWS KMS endpoint/);
    expect(() => checkRelayUpstream('kms.us-east-1.amazonaws.com:80', ['kms.us-east-1.amazonaws.com:80'])).toThrow(/not an AWS KMS endpoint/);
    expect(() => checkRelayUpstream('127.0.0.1:4000', ['127.0.0.1:4000'])).toThrow(/not an AWS KMS endpoint/);
    expect(checkRelayUpstream('127.0.0.1:4000', ['127.0.0.1:4000'], true)).toEqual({ host: '127.0.0.1', port: 4000 });
    expect(checkRelayUpstream('kms-fips.us-gov-west-1.amazonaws.com:443', ['kms-fips.us-gov-west-1.amazonaws.com:443'])).toEqual({
      host: 'kms-fips.us-gov-west-1.amazonaws.com',
      port: 443,
    });
  });

  it('reports RELAY_LISTEN_FAILED when the listener cannot bind', async () => {
    const up = `127.0.0.1:${upstreamPort}`;
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const err = await startKmsRelay({ listen: `tcp://127.0.0.1:${port}`, upstream: up, allowlist: [up], allowLoopback: true }).catch((e: unknown) => e);
    await new Promise((r) => blocker.close(r));
    // The system error (code and the kernel's message) is in the message and the details.
    expect(err).toMatchObject({ code: 'RELAY_LISTEN_FAILED', category: 'unavailable', details: { errno: 'EADDRINUSE', transportCode: 'TRANSPORT_ADDRESS_IN_USE' } });
    expect((err as Error).message).toMatch(new RegExp(`cannot listen on tcp://127\\.0\\.0\\.1:${port} \\(EADDRINUSE: listen EADDRINUSE: address already in use 127\\.0\\.0\\.1:${port}\\)`));
    expect((err as { hint: string }).hint).toContain('holds that port');
  });

  it('RELAY_LISTEN_FAILED names a permission failure as such', async () => {
    const up = `127.0.0.1:${upstreamPort}`;
    const err = await startKmsRelay({ listen: 'unix:///proc/attested-pack-relay.sock', upstream: up, allowlist: [up], allowLoopback: true }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'RELAY_LISTEN_FAILED' });
    const errno = (err as { details: { errno: string } }).details.errno;
    expect(['EACCES', 'EPERM', 'ENOENT']).toContain(errno);
    expect((err as Error).message).toContain(`(${errno}: `);
  });
});
