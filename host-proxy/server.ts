/**
 * The host proxy's HTTP server, assembled from plugins in the order a request meets them:
 * errors → OpenAPI → metrics → authentication → rate limit → routes (pack, attestation,
 * health). Tests build the same server and drive it with `inject()`.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Writable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { VERSION } from '../common/version.js';
import { Authenticator } from './auth/authenticator.js';
import { GithubOidcVerifier } from './auth/github-oidc.js';
import { StaticTokens } from './auth/static-tokens.js';
import type { ProxyConfig } from './config.js';
import { credentialSourceFor, type CredentialSource } from './credentials.js';
import type { EnclaveCalls, EnclaveCallType, EnclaveLink } from './enclave-link.js';
import { EnclaveQueue } from './enclave-queue.js';
import { ConfigError, isAttestedPackError } from '../common/errors.js';
import { createProxyMetrics, type ProxyMetrics } from './metrics.js';
import { attestationRoutes } from './plugins/attestation.js';
import { authPlugin } from './plugins/auth.js';
import { errorsPlugin } from './plugins/errors.js';
import { healthRoutes } from './plugins/health.js';
import { metricsPlugin } from './plugins/metrics.js';
import { openapiPlugin } from './plugins/openapi.js';
import { packRoutes } from './plugins/pack.js';
import { rateLimitPlugin } from './plugins/rate-limit.js';
import { isStrictBase64 } from './schemas.js';
import { TokenBuckets } from './token-bucket.js';

/** What the server is built around; everything but the enclave link has a default from config. */
export interface ServerDeps {
  /** The enclave (usually an `EnclaveClient`); closed when the server closes. */
  enclave: EnclaveLink;
  credentials?: CredentialSource;
  /** Overrides the authenticator built from `config.auth` (tests). */
  authenticator?: Authenticator;
  metrics?: ProxyMetrics;
  /** Clock for rate limiting (ms). */
  now?: () => number;
  /** Log destination (default stdout); tests capture it. */
  logStream?: Writable;
}

/** Log paths never written, whatever a handler passes to the logger. */
export const REDACTED_LOG_PATHS = [
  'req.headers',
  'headers',
  'authorization',
  '*.authorization',
  'body',
  '*.body',
  'credentials',
  '*.credentials',
  'secretAccessKey',
  '*.secretAccessKey',
  'sessionToken',
  '*.sessionToken',
  'token',
  '*.token',
];

