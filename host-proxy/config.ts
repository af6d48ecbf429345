/**
 * The host proxy's configuration: a YAML file (`attested-pack host-proxy --config proxy.yaml`)
 * plus environment overrides, validated strictly. Every error names the offending path
 * (`auth.tokens[1].sha256: expected 64 hex characters`) and, for overrides, the variable.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { parseDocument } from 'yaml';
import { ConfigError, isAttestedPackError } from '../common/errors.js';
import { parseTransportUrl } from '../vsock/index.js';

/** A static bearer token, stored as the SHA-256 of the token, and what it may pack. */
export interface TokenRule {
  /** Principal name: becomes `requestedBy` in the receipt. */
  name: string;
  /** Lower-case hex SHA-256 of the token bytes (UTF-8). */
  sha256: string;
  identities: string[];
  environments: string[];
  /**
   * Repositories the caller may name in its request: required, `['*']` (written `repositories: "*"`)
   * when the token may name any repository — an explicit choice, never a default.
   */
  repositories: string[];
}

/** One allowlist entry for GitHub Actions OIDC callers. */
export interface OidcAllowRule {
  /** `repository` claim, `owner/name`. */
  repository: string;
  /** Accepted `ref` claims (e.g. `refs/heads/main`); absent → any ref. */
  refs?: string[];
  /** Accepted GitHub deployment `environment` claims; absent → any (including none). */
  githubEnvironments?: string[];
  /** The `repository_id` claim (GitHub's numeric id: stable across renames, never reused). */
  repositoryId: string;
  /** The `repository_owner_id` claim, when the operator pins the owner too. */
  repositoryOwnerId?: string;
  /** Accepted `event_name` claims; default DEFAULT_OIDC_EVENT_NAMES (no pull_request_target). */
  eventNames: string[];
  /** Accepted `job_workflow_ref` claims (e.g. `org/repo/.github/workflows/pack.yml@refs/heads/main`); absent → any. */
  jobWorkflowRefs?: string[];
  /** Opt-out: the pack's commit need not equal the token's `sha` claim (default false). */
  anyCommit: boolean;
  /** Clef service identities this repository may pack (`*` = all). */
  identities: string[];
  /** Clef environments this repository may pack (`*` = all). */
  environments: string[];
}

/**
 * Events a GitHub OIDC rule accepts when it names none: runs of the repository's own code on
 * its own refs. Not `pull_request_target` / `workflow_run` (they run with the base repository's
 * token on behalf of code or events from forks), not `pull_request`.
 */
export const DEFAULT_OIDC_EVENT_NAMES: readonly string[] = Object.freeze(['push', 'workflow_dispatch', 'schedule', 'release']);

/** GitHub Actions OIDC verification settings. */
export interface GithubOidcConfig {
  issuer: string;
  audience: string;
  /** Exactly one of jwksUrl / jwksFile. */
  jwksUrl?: string;
  jwksFile?: string;
  clockToleranceSeconds: number;
  allow: OidcAllowRule[];
}

/** Where the parent role's AWS credentials come from. */
export type CredentialsConfig =
  | { source: 'none' }
  | { source: 'imds' | 'chain'; region: string }
  | { source: 'static'; region: string; accessKeyId: string; secretAccessKey: string; sessionToken?: string };

