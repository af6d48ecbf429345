/**
 * The KMS egress relay: the enclave has no network, so its KMS client opens a vsock
 * connection to the parent (CID 3, port 8000 by default) and this relay pipes the raw bytes to
 * one fixed upstream, `kms.<region>.amazonaws.com:443`. TLS runs end to end between the
 * enclave and KMS: the relay (like the rest of the parent) sees only ciphertext. One fixed
 * upstream per listener and an allowlist checked at start — the contract of AWS's vsock-proxy,
 * which can be run instead (README "Host proxy").
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { listenTransport } from '../vsock/index.js';
import { isLoopbackHost, parseHostPort } from './config.js';
import { HostProxyError } from './errors.js';
import { isAttestedPackError, systemErrorOf } from '../common/errors.js';
import type { ProxyMetrics } from './metrics.js';

/** What to do when the relay cannot bind, by the system error behind it. */
function relayListenHint(errno: string | undefined, transportCode: string | undefined): string {
  if (errno === 'EADDRINUSE') return 'another process (an AWS vsock-proxy?) holds that port: stop it, change relay.listen, or remove the `relay` key from the proxy config';
  if (errno === 'EACCES' || errno === 'EPERM') return 'no permission to bind relay.listen: check the socket directory or port permissions';
  if (transportCode === 'VSOCK_UNAVAILABLE' || errno === 'EAFNOSUPPORT') return 'this machine has no usable AF_VSOCK (addon not built or no vsock device): run on the parent instance, or use a tcp:// or unix:// relay.listen for tests';
  return 'check relay.listen (a vsock://, unix:// or tcp:// URL this machine can bind)';
}

/** Options of one relay listener. */
export interface KmsRelayOptions {
  /** Where the enclave connects: `vsock://ANY:8000` in production, unix/tcp in tests. */
  listen: string;
  /** The one `host:port` every connection is forwarded to. */
  upstream: string;
  /** Upstreams that may be used at all; `upstream` must be one of them. */
  allowlist: readonly string[];
  /** Accept loopback upstreams (simulation and tests only; `--insecure-local`). */
  allowLoopback?: boolean;
  metrics?: ProxyMetrics;
  /** Drop a connection after this long without traffic either way (default 5 min). */
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
  log?: { info: (obj: object, msg: string) => void; warn: (obj: object, msg: string) => void };
}

/** A running relay. */
export interface KmsRelay {
  /** The bound listener URL. */
  url: string;
  /** Open relayed connections. */
  readonly connections: number;
  close(): Promise<void>;
}

const KMS_HOST = /^kms(-fips)?\.[a-z]{2}(-[a-z]+)+-\d+\.amazonaws\.com(\.cn)?$/;

/** Throws RELAY_UPSTREAM_NOT_ALLOWED unless `upstream` is allowlisted and is a KMS endpoint on 443. */
export function checkRelayUpstream(upstream: string, allowlist: readonly string[], allowLoopback = false): { host: string; port: number } {
  const hp = parseHostPort(upstream);
  if (!hp) throw new HostProxyError('RELAY_UPSTREAM_NOT_ALLOWED', `relay upstream ${JSON.stringify(upstream)} is not host:port`);
  if (!allowlist.includes(upstream)) {
    throw new HostProxyError('RELAY_UPSTREAM_NOT_ALLOWED', `relay upstream ${upstream} is not in the allowlist (${allowlist.join(', ') || 'empty'})`, {
      hint: 'add it to relay.allowlist — only AWS KMS endpoints belong there',
    });
  }
  const isKms = hp.port === 443 && KMS_HOST.test(hp.host);
  if (!isKms && !(allowLoopback && isLoopbackHost(hp.host))) {
    throw new HostProxyError('RELAY_UPSTREAM_NOT_ALLOWED', `relay upstream ${upstream} is not an AWS KMS endpoint (kms.<region>.amazonaws.com:443)`, {
      hint: 'the relay exists only for KMS; loopback upstreams are for simulation (--insecure-local)',
    });
  }
  return hp;
}

/** Pipes one direction, counting bytes and honouring backpressure. */
function pump(from: Duplex, to: Duplex, count: (n: number) => void, touch: () => void): void {
  from.on('data', (chunk: Buffer) => {
    count(chunk.length);
    touch();
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.once('end', () => to.end());
}

/** Starts a relay listener after checking its upstream. */
export async function startKmsRelay(options: KmsRelayOptions): Promise<KmsRelay> {
  const target = checkRelayUpstream(options.upstream, options.allowlist, options.allowLoopback);
  const idleMs = options.idleTimeoutMs ?? 300_000;
  const open = new Set<Duplex>();
  const onConnection = (enclaveSide: Duplex): void => {
    const upstream = net.connect({ host: target.host, port: target.port });
    open.add(enclaveSide);
    let timer: NodeJS.Timeout | undefined;
    const finish = (outcome: 'ok' | 'upstream_error'): void => {
      if (!open.delete(enclaveSide)) return;
      if (timer) clearTimeout(timer);
      options.metrics?.relayConnections.inc({ outcome });
      enclaveSide.destroy();
      upstream.destroy();
    };
    const touch = (): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => finish('ok'), idleMs);
      timer.unref();
    };
    const connectTimer = setTimeout(() => {
      options.log?.warn({ upstream: options.upstream }, 'relay upstream connect timed out');
      finish('upstream_error');
    }, options.connectTimeoutMs ?? 10_000);
    connectTimer.unref();
    upstream.once('connect', () => clearTimeout(connectTimer));
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(connectTimer);
      options.log?.warn({ upstream: options.upstream, errno: err.code }, 'relay upstream failed');
      finish('upstream_error');
    });
    enclaveSide.on('error', () => finish('ok'));
    // A socket closes only once both of its directions are done: then the pair is done.
    upstream.once('close', () => finish('ok'));
    enclaveSide.once('close', () => finish('ok'));
    touch();
    pump(enclaveSide, upstream, (n) => options.metrics?.relayBytes.inc({ direction: 'to_upstream' }, n), touch);
    pump(upstream, enclaveSide, (n) => options.metrics?.relayBytes.inc({ direction: 'to_enclave' }, n), touch);
  };
  let server;
  try {
    server = await listenTransport(options.listen, onConnection);
  } catch (err) {
    const sys = systemErrorOf(err);
    const transportCode = isAttestedPackError(err) ? err.code : undefined;
    const reason = sys ? `${sys.code}: ${sys.message}` : (transportCode ?? 'unknown error');
    throw new HostProxyError('RELAY_LISTEN_FAILED', `the KMS relay cannot listen on ${options.listen} (${reason})`, {
      hint: relayListenHint(sys?.code, transportCode),
      details: { listen: options.listen, ...(sys ? { errno: sys.code, systemMessage: sys.message } : {}), ...(transportCode ? { transportCode } : {}) },
      cause: err,
    });
  }
  options.log?.info({ listen: server.url, upstream: options.upstream }, 'KMS relay listening');
  return {
    url: server.url,
    get connections() {
      return open.size;
    },
    async close() {
      for (const c of open) c.destroy();
      await server.close();
    },
  };
}