function loggerOptions(config: ProxyConfig, stream: Writable | undefined): FastifyServerOptions['logger'] {
  return {
    level: config.log.level,
    ...(stream ? { stream } : {}),
    redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
    serializers: {
      // Method, path and peer only: no headers (Authorization), no body.
      req: (req: { method?: string; url?: string; ip?: string }) => ({ method: req.method, url: req.url, remoteAddress: req.ip }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
    },
  };
}

/** Counts enclave calls by type and outcome. */
function instrument(link: EnclaveLink, metrics: ProxyMetrics): EnclaveLink {
  return {
    async request<T extends EnclaveCallType>(type: T, body: EnclaveCalls[T]['request'], options: { timeoutMs: number }) {
      try {
        const res = await link.request(type, body, options);
        metrics.enclaveRequests.inc({ type, outcome: 'ok' });
        return res;
      } catch (err) {
        metrics.enclaveRequests.inc({ type, outcome: isAttestedPackError(err) ? err.category : 'internal' });
        throw err;
      }
    },
    close: () => link.close(),
  };
}

function readTls(tls: { certFile: string; keyFile: string }): { cert: Buffer; key: Buffer } {
  const read = (path: string, key: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError('PROXY_TLS_UNREADABLE', `tls.${key}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, {
        hint: 'point tls.certFile / tls.keyFile at readable PEM files',
      });
    }
  };
  return { cert: read(tls.certFile, 'certFile'), key: read(tls.keyFile, 'keyFile') };
}

/**
 * The node HTTP(S) server under fastify, with the limits that protect it from slow or many
 * connections: complete headers within `headersTimeout` and the complete request (body
 * included) within `requestTimeout` — both counted from the start, so a client trickling bytes
 * cannot hold a socket — and at most `maxConnections` sockets; more are closed on accept. Node
 * enforces the timeouts on its connection sweep, run every second here (node's default is 30 s).
 * Once a request is received, the pack's own deadline (limits.requestTimeoutSeconds) applies.
 */
function listenerFor(config: ProxyConfig, handler: http.RequestListener): http.Server {
  const options: http.ServerOptions = {
    headersTimeout: config.limits.headersTimeoutMs,
    requestTimeout: config.limits.receiveTimeoutMs,
    connectionsCheckingInterval: 1000,
    keepAliveTimeout: 72_000, // fastify's default: longer than a load balancer's idle timeout (60 s)
  };
  const server = config.tls ? https.createServer({ ...options, ...readTls(config.tls) }, handler) : http.createServer(options, handler);
  server.maxConnections = config.limits.maxConnections;
  return server;
}

/** Builds the authenticator a configuration describes. */
export async function buildAuthenticator(config: ProxyConfig): Promise<Authenticator> {
  const tokens = new StaticTokens(config.auth.tokens);
  const oidc = config.auth.githubOidc ? await GithubOidcVerifier.create(config.auth.githubOidc) : undefined;
  const anonymous = config.insecureLocal && tokens.size === 0 && oidc === undefined;
  return new Authenticator(tokens, oidc, anonymous);
}

/**
 * Builds the fastify server (not listening). Closing it drains accepted requests first, then
 * closes the enclave link.
 */
export async function buildServer(config: ProxyConfig, deps: ServerDeps): Promise<FastifyInstance> {
  const metrics = deps.metrics ?? createProxyMetrics();
  const authenticator = deps.authenticator ?? (await buildAuthenticator(config));
  const credentials = deps.credentials ?? (await credentialSourceFor(config.credentials));
  const link = instrument(deps.enclave, metrics);
  const queue = new EnclaveQueue(config.enclave.concurrency, config.enclave.queueSize, config.limits.retryAfterSeconds, ({ inFlight, queued }) => {
    metrics.enclaveInFlight.set(inFlight);
    metrics.enclaveQueueDepth.set(queued);
  });
  const buckets = new TokenBuckets(config.limits.rateLimit.requestsPerMinute, config.limits.rateLimit.burst, deps.now);

  const app = Fastify({
    logger: loggerOptions(config, deps.logStream),
    bodyLimit: config.limits.bodyLimitBytes,
    serverFactory: (handler) => listenerFor(config, handler),
    return503OnClosing: true,
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false, formats: { base64: isStrictBase64 } },
    },
  });

  await app.register(errorsPlugin, { retryAfterSeconds: config.limits.retryAfterSeconds, bodyLimit: config.limits.bodyLimitBytes });
  await app.register(openapiPlugin, { version: VERSION });
  await app.register(metricsPlugin, { metrics });
  await app.register(authPlugin, { authenticator });
  await app.register(rateLimitPlugin, { buckets });
  await app.register(packRoutes, {
    link,
    queue,
    credentials,
    packTimeoutMs: config.enclave.packTimeoutMs,
    requestTimeoutMs: config.limits.requestTimeoutMs,
  });
  await app.register(attestationRoutes, {
    link,
    queue,
    attestTimeoutMs: config.enclave.attestTimeoutMs,
    requestTimeoutMs: config.limits.requestTimeoutMs,
  });
  await app.register(healthRoutes, { link, healthTimeoutMs: config.enclave.healthTimeoutMs, retryAfterSeconds: config.limits.retryAfterSeconds });

  // Graceful shutdown. preClose: from now on every answer closes its connection, so keep-alive
  // clients cannot hold the server open once their in-flight pack is answered. onClose (after
  // the HTTP server stopped and in-flight requests were answered): drain, then drop the link.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    app.server.closeIdleConnections?.();
  });
  // Callback style, like the other per-request hooks: an async hook costs a promise per answer.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onClose', async () => {
    // Accepted packs finish before the enclave link goes away.
    await queue.drain();
    await link.close();
  });
  return app;
}