/** The KMS egress relay (what AWS's vsock-proxy does). */
export interface RelayConfig {
  /** Listener URL: `vsock://ANY:8000` by default (what the enclave dials as CID 3 port 8000), or `unix://` / `tcp://` for tests. */
  listen: string;
  /** The one upstream `host:port` this listener forwards to. */
  upstream: string;
  /** Upstreams that may be configured at all (checked at start). */
  allowlist: string[];
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** The validated configuration the server is built from. */
export interface ProxyConfig {
  listen: { host: string; port: number };
  tls?: { certFile: string; keyFile: string };
  /** Allows running without auth, on a loopback address only (`--insecure-local`). */
  insecureLocal: boolean;
  enclave: {
    /** Transport URL of the enclave: `vsock://CID:PORT`, `unix:///path.sock`, `tcp://127.0.0.1:PORT`. */
    url: string;
    /** Enclave requests in flight at once. */
    concurrency: number;
    /** Requests waiting for a slot before the proxy answers 503. */
    queueSize: number;
    packTimeoutMs: number;
    attestTimeoutMs: number;
    healthTimeoutMs: number;
  };
  limits: {
    bodyLimitBytes: number;
    rateLimit: { requestsPerMinute: number; burst: number };
    /** Whole-request deadline (queue wait + enclave call). */
    requestTimeoutMs: number;
    /** `Retry-After` sent with 503 answers. */
    retryAfterSeconds: number;
    /** A connection must have sent its complete request headers within this (node `headersTimeout`). */
    headersTimeoutMs: number;
    /** …and its complete body within this, counted from the start (node `requestTimeout`). */
    receiveTimeoutMs: number;
    /** Open connections at once; more are closed on accept (node `maxConnections`). */
    maxConnections: number;
  };
  auth: { tokens: TokenRule[]; githubOidc?: GithubOidcConfig };
  credentials: CredentialsConfig;
  relay?: RelayConfig;
  /** `sealedKeyFile`: sent to the enclave (`unseal`) on every new connection, enabling `signing: sealed`. */
  signing?: { sealedKeyFile: string };
  log: { level: LogLevel };
}

/** Environment variables that override the file (documented in README "Host proxy"). */
export const ENV_OVERRIDES = {
  ATTESTED_PACK_PROXY_LISTEN: 'listen',
  ATTESTED_PACK_PROXY_ENCLAVE_URL: 'enclave.url',
  ATTESTED_PACK_PROXY_CONCURRENCY: 'enclave.concurrency',
  ATTESTED_PACK_PROXY_QUEUE_SIZE: 'enclave.queueSize',
  ATTESTED_PACK_PROXY_BODY_LIMIT: 'limits.bodyLimitBytes',
  ATTESTED_PACK_PROXY_LOG_LEVEL: 'log.level',
  ATTESTED_PACK_PROXY_CREDENTIALS: 'credentials.source',
  ATTESTED_PACK_PROXY_REGION: 'credentials.region',
  ATTESTED_PACK_PROXY_RELAY_LISTEN: 'relay.listen',
  ATTESTED_PACK_PROXY_RELAY_UPSTREAM: 'relay.upstream',
} as const;

const NUMERIC_OVERRIDES = new Set<string>(['enclave.concurrency', 'enclave.queueSize', 'limits.bodyLimitBytes']);

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const HEX64 = /^[0-9a-f]{64}$/;
const IDENTITY_OR_STAR = /^(\*|[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)$/;
const ENVIRONMENT_OR_STAR = /^(\*|[a-z][a-z0-9_-]*)$/;
const REPOSITORY = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
/** KMS endpoints the relay may forward to in production (regional, FIPS, China partition). */
const KMS_HOST = /^kms(-fips)?\.[a-z]{2}(-[a-z]+)+-\d+\.amazonaws\.com(\.cn)?$/;

type Raw = Record<string, unknown>;

/** Walks the raw document, naming paths (and override variables) in every error. */
class Reader {
  constructor(
    private readonly source: string,
    private readonly overridden: Map<string, string>,
  ) {}

  fail(path: string, message: string, hint?: string): never {
    const from = this.overridden.get(path);
    const where = from === undefined ? path : `${path} (from ${from})`;
    throw new ConfigError('PROXY_CONFIG_INVALID', `${where}: ${message} (in ${this.source})`, {
      hint: hint ?? 'fix the value; see README "Host proxy" for every setting and its default',
      details: { path, source: from ?? this.source },
    });
  }

  object(v: unknown, path: string, allowed: readonly string[]): Raw {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(path || '(top level)', 'expected a mapping');
    for (const k of Object.keys(v)) {
      if (!allowed.includes(k)) this.fail(join(path, k), `unknown key (expected one of: ${allowed.join(', ')})`);
    }
    return v as Raw;
  }

  optObject(v: unknown, path: string, allowed: readonly string[]): Raw | undefined {
    return v === undefined || v === null ? undefined : this.object(v, path, allowed);
  }

  string(v: unknown, path: string, check?: { re: RegExp; expected: string }): string {
    if (typeof v !== 'string' || v.length === 0) this.fail(path, 'expected a non-empty string');
    if (check && !check.re.test(v)) this.fail(path, `expected ${check.expected}`);
    return v;
  }

  optString(v: unknown, path: string, check?: { re: RegExp; expected: string }): string | undefined {
    return v === undefined || v === null ? undefined : this.string(v, path, check);
  }

  int(v: unknown, path: string, dflt: number, min: number, max: number): number {
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(path, 'expected a whole number');
    if (v < min || v > max) this.fail(path, `expected a number between ${min} and ${max}, got ${v}`);
    return v;
  }

  bool(v: unknown, path: string, dflt: boolean): boolean {
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') this.fail(path, 'expected true or false');
    return v;
  }

  list(v: unknown, path: string, opts: { nonEmpty?: boolean } = {}): unknown[] {
    if (!Array.isArray(v)) this.fail(path, 'expected a list');
    if (opts.nonEmpty && v.length === 0) this.fail(path, 'expected at least one entry');
    return v;
  }

  stringList(v: unknown, path: string, check: { re: RegExp; expected: string }): string[] {
    return this.list(v, path, { nonEmpty: true }).map((x, i) => this.string(x, `${path}[${i}]`, check));
  }

  optStringList(v: unknown, path: string, check: { re: RegExp; expected: string }): string[] | undefined {
    return v === undefined || v === null ? undefined : this.stringList(v, path, check);
  }

  /** A transport URL as vsock/ parses it (`vsock://CID:PORT`, `unix:///…`, `tcp://127.0.0.1:PORT`). */
  optTransportUrl(v: unknown, path: string): string | undefined {
    const url = this.optString(v, path);
    if (url === undefined) return undefined;
    try {
      parseTransportUrl(url);
    } catch (err) {
      this.fail(path, isAttestedPackError(err) ? err.message : 'not a transport URL', 'use vsock://CID:PORT, unix:///path.sock or tcp://127.0.0.1:PORT');
    }
    return url;
  }
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** True for addresses that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1';
  return false;
}

/** Parses `host:port` or `[v6]:port` (port 0 = any free port, only with `allowZero`). */
export function parseHostPort(text: string, allowZero = false): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < (allowZero ? 0 : 1) || port > 65535) return undefined;
  return { host: m[1] ?? m[2] ?? '', port };
}

