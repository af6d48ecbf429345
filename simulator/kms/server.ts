/**
 * The KMS simulator server: fastify on loopback speaking AWS JSON 1.1 (`POST /`,
 * `x-amz-target: TrentService.<Operation>`, `application/x-amz-json-1.1`), so the real
 * `@aws-sdk/client-kms` talks to it unchanged. One request goes through these steps in order:
 * fault knobs → operation lookup → SigV4 authentication → body parsing → the operation (which
 * authorises against the key policy) → response, and always one audit event.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { awsNitroRootG1, trustedRootFromPem, type TrustedRoot } from '../../attestation/index.js';
import { isAttestedPackError } from '../../common/errors.js';
import { AuditLog, newAuditEvent, type AuditEvent } from './audit.js';
import { SimCore, type Call, type Caller, type OpHandler } from './core.js';
import { DEMO_CREDENTIALS } from './demo.js';
import { KmsApiError, KmsSimError } from './errors.js';
import { FaultInjector, InjectedDelays, type KmsFaults } from './faults.js';
import { CRYPTO_OPERATIONS } from './ops-crypto.js';
import { defaultKeyPolicy, KEY_OPERATIONS, storeNewKey } from './ops-keys.js';
import { SIGN_OPERATIONS } from './ops-sign.js';
import { attestationRecipientVerifier, DEFAULT_MAX_ATTESTATION_AGE_MS, type RecipientDocumentVerifier } from './recipient.js';
import { authenticate, type SimCredential } from './sigv4.js';
import { KmsState } from './state.js';
import { Input } from './wire.js';
import { usagesFor, type KeySpec, type KeyUsage } from './key-material.js';

/** Every TrentService operation the simulator implements. */
export const OPERATIONS: Readonly<Record<string, OpHandler>> = { ...KEY_OPERATIONS, ...CRYPTO_OPERATIONS, ...SIGN_OPERATIONS };

/** Operations that only read (CloudTrail `readOnly`). */
const READ_ONLY = new Set(['DescribeKey', 'ListKeys', 'ListAliases', 'GetKeyPolicy', 'GetPublicKey', 'GenerateRandom', 'Verify']);

/** Default maximum request body: large enough for a 256 KiB attestation document in base64. */
export const DEFAULT_BODY_LIMIT = 512 * 1024;

/** How to start a simulator. */
export interface KmsSimulatorOptions {
  /** Loopback address to listen on (default 127.0.0.1). */
  host?: string;
  /** TCP port (default 0: pick a free one). */
  port?: number;
  /** Where keys, policies and aliases live (created if missing). */
  stateDir: string;
  /** Audit log file (default `<stateDir>/audit.jsonl`). */
  auditLogPath?: string;
  /** PEM certificates whose documents are accepted as Recipient (e.g. the simulated NSM root). */
  trustRoots?: string[];
  /** Also accept documents under the AWS Nitro Enclaves Root-G1 (default true). */
  acceptAwsRoot?: boolean;
  /** Access keys; the first is the account administrator. Default: DEMO_CREDENTIALS. */
  credentials?: SimCredential[];
  /** Principals treated as account administrators (default: the first credential's principal). */
  adminPrincipalArns?: string[];
  region?: string;
  /** Account that owns the keys (default: the first credential's account). */
  accountId?: string;
  /** Freshness window for Recipient documents (default 5 minutes, an assumption). */
  maxAttestationAgeMs?: number;
  faults?: KmsFaults;
  /** Clock (ms) for signatures, attestation freshness and timestamps; default Date.now. */
  now?: () => number;
  /** Replaces the attestation/ verifier (for embedding; the default is what KMS-like checks need). */
  recipientVerifier?: RecipientDocumentVerifier;
  /** Maximum request body in bytes (default 512 KiB). */
  bodyLimitBytes?: number;
}

/** A running simulator. */
export interface KmsSimulatorHandle {
  /** e.g. `http://127.0.0.1:41234` — give it to KMSClient({ endpoint }). */
  endpoint: string;
  host: string;
  port: number;
  region: string;
  accountId: string;
  state: KmsState;
  auditLogPath: string;
  audit: AuditLog;
  /** Replaces the fault knobs (unspecified knobs are turned off). */
  setFaults(f: KmsFaults): void;
  getFaults(): Required<KmsFaults>;
  /**
   * Calls `listener` with every answered KMS call (operation, arrival and answer times on this
   * process's `performance.now()` clock), so a test can read which call waited for which.
   * Returns a function that removes the listener.
   */
  observeCalls(listener: (call: KmsCallRecord) => void): () => void;
  /** Creates a key directly (no HTTP, no policy check), optionally with an alias; returns its ARN. */
  createKey(o: { keySpec?: KeySpec; keyUsage?: KeyUsage; description?: string; policy?: string; alias?: string }): Promise<string>;
  /** Stops listening, releases stalled requests, and flushes state and audit log. */
  close(): Promise<void>;
}

