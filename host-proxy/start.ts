/**
 * Starting and stopping a whole host proxy: the enclave client, the HTTP server, and the KMS
 * relay when configured. Used by `attested-pack host-proxy` and by the simulator.
 */
import type { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ProxyConfig } from './config.js';
import { credentialSourceFor, type CredentialSource } from './credentials.js';
import { readSealedKeyFile } from './sealed-key.js';
import { EnclaveClient } from './enclave-client.js';
import type { EnclaveLink } from './enclave-link.js';
import { startKmsRelay, type KmsRelay } from './kms-relay.js';
import { createProxyMetrics, type ProxyMetrics } from './metrics.js';
import { buildServer } from './server.js';
import { HostProxyError } from './errors.js';

/** Options for startHostProxy (all optional; defaults come from the config). */
export interface StartHostProxyOptions {
  /** Use this link instead of an EnclaveClient on `config.enclave.url`. */
  enclave?: EnclaveLink;
  /** Runs on each new enclave connection (e.g. send `unseal` for sealed signing). */
  onEnclaveConnect?: (link: EnclaveLink) => Promise<void>;
  credentials?: CredentialSource;
  metrics?: ProxyMetrics;
  logStream?: Writable;
}

/** A running proxy. */
export interface HostProxyHandle {
  app: FastifyInstance;
  /** The HTTP(S) base URL it listens on (real port when 0 was configured). */
  url: string;
  relay: KmsRelay | undefined;
  /** Graceful stop: accepted packs finish, then the link and the relay close. */
  close(): Promise<void>;
}

/** Builds, listens and (if configured) starts the KMS relay. */
export async function startHostProxy(config: ProxyConfig, options: StartHostProxyOptions = {}): Promise<HostProxyHandle> {
  const metrics = options.metrics ?? createProxyMetrics();
  const credentials = options.credentials ?? (await credentialSourceFor(config.credentials));
  // The enclave client logs through the server's logger, which exists only once it is built.
  const logTo: { app?: FastifyInstance } = {};
  let onConnect = options.onEnclaveConnect;
  if (!onConnect && config.signing) {
    const sealedKey = await readSealedKeyFile(config.signing.sealedKeyFile);
    onConnect = async (link) => {
      const forwarded = await credentials.get();
      await link.request('unseal', { sealedKey, ...(forwarded ? { credentials: forwarded } : {}) }, { timeoutMs: config.enclave.attestTimeoutMs * 3 });
      logTo.app?.log.info({ kmsKeyId: sealedKey.kmsKeyId }, 'sealed signing key unsealed in the enclave');
    };
  }
  const enclave =
    options.enclave ??
    new EnclaveClient({
      url: config.enclave.url,
      ...(onConnect ? { onConnect } : {}),
      onSetupError: (err) => logTo.app?.log.warn({ code: (err as { code?: unknown }).code }, 'enclave connection setup failed (sealed signing unavailable until the next connection)'),
    });
  const app = await buildServer(config, {
    enclave,
    metrics,
    credentials,
    ...(options.logStream ? { logStream: options.logStream } : {}),
  });
  logTo.app = app;
  let relay: KmsRelay | undefined;
  try {
    try {
      await app.listen({ host: config.listen.host, port: config.listen.port });
    } catch (err) {
      const errno = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new HostProxyError('PROXY_LISTEN_FAILED', `the host proxy cannot listen on ${config.listen.host}:${config.listen.port} (${errno})`, {
        hint: errno === 'EADDRINUSE' ? 'another process holds that port; stop it or change `listen`' : 'check `listen` (address and port) and the permissions to bind it',
        cause: err,
      });
    }
    if (config.relay) {
      const log = app.log;
      relay = await startKmsRelay({
        listen: config.relay.listen,
        upstream: config.relay.upstream,
        allowlist: config.relay.allowlist,
        allowLoopback: config.insecureLocal,
        metrics,
        log: { info: (o, m) => log.info(o, m), warn: (o, m) => log.warn(o, m) },
      });
    }
  } catch (err) {
    await app.close();
    throw err;
  }
  const address = app.server.address();
  const port = address !== null && typeof address === 'object' ? address.port : config.listen.port;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  const url = `${config.tls ? 'https' : 'http'}://${host}:${port}`;
  let closing: Promise<void> | undefined;
  return {
    app,
    url,
    relay,
    close() {
      closing ??= (async () => {
        await app.close();
        await relay?.close();
      })();
      return closing;
    },
  };
}