function isKmsUpstream(hostPort: string): boolean {
  const hp = parseHostPort(hostPort);
  return hp !== undefined && hp.port === 443 && KMS_HOST.test(hp.host);
}

function isLoopbackUpstream(hostPort: string): boolean {
  const hp = parseHostPort(hostPort);
  return hp !== undefined && isLoopbackHost(hp.host);
}

/** Copies environment overrides into the raw document, remembering where each value came from. */
function applyEnv(raw: Raw, env: NodeJS.ProcessEnv, overridden: Map<string, string>, source: string): void {
  for (const [name, path] of Object.entries(ENV_OVERRIDES)) {
    const text = env[name];
    if (text === undefined || text === '') continue;
    let value: unknown = text;
    if (NUMERIC_OVERRIDES.has(path)) {
      if (!/^\d+$/.test(text)) {
        throw new ConfigError('PROXY_CONFIG_INVALID', `${path} (from ${name}): expected a whole number, got ${JSON.stringify(text)} (in ${source})`);
      }
      value = Number(text);
    }
    const keys = path.split('.');
    let node: Raw = raw;
    for (const k of keys.slice(0, -1)) {
      const next = node[k];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) node[k] = {};
      node = node[k] as Raw;
    }
    node[keys[keys.length - 1]] = value;
    overridden.set(path, name);
  }
}