/** One answered KMS call, as `observeCalls` reports it. */
export interface KmsCallRecord {
  /** `Decrypt`, `Encrypt`, `Sign`, … */
  operation: string;
  requestId: string;
  /** `performance.now()` when the request was read (before any injected latency). */
  arrivedAt: number;
  /** `performance.now()` when the answer was ready to send. */
  answeredAt: number;
  /** HTTP status of the answer. */
  status: number;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Starts a KMS simulator on loopback and resolves once it accepts connections. */
export async function startKmsSimulator(opts: KmsSimulatorOptions): Promise<KmsSimulatorHandle> {
  const host = opts.host ?? '127.0.0.1';
  if (!LOOPBACK.has(host)) throw new KmsSimError('KMS_SIM_BAD_CONFIG', `the KMS simulator listens on loopback only, not ${host}`);
  const credentials = opts.credentials ?? DEMO_CREDENTIALS;
  if (credentials.length === 0) throw new KmsSimError('KMS_SIM_BAD_CONFIG', 'at least one credential is needed (the first is the account administrator)');
  const byKeyId = new Map<string, SimCredential>();
  for (const c of credentials) {
    if (!/^arn:aws[\w-]*:(iam|sts)::\d{12}:.+$/.test(c.principalArn)) {
      throw new KmsSimError('KMS_SIM_BAD_CONFIG', `credential ${c.accessKeyId}: principal ${JSON.stringify(c.principalArn)} is not an IAM/STS ARN`);
    }
    if (!c.accessKeyId || !c.secretAccessKey) throw new KmsSimError('KMS_SIM_BAD_CONFIG', 'every credential needs an access key ID and a secret');
    if (byKeyId.has(c.accessKeyId)) throw new KmsSimError('KMS_SIM_BAD_CONFIG', `access key ${c.accessKeyId} is configured twice`);
    byKeyId.set(c.accessKeyId, c);
  }
  const region = opts.region ?? 'us-east-1';
  const accountId = opts.accountId ?? accountOf(credentials[0]!.principalArn);
  const admins = new Set(opts.adminPrincipalArns ?? [credentials[0]!.principalArn]);
  const now = opts.now ?? Date.now;
  const verifier = opts.recipientVerifier ?? attestationRecipientVerifier({ trustedRoots: trustRoots(opts), maxAgeMs: opts.maxAttestationAgeMs ?? DEFAULT_MAX_ATTESTATION_AGE_MS });
  const faults = new FaultInjector(opts.faults);

  const state = await KmsState.open(opts.stateDir, accountId, region);
  const auditLogPath = opts.auditLogPath ?? path.join(opts.stateDir, 'audit.jsonl');
  const audit = await AuditLog.open(auditLogPath);
  const sim = new SimCore(state, region, accountId, verifier, now);

  const stalled = new Set<() => void>();
  const delays = new InjectedDelays();
  const observers = new Set<(call: KmsCallRecord) => void>();
  const app = buildApp({ sim, credentials: byKeyId, admins, faults, audit, stalled, delays, observers, bodyLimit: opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT });

  try {
    await app.listen({ host, port: opts.port ?? 0 });
  } catch (err) {
    throw new KmsSimError('KMS_SIM_BAD_CONFIG', `the KMS simulator cannot listen on ${host}:${opts.port ?? 0}`, { cause: err, category: 'unavailable' });
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closed: Promise<void> | undefined;
  return {
    endpoint: `http://${urlHost}:${port}`,
    host,
    port,
    region,
    accountId,
    state,
    auditLogPath,
    audit,
    setFaults: (f) => faults.set(f),
    getFaults: () => faults.get(),
    observeCalls(listener) {
      observers.add(listener);
      return () => {
        observers.delete(listener);
      };
    },
    async createKey(o) {
      const keySpec = o.keySpec ?? 'SYMMETRIC_DEFAULT';
      const keyUsage = o.keyUsage ?? usagesFor(keySpec)[0]!;
      if (!usagesFor(keySpec).includes(keyUsage)) throw new KmsSimError('KMS_SIM_BAD_CONFIG', `KeyUsage ${keyUsage} does not fit ${keySpec}`);
      if (o.alias !== undefined && (!/^alias\/[a-zA-Z0-9/_-]+$/.test(o.alias) || state.getAlias(o.alias))) {
        throw new KmsSimError('KMS_SIM_BAD_CONFIG', `alias ${o.alias} is invalid or already exists`);
      }
      const key = await storeNewKey(sim, { keySpec, keyUsage, description: o.description ?? '', policy: o.policy ?? defaultKeyPolicy(accountId) });
      if (o.alias !== undefined) await state.putAlias({ aliasName: o.alias, targetKeyId: key.keyId, creationDate: now(), lastUpdatedDate: now() });
      return key.arn;
    },
    close() {
      closed ??= (async () => {
        delays.cancelAll();
        for (const release of stalled) release();
        await app.close();
        await audit.flush();
        await state.persist().catch(() => undefined);
      })();
      return closed;
    },
  };
}

function trustRoots(opts: KmsSimulatorOptions): TrustedRoot[] {
  const roots = (opts.trustRoots ?? []).map((pem) => trustedRootFromPem(pem));
  if (opts.acceptAwsRoot !== false) roots.push(awsNitroRootG1());
  if (roots.length === 0) {
    throw new KmsSimError('KMS_SIM_BAD_CONFIG', 'no attestation trust root: every Recipient would be refused', {
      hint: 'pass trustRoots (e.g. the simulated NSM root) or keep acceptAwsRoot',
    });
  }
  return roots;
}

function accountOf(arn: string): string {
  return /::(\d{12}):/.exec(arn)![1]!;
}

interface AppDeps {
  sim: SimCore;
  credentials: ReadonlyMap<string, SimCredential>;
  admins: ReadonlySet<string>;
  faults: FaultInjector;
  audit: AuditLog;
  stalled: Set<() => void>;
  /** Injected-latency sleeps; cancelled all at once when the simulator closes. */
  delays: InjectedDelays;
  /** Listeners told about every answered KMS call (see `KmsSimulatorHandle.observeCalls`). */
  observers: Set<(call: KmsCallRecord) => void>;
  bodyLimit: number;
}

/** Builds the fastify app (exported for tests that prefer `inject()`). */
export function buildApp(d: AppDeps): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: d.bodyLimit, forceCloseConnections: true, return503OnClosing: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: { code?: string; statusCode?: number }, _req, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendError(reply, new KmsApiError('ValidationException', `Request body exceeds the ${d.bodyLimit}-byte limit`, 413));
    }
    if (typeof err.statusCode === 'number' && err.statusCode < 500) {
      return sendError(reply, new KmsApiError('SerializationException', 'The request could not be read'));
    }
    return sendError(reply, new KmsApiError('KMSInternalException', 'An internal error occurred', 500));
  });
  app.setNotFoundHandler((_req, reply) => sendError(reply, new KmsApiError('UnknownOperationException', 'Only POST / is served', 404)));

  app.post('/', async (request, reply) => {
    const requestId = randomUUID();
    reply.header('x-amzn-RequestId', requestId);
    const target = headerOf(request, 'x-amz-target') ?? '';
    if (target.startsWith('AttestedPackSimulator.')) return adminOperation(d, request, reply, target);

    const opName = /^TrentService\.([A-Za-z]+)$/.exec(target)?.[1];
    const arrivedAt = performance.now();
    const fault = d.faults.next(opName);
    if (fault.kind === 'stall') return stall(d, request, reply);
    if (fault.delayMs > 0 && !(await d.delays.sleep(fault.delayMs))) {
      return reply; // closing: the connection is being torn down
    }
    const observe = (status: number): void => {
      if (d.observers.size === 0) return;
      const record: KmsCallRecord = { operation: opName ?? (target || 'Unknown'), requestId, arrivedAt, answeredAt: performance.now(), status };
      for (const o of d.observers) o(record);
    };
    const event = newAuditEvent({
      eventName: opName ?? (target || 'Unknown'),
      region: d.sim.region,
      accountId: d.sim.accountId,
      requestId,
      sourceIp: request.ip,
      userAgent: headerOf(request, 'user-agent') ?? '',
      at: d.sim.now(),
      readOnly: opName !== undefined && READ_ONLY.has(opName),
    });
    try {
      if (fault.kind === 'throttle') throw new KmsApiError('ThrottlingException', 'Rate exceeded');
      if (fault.kind === 'fail') throw new KmsApiError('KMSInternalException', 'An internal error occurred (injected fault)', 500);
      const handler = opName === undefined ? undefined : OPERATIONS[opName];
      if (!handler) throw new KmsApiError('UnknownOperationException', target ? `Unknown operation ${target}` : 'Missing x-amz-target header');
      const caller = await authenticateCaller(d, request, event);
      checkContentType(request);
      const input = Input.fromBody(bodyOf(request));
      const call: Call = { op: opName!, input, caller, audit: event, sim: d.sim };
      const body = await handler(call);
      void d.audit.append(event);
      observe(200);
      return sendJson(reply, 200, body);
    } catch (err) {
      const apiErr = toApiError(err);
      event.errorCode = apiErr.type;
      event.errorMessage = apiErr.message;
      void d.audit.append(event);
      observe(apiErr.status);
      return sendError(reply, apiErr);
    }
  });
  return app;
}