/**
 * Validates a parsed configuration document (plus environment overrides) into a `ProxyConfig`.
 * `insecureLocal` is the `--insecure-local` flag: it never comes from the file.
 */
export function parseProxyConfig(
  doc: unknown,
  options: { env?: NodeJS.ProcessEnv; source?: string; insecureLocal?: boolean } = {},
): ProxyConfig {
  const source = options.source ?? 'configuration';
  const overridden = new Map<string, string>();
  const r = new Reader(source, overridden);
  const raw: Raw = doc === undefined || doc === null ? {} : structuredClone(r.object(doc, '', TOP_KEYS));
  applyEnv(raw, options.env ?? {}, overridden, source);
  const insecureLocal = options.insecureLocal ?? false;

  const listenText = r.optString(raw.listen, 'listen') ?? '127.0.0.1:8443';
  const listen = parseHostPort(listenText, true) ?? r.fail('listen', 'expected host:port, e.g. 0.0.0.0:8443');

  const tlsRaw = r.optObject(raw.tls, 'tls', ['certFile', 'keyFile']);
  const tls = tlsRaw && { certFile: r.string(tlsRaw.certFile, 'tls.certFile'), keyFile: r.string(tlsRaw.keyFile, 'tls.keyFile') };

  const e = r.optObject(raw.enclave, 'enclave', ENCLAVE_KEYS) ?? {};
  const enclave = {
    url: r.optTransportUrl(e.url, 'enclave.url') ?? 'vsock://16:5000',
    concurrency: r.int(e.concurrency, 'enclave.concurrency', 2, 1, 256),
    queueSize: r.int(e.queueSize, 'enclave.queueSize', 16, 0, 100_000),
    packTimeoutMs: 1000 * r.int(e.packTimeoutSeconds, 'enclave.packTimeoutSeconds', 120, 1, 3600),
    attestTimeoutMs: 1000 * r.int(e.attestTimeoutSeconds, 'enclave.attestTimeoutSeconds', 10, 1, 600),
    healthTimeoutMs: 1000 * r.int(e.healthTimeoutSeconds, 'enclave.healthTimeoutSeconds', 5, 1, 600),
  };

  const l = r.optObject(raw.limits, 'limits', LIMITS_KEYS) ?? {};
  const rl = r.optObject(l.rateLimit, 'limits.rateLimit', ['requestsPerMinute', 'burst']) ?? {};
  const limits = {
    bodyLimitBytes: r.int(l.bodyLimitBytes, 'limits.bodyLimitBytes', 10 * 1024 * 1024, 1024, 64 * 1024 * 1024),
    rateLimit: {
      requestsPerMinute: r.int(rl.requestsPerMinute, 'limits.rateLimit.requestsPerMinute', 60, 1, 1_000_000),
      burst: r.int(rl.burst, 'limits.rateLimit.burst', 10, 1, 1_000_000),
    },
    requestTimeoutMs: 1000 * r.int(l.requestTimeoutSeconds, 'limits.requestTimeoutSeconds', 180, 1, 7200),
    retryAfterSeconds: r.int(l.retryAfterSeconds, 'limits.retryAfterSeconds', 5, 1, 3600),
    headersTimeoutMs: 1000 * r.int(l.headersTimeoutSeconds, 'limits.headersTimeoutSeconds', 10, 1, 600),
    receiveTimeoutMs: 1000 * r.int(l.receiveTimeoutSeconds, 'limits.receiveTimeoutSeconds', 60, 1, 3600),
    maxConnections: r.int(l.maxConnections, 'limits.maxConnections', 256, 1, 100_000),
  };
  if (limits.headersTimeoutMs > limits.receiveTimeoutMs) {
    r.fail('limits.headersTimeoutSeconds', `expected at most limits.receiveTimeoutSeconds (${limits.receiveTimeoutMs / 1000})`);
  }

  const auth = parseAuth(r, raw.auth);
  const credentials = parseCredentials(r, raw.credentials);
  const relay = parseRelay(r, raw.relay, credentials, insecureLocal);

  const signingRaw = r.optObject(raw.signing, 'signing', ['sealedKeyFile']);
  const sealedKeyFile = signingRaw && r.string(signingRaw.sealedKeyFile, 'signing.sealedKeyFile');

  const logRaw = r.optObject(raw.log, 'log', ['level']) ?? {};
  const level = (r.optString(logRaw.level, 'log.level') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(level)) r.fail('log.level', `expected one of ${LOG_LEVELS.join(', ')}`);

  const config: ProxyConfig = { listen, insecureLocal, enclave, limits, auth, credentials, log: { level } };
  if (tls) config.tls = tls;
  if (relay) config.relay = relay;
  if (sealedKeyFile) config.signing = { sealedKeyFile };
  checkAuthPosture(config, source);
  return config;
}

const TOP_KEYS = ['listen', 'tls', 'enclave', 'limits', 'auth', 'credentials', 'relay', 'signing', 'log'] as const;
const ENCLAVE_KEYS = ['url', 'concurrency', 'queueSize', 'packTimeoutSeconds', 'attestTimeoutSeconds', 'healthTimeoutSeconds'] as const;
const LIMITS_KEYS = ['bodyLimitBytes', 'rateLimit', 'requestTimeoutSeconds', 'retryAfterSeconds', 'headersTimeoutSeconds', 'receiveTimeoutSeconds', 'maxConnections'] as const;

function parseAuth(r: Reader, v: unknown): ProxyConfig['auth'] {
  const a = r.optObject(v, 'auth', ['tokens', 'githubOidc']) ?? {};
  const idCheck = { re: IDENTITY_OR_STAR, expected: 'a service identity name or *' };
  const envCheck = { re: ENVIRONMENT_OR_STAR, expected: 'an environment name or *' };
  const repoCheck = { re: REPOSITORY, expected: 'owner/name' };
  const tokens: TokenRule[] = (a.tokens === undefined || a.tokens === null ? [] : r.list(a.tokens, 'auth.tokens')).map((t, i) => {
    const p = `auth.tokens[${i}]`;
    const o = r.object(t, p, ['name', 'sha256', 'identities', 'environments', 'repositories']);
    if (o.repositories === undefined || o.repositories === null) {
      r.fail(`${p}.repositories`, 'missing: say which repositories this token may name', 'list them (owner/name), or write repositories: "*" to let the token name any repository');
    }
    return {
      name: r.string(o.name, `${p}.name`, { re: /^[A-Za-z0-9_.:@/-]{1,128}$/, expected: 'a name of letters, digits and _.:@/- (at most 128)' }),
      sha256: r.string(o.sha256, `${p}.sha256`, { re: HEX64, expected: '64 hex characters' }),
      identities: r.stringList(o.identities, `${p}.identities`, idCheck),
      environments: r.stringList(o.environments, `${p}.environments`, envCheck),
      repositories: o.repositories === '*' ? ['*'] : r.stringList(o.repositories, `${p}.repositories`, { re: /^(?:[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+|\*)$/, expected: 'owner/name (or "*" for any)' }),
    };
  });
  const seen = new Set<string>();
  tokens.forEach((t, i) => {
    if (seen.has(t.name)) r.fail(`auth.tokens[${i}].name`, `duplicate token name ${JSON.stringify(t.name)}`);
    seen.add(t.name);
  });

  const g = r.optObject(a.githubOidc, 'auth.githubOidc', ['issuer', 'audience', 'jwksUrl', 'jwksFile', 'clockToleranceSeconds', 'allow']);
  if (!g) return { tokens };
  const githubOidc: GithubOidcConfig = {
    issuer: r.optString(g.issuer, 'auth.githubOidc.issuer') ?? 'https://token.actions.githubusercontent.com',
    audience: r.string(g.audience, 'auth.githubOidc.audience'),
    clockToleranceSeconds: r.int(g.clockToleranceSeconds, 'auth.githubOidc.clockToleranceSeconds', 30, 0, 600),
    allow: r.list(g.allow, 'auth.githubOidc.allow', { nonEmpty: true }).map((x, i) => {
      const p = `auth.githubOidc.allow[${i}]`;
      const o = r.object(x, p, ['repository', 'repositoryId', 'repositoryOwnerId', 'refs', 'githubEnvironments', 'eventNames', 'jobWorkflowRefs', 'anyCommit', 'identities', 'environments']);
      const numericId = { re: /^[1-9][0-9]{0,19}$/, expected: "GitHub's numeric id as a string, e.g. \"123456789\"" };
      const rule: OidcAllowRule = {
        repository: r.string(o.repository, `${p}.repository`, repoCheck),
        repositoryId: o.repositoryId === undefined || o.repositoryId === null
          ? r.fail(`${p}.repositoryId`, 'missing: a repository name can be deleted and registered again by someone else; its numeric id cannot', 'gh api repos/OWNER/NAME --jq .id (write it as a string)')
          : r.string(typeof o.repositoryId === 'number' ? String(o.repositoryId) : o.repositoryId, `${p}.repositoryId`, numericId),
        eventNames: r.optStringList(o.eventNames, `${p}.eventNames`, { re: /^[a-z_]{1,64}$/, expected: 'a GitHub event name such as push' }) ?? [...DEFAULT_OIDC_EVENT_NAMES],
        anyCommit: r.bool(o.anyCommit, `${p}.anyCommit`, false),
        identities: r.stringList(o.identities, `${p}.identities`, idCheck),
        environments: r.stringList(o.environments, `${p}.environments`, envCheck),
      };
      const ownerId = o.repositoryOwnerId === undefined || o.repositoryOwnerId === null ? undefined : r.string(typeof o.repositoryOwnerId === 'number' ? String(o.repositoryOwnerId) : o.repositoryOwnerId, `${p}.repositoryOwnerId`, numericId);
      if (ownerId) rule.repositoryOwnerId = ownerId;
      const workflows = r.optStringList(o.jobWorkflowRefs, `${p}.jobWorkflowRefs`, { re: /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/\S+@\S+$/, expected: 'owner/repo/path/to/workflow.yml@ref' });
      if (workflows) rule.jobWorkflowRefs = workflows;
      const refs = r.optStringList(o.refs, `${p}.refs`, { re: /^refs\/\S+$/, expected: 'a full ref such as refs/heads/main' });
      if (refs) rule.refs = refs;
      const ghEnvs = r.optStringList(o.githubEnvironments, `${p}.githubEnvironments`, { re: /^\S+$/, expected: 'a GitHub environment name' });
      if (ghEnvs) rule.githubEnvironments = ghEnvs;
      return rule;
    }),
  };
  const jwksUrl = r.optString(g.jwksUrl, 'auth.githubOidc.jwksUrl', { re: /^https?:\/\/\S+$/, expected: 'an http(s) URL' });
  const jwksFile = r.optString(g.jwksFile, 'auth.githubOidc.jwksFile');
  if ((jwksUrl === undefined) === (jwksFile === undefined)) {
    r.fail('auth.githubOidc', 'set exactly one of jwksUrl or jwksFile', 'GitHub publishes its keys at https://token.actions.githubusercontent.com/.well-known/jwks');
  }
  if (jwksUrl) {
    if (jwksUrl.startsWith('http://') && !isLoopbackHost(new URL(jwksUrl).hostname.replace(/^\[|\]$/g, ''))) {
      r.fail('auth.githubOidc.jwksUrl', 'expected an https URL (plain http is allowed only for loopback test servers)');
    }
    githubOidc.jwksUrl = jwksUrl;
  }
  if (jwksFile) githubOidc.jwksFile = jwksFile;
  return { tokens, githubOidc };
}

function parseCredentials(r: Reader, v: unknown): CredentialsConfig {
  const c = r.optObject(v, 'credentials', ['source', 'region', 'accessKeyId', 'secretAccessKey', 'sessionToken']) ?? {};
  const src = r.optString(c.source, 'credentials.source') ?? 'none';
  const region = (): string => r.string(c.region, 'credentials.region', { re: REGION, expected: 'an AWS region such as us-east-1' });
  switch (src) {
    case 'none':
      return { source: 'none' };
    case 'imds':
    case 'chain':
      return { source: src, region: region() };
    case 'static': {
      const s: CredentialsConfig = {
        source: 'static',
        region: region(),
        accessKeyId: r.string(c.accessKeyId, 'credentials.accessKeyId'),
        secretAccessKey: r.string(c.secretAccessKey, 'credentials.secretAccessKey'),
      };
      const token = r.optString(c.sessionToken, 'credentials.sessionToken');
      if (token) s.sessionToken = token;
      return s;
    }
    default:
      return r.fail('credentials.source', 'expected one of none, imds, chain, static');
  }
}

function parseRelay(r: Reader, v: unknown, credentials: CredentialsConfig, insecureLocal: boolean): RelayConfig | undefined {
  const o = r.optObject(v, 'relay', ['listen', 'upstream', 'allowlist']);
  if (!o) return undefined;
  const region = credentials.source === 'none' ? undefined : credentials.region;
  const listen = r.optTransportUrl(o.listen, 'relay.listen') ?? 'vsock://ANY:8000';
  const upstream =
    r.optString(o.upstream, 'relay.upstream') ??
    (region ? `kms.${region}.amazonaws.com:443` : r.fail('relay.upstream', 'expected host:443 (or set credentials.region to default to kms.<region>.amazonaws.com:443)'));
  const allowlist = r.optStringList(o.allowlist, 'relay.allowlist', { re: /^\S+:\d+$/, expected: 'host:port' }) ?? [upstream];
  allowlist.forEach((entry, i) => {
    if (isKmsUpstream(entry)) return;
    if (insecureLocal && isLoopbackUpstream(entry)) return;
    r.fail(
      `relay.allowlist[${i}]`,
      `${entry} is not an AWS KMS endpoint (expected kms.<region>.amazonaws.com:443)`,
      'the relay forwards only to KMS; loopback upstreams are accepted only with --insecure-local (simulation)',
    );
  });
  if (!allowlist.includes(upstream)) r.fail('relay.upstream', `${upstream} is not in relay.allowlist`);
  return { listen, upstream, allowlist };
}

/** Refuses an unauthenticated proxy unless it is explicitly local. */
function checkAuthPosture(config: ProxyConfig, source: string): void {
  const hasAuth = config.auth.tokens.length > 0 || config.auth.githubOidc !== undefined;
  if (hasAuth) return;
  if (!config.insecureLocal) {
    throw new ConfigError('PROXY_NO_AUTH', `no authentication is configured (in ${source}): refusing to start`, {
      hint: 'configure auth.tokens or auth.githubOidc, or pass --insecure-local to run unauthenticated on a loopback address',
    });
  }
  if (!isLoopbackHost(config.listen.host)) {
    throw new ConfigError('PROXY_NO_AUTH', `--insecure-local allows only a loopback listen address, got ${config.listen.host}`, {
      hint: 'listen on 127.0.0.1 (or ::1), or configure authentication',
    });
  }
}

/** Reads, parses and validates a YAML configuration file (or none: defaults + environment). */
export async function loadProxyConfig(
  path: string | undefined,
  options: { env?: NodeJS.ProcessEnv; insecureLocal?: boolean } = {},
): Promise<ProxyConfig> {
  if (path === undefined) return parseProxyConfig(undefined, { ...options, source: 'defaults and environment' });
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError('PROXY_CONFIG_UNREADABLE', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'read failed'}`, {
      hint: 'pass the path of an existing proxy.yaml with --config',
    });
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    const line = first.linePos?.[0]?.line;
    throw new ConfigError('PROXY_CONFIG_INVALID', `${path}${line ? `:${line}` : ''}: not valid YAML (${first.code})`, {
      hint: 'fix the YAML syntax at that line',
    });
  }
  return parseProxyConfig(doc.toJS(), { ...options, source: path });
}