async function authenticateCaller(d: AppDeps, request: FastifyRequest, event: AuditEvent): Promise<Caller> {
  const claimed = /Credential=([^/,\s]+)\//.exec(headerOf(request, 'authorization') ?? '')?.[1];
  if (claimed) event.userIdentity = { type: 'Unknown', accessKeyId: claimed };
  const cred = await authenticate(
    { method: request.method, url: request.url, headers: request.headers, body: bodyOf(request) },
    d.credentials,
    { region: d.sim.region, now: d.sim.now() },
  );
  const accountId = accountOf(cred.principalArn);
  event.userIdentity = { type: identityType(cred.principalArn), arn: cred.principalArn, accountId, accessKeyId: cred.accessKeyId };
  return { credential: cred, arn: cred.principalArn, accountId, isAdmin: d.admins.has(cred.principalArn) };
}

/** `AttestedPackSimulator.SetFaults` / `.GetFaults`: runtime fault control for the administrator; never faulted itself. */
async function adminOperation(d: AppDeps, request: FastifyRequest, reply: FastifyReply, target: string): Promise<FastifyReply> {
  try {
    const event = newAuditEvent({ eventName: target, region: d.sim.region, accountId: d.sim.accountId, requestId: '', sourceIp: request.ip, userAgent: '', at: d.sim.now(), readOnly: false });
    const caller = await authenticateCaller(d, request, event);
    if (!caller.isAdmin) throw new KmsApiError('AccessDeniedException', `User: ${caller.arn} is not authorized to perform: ${target}`);
    const input = Input.fromBody(bodyOf(request));
    if (target === 'AttestedPackSimulator.SetFaults') {
      const f = {
        latencyMs: input.int('LatencyMs', { min: 0, max: 3_600_000 }),
        throttleEveryN: input.int('ThrottleEveryN', { min: 0, max: 1_000_000 }),
        failEveryN: input.int('FailEveryN', { min: 0, max: 1_000_000 }),
        stall: input.bool('Stall'),
      };
      d.faults.set(Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)) as KmsFaults);
    } else if (target !== 'AttestedPackSimulator.GetFaults') {
      throw new KmsApiError('UnknownOperationException', `Unknown operation ${target}`);
    }
    const f = d.faults.get();
    return sendJson(reply, 200, { Faults: { LatencyMs: f.latencyMs, ThrottleEveryN: f.throttleEveryN, FailEveryN: f.failEveryN, Stall: f.stall } });
  } catch (err) {
    return sendError(reply, toApiError(err));
  }
}

/** Holds the request open until the simulator closes; then drops the connection without an answer. */
async function stall(d: AppDeps, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  reply.hijack();
  await new Promise<void>((resolve) => {
    const release = () => {
      d.stalled.delete(release);
      resolve();
    };
    d.stalled.add(release);
    // The connection's close (client gave up), not the request's (which fires once the body is read).
    request.raw.socket.once('close', release);
  });
  request.raw.socket.destroy();
}

function checkContentType(request: FastifyRequest): void {
  const ct = (headerOf(request, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct !== 'application/x-amz-json-1.1' && ct !== 'application/x-amz-json-1.0' && ct !== 'application/json') {
    throw new KmsApiError('SerializationException', `Content-Type ${JSON.stringify(ct)} is not supported; use application/x-amz-json-1.1`);
  }
}

function toApiError(err: unknown): KmsApiError {
  if (err instanceof KmsApiError) return err;
  if (isAttestedPackError(err) && err.code === 'KMS_SIM_STATE_WRITE_FAILED') {
    return new KmsApiError('KMSInternalException', 'The simulator could not persist its state', 500);
  }
  return new KmsApiError('KMSInternalException', 'An internal error occurred', 500);
}

function sendJson(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  // A Buffer, so fastify does not append "; charset=utf-8" (KMS sends the bare media type).
  return reply.code(status).header('content-type', 'application/x-amz-json-1.1').send(Buffer.from(JSON.stringify(body), 'utf8'));
}

function sendError(reply: FastifyReply, err: KmsApiError): FastifyReply {
  return sendJson(reply, err.status, err.toBody());
}

function bodyOf(request: FastifyRequest): Buffer {
  return Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
}

function headerOf(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function identityType(arn: string): 'IAMUser' | 'AssumedRole' | 'Root' | 'Unknown' {
  if (/:assumed-role\//.test(arn) || /:role\//.test(arn)) return 'AssumedRole';
  if (/:user\//.test(arn)) return 'IAMUser';
  if (/:root$/.test(arn)) return 'Root';
  return 'Unknown';
}
