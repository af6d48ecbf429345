/**
 * The host proxy's configuration: a YAML file (`attested-pack host-proxy --config proxy.yaml`)
 * plus environment overrides, validated strictly against the schema in config-schema.ts (keys,
 * defaults, bounds, patterns, overrides — the same schema docs/reference.md is generated from).
 * Every error names the offending path (`auth.tokens[1].sha256: expected 64 hex characters`)
 * and, for overrides, the variable.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { parseDocument } from 'yaml';
import { ConfigError, isAttestedPackError } from '../common/errors.js';
import { parseTransportUrl } from '../vsock/index.js';
import { PROXY_CONFIG_SCHEMA, childKeys, configKey, envOverrides, type ConfigPath } from './config-schema.js';

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
export const DEFAULT_OIDC_EVENT_NAMES: readonly string[] = Object.freeze([...PROXY_CONFIG_SCHEMA['auth.githubOidc.allow[].eventNames'].default]);

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

/** Environment variables that override the file (from the schema; listed in docs/reference.md). */
export const ENV_OVERRIDES: Readonly<Record<string, ConfigPath>> = Object.freeze(envOverrides());

const LOG_LEVELS: readonly string[] = PROXY_CONFIG_SCHEMA['log.level'].values;
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
      hint: hint ?? 'fix the value; docs/reference.md#host-proxy-configuration lists every key, its default and bounds',
      details: { path, source: from ?? this.source },
    });
  }

  /** A mapping at `path` whose keys are those the schema lists under `spec` (`auth.tokens[]` for list entries). */
  mapping(v: unknown, spec: string, path = spec): Raw {
    return this.object(v, path, childKeys(spec));
  }

  optMapping(v: unknown, spec: ConfigPath, path: string = spec): Raw | undefined {
    return v === undefined || v === null ? undefined : this.mapping(v, spec, path);
  }

  /** An integer with the schema's default and bounds. */
  intAt(v: unknown, spec: ConfigPath, path: string = spec): number {
    const k = configKey(spec);
    return this.int(v, path, k.default as number, k.min!, k.max!);
  }

  /** A required string, checked against the schema's pattern when it has one. */
  stringAt(v: unknown, spec: ConfigPath, path: string = spec): string {
    return this.string(v, path, patternOf(spec));
  }

  optStringAt(v: unknown, spec: ConfigPath, path: string = spec): string | undefined {
    return v === undefined || v === null ? undefined : this.stringAt(v, spec, path);
  }

  stringListAt(v: unknown, spec: ConfigPath, path: string = spec): string[] {
    return this.stringList(v, path, patternOf(spec)!);
  }

  optStringListAt(v: unknown, spec: ConfigPath, path: string = spec): string[] | undefined {
    return v === undefined || v === null ? undefined : this.stringListAt(v, spec, path);
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

function patternOf(spec: ConfigPath): { re: RegExp; expected: string } | undefined {
  const k = configKey(spec);
  return k.pattern === undefined ? undefined : { re: k.pattern, expected: k.expected ?? k.pattern.source };
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
    if (configKey(path).type === 'integer') {
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
  const raw: Raw = doc === undefined || doc === null ? {} : structuredClone(r.mapping(doc, '', ''));
  applyEnv(raw, options.env ?? {}, overridden, source);
  const insecureLocal = options.insecureLocal ?? false;

  const listenText = r.optString(raw.listen, 'listen') ?? PROXY_CONFIG_SCHEMA.listen.default;
  const listen = parseHostPort(listenText, true) ?? r.fail('listen', 'expected host:port, e.g. 0.0.0.0:8443');

  const tlsRaw = r.optMapping(raw.tls, 'tls');
  const tls = tlsRaw && { certFile: r.stringAt(tlsRaw.certFile, 'tls.certFile'), keyFile: r.stringAt(tlsRaw.keyFile, 'tls.keyFile') };

  const e = r.optMapping(raw.enclave, 'enclave') ?? {};
  const enclave = {
    url: r.optTransportUrl(e.url, 'enclave.url') ?? PROXY_CONFIG_SCHEMA['enclave.url'].default,
    concurrency: r.intAt(e.concurrency, 'enclave.concurrency'),
    queueSize: r.intAt(e.queueSize, 'enclave.queueSize'),
    packTimeoutMs: 1000 * r.intAt(e.packTimeoutSeconds, 'enclave.packTimeoutSeconds'),
    attestTimeoutMs: 1000 * r.intAt(e.attestTimeoutSeconds, 'enclave.attestTimeoutSeconds'),
    healthTimeoutMs: 1000 * r.intAt(e.healthTimeoutSeconds, 'enclave.healthTimeoutSeconds'),
  };

  const l = r.optMapping(raw.limits, 'limits') ?? {};
  const rl = r.optMapping(l.rateLimit, 'limits.rateLimit') ?? {};
  const limits = {
    bodyLimitBytes: r.intAt(l.bodyLimitBytes, 'limits.bodyLimitBytes'),
    rateLimit: {
      requestsPerMinute: r.intAt(rl.requestsPerMinute, 'limits.rateLimit.requestsPerMinute'),
      burst: r.intAt(rl.burst, 'limits.rateLimit.burst'),
    },
    requestTimeoutMs: 1000 * r.intAt(l.requestTimeoutSeconds, 'limits.requestTimeoutSeconds'),
    retryAfterSeconds: r.intAt(l.retryAfterSeconds, 'limits.retryAfterSeconds'),
    headersTimeoutMs: 1000 * r.intAt(l.headersTimeoutSeconds, 'limits.headersTimeoutSeconds'),
    receiveTimeoutMs: 1000 * r.intAt(l.receiveTimeoutSeconds, 'limits.receiveTimeoutSeconds'),
    maxConnections: r.intAt(l.maxConnections, 'limits.maxConnections'),
  };
  if (limits.headersTimeoutMs > limits.receiveTimeoutMs) {
    r.fail('limits.headersTimeoutSeconds', `expected at most limits.receiveTimeoutSeconds (${limits.receiveTimeoutMs / 1000})`);
  }

  const auth = parseAuth(r, raw.auth);
  const credentials = parseCredentials(r, raw.credentials);
  const relay = parseRelay(r, raw.relay, credentials, insecureLocal);

  const signingRaw = r.optMapping(raw.signing, 'signing');
  const sealedKeyFile = signingRaw && r.stringAt(signingRaw.sealedKeyFile, 'signing.sealedKeyFile');

  const logRaw = r.optMapping(raw.log, 'log') ?? {};
  const level = (r.optString(logRaw.level, 'log.level') ?? PROXY_CONFIG_SCHEMA['log.level'].default) as LogLevel;
  if (!LOG_LEVELS.includes(level)) r.fail('log.level', `expected one of ${LOG_LEVELS.join(', ')}`);

  const config: ProxyConfig = { listen, insecureLocal, enclave, limits, auth, credentials, log: { level } };
  if (tls) config.tls = tls;
  if (relay) config.relay = relay;
  if (sealedKeyFile) config.signing = { sealedKeyFile };
  checkAuthPosture(config, source);
  return config;
}

function parseAuth(r: Reader, v: unknown): ProxyConfig['auth'] {
  const a = r.optMapping(v, 'auth') ?? {};
  const tokens: TokenRule[] = (a.tokens === undefined || a.tokens === null ? [] : r.list(a.tokens, 'auth.tokens')).map((t, i) => {
    const p = `auth.tokens[${i}]`;
    const o = r.mapping(t, 'auth.tokens[]', p);
    if (o.repositories === undefined || o.repositories === null) {
      r.fail(`${p}.repositories`, 'missing: say which repositories this token may name', 'list them (owner/name), or write repositories: "*" to let the token name any repository');
    }
    return {
      name: r.stringAt(o.name, 'auth.tokens[].name', `${p}.name`),
      sha256: r.stringAt(o.sha256, 'auth.tokens[].sha256', `${p}.sha256`),
      identities: r.stringListAt(o.identities, 'auth.tokens[].identities', `${p}.identities`),
      environments: r.stringListAt(o.environments, 'auth.tokens[].environments', `${p}.environments`),
      repositories: o.repositories === '*' ? ['*'] : r.stringListAt(o.repositories, 'auth.tokens[].repositories', `${p}.repositories`),
    };
  });
  const seen = new Set<string>();
  tokens.forEach((t, i) => {
    if (seen.has(t.name)) r.fail(`auth.tokens[${i}].name`, `duplicate token name ${JSON.stringify(t.name)}`);
    seen.add(t.name);
  });

  const g = r.optMapping(a.githubOidc, 'auth.githubOidc');
  if (!g) return { tokens };
  const githubOidc: GithubOidcConfig = {
    issuer: r.optStringAt(g.issuer, 'auth.githubOidc.issuer') ?? PROXY_CONFIG_SCHEMA['auth.githubOidc.issuer'].default,
    audience: r.stringAt(g.audience, 'auth.githubOidc.audience'),
    clockToleranceSeconds: r.intAt(g.clockToleranceSeconds, 'auth.githubOidc.clockToleranceSeconds'),
    allow: r.list(g.allow, 'auth.githubOidc.allow', { nonEmpty: true }).map((x, i) => {
      const p = `auth.githubOidc.allow[${i}]`;
      const o = r.mapping(x, 'auth.githubOidc.allow[]', p);
      const numericId = (v: unknown, spec: 'auth.githubOidc.allow[].repositoryId' | 'auth.githubOidc.allow[].repositoryOwnerId', path: string): string =>
        r.stringAt(typeof v === 'number' ? String(v) : v, spec, path);
      const rule: OidcAllowRule = {
        repository: r.stringAt(o.repository, 'auth.githubOidc.allow[].repository', `${p}.repository`),
        repositoryId: o.repositoryId === undefined || o.repositoryId === null
          ? r.fail(`${p}.repositoryId`, 'missing: a repository name can be deleted and registered again by someone else; its numeric id cannot', 'gh api repos/OWNER/NAME --jq .id (write it as a string)')
          : numericId(o.repositoryId, 'auth.githubOidc.allow[].repositoryId', `${p}.repositoryId`),
        eventNames: r.optStringListAt(o.eventNames, 'auth.githubOidc.allow[].eventNames', `${p}.eventNames`) ?? [...DEFAULT_OIDC_EVENT_NAMES],
        anyCommit: r.bool(o.anyCommit, `${p}.anyCommit`, PROXY_CONFIG_SCHEMA['auth.githubOidc.allow[].anyCommit'].default),
        identities: r.stringListAt(o.identities, 'auth.githubOidc.allow[].identities', `${p}.identities`),
        environments: r.stringListAt(o.environments, 'auth.githubOidc.allow[].environments', `${p}.environments`),
      };
      const ownerId = o.repositoryOwnerId === undefined || o.repositoryOwnerId === null ? undefined : numericId(o.repositoryOwnerId, 'auth.githubOidc.allow[].repositoryOwnerId', `${p}.repositoryOwnerId`);
      if (ownerId) rule.repositoryOwnerId = ownerId;
      const workflows = r.optStringListAt(o.jobWorkflowRefs, 'auth.githubOidc.allow[].jobWorkflowRefs', `${p}.jobWorkflowRefs`);
      if (workflows) rule.jobWorkflowRefs = workflows;
      const refs = r.optStringListAt(o.refs, 'auth.githubOidc.allow[].refs', `${p}.refs`);
      if (refs) rule.refs = refs;
      const ghEnvs = r.optStringListAt(o.githubEnvironments, 'auth.githubOidc.allow[].githubEnvironments', `${p}.githubEnvironments`);
      if (ghEnvs) rule.githubEnvironments = ghEnvs;
      return rule;
    }),
  };
  const jwksUrl = r.optStringAt(g.jwksUrl, 'auth.githubOidc.jwksUrl');
  const jwksFile = r.optStringAt(g.jwksFile, 'auth.githubOidc.jwksFile');
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
  const c = r.optMapping(v, 'credentials') ?? {};
  const src = r.optString(c.source, 'credentials.source') ?? PROXY_CONFIG_SCHEMA['credentials.source'].default;
  const region = (): string => r.stringAt(c.region, 'credentials.region');
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
        accessKeyId: r.stringAt(c.accessKeyId, 'credentials.accessKeyId'),
        secretAccessKey: r.stringAt(c.secretAccessKey, 'credentials.secretAccessKey'),
      };
      const token = r.optStringAt(c.sessionToken, 'credentials.sessionToken');
      if (token) s.sessionToken = token;
      return s;
    }
    default:
      return r.fail('credentials.source', `expected one of ${PROXY_CONFIG_SCHEMA['credentials.source'].values.join(', ')}`);
  }
}

function parseRelay(r: Reader, v: unknown, credentials: CredentialsConfig, insecureLocal: boolean): RelayConfig | undefined {
  const o = r.optMapping(v, 'relay');
  if (!o) return undefined;
  const region = credentials.source === 'none' ? undefined : credentials.region;
  const listen = r.optTransportUrl(o.listen, 'relay.listen') ?? PROXY_CONFIG_SCHEMA['relay.listen'].default;
  const upstream =
    r.optString(o.upstream, 'relay.upstream') ??
    (region ? `kms.${region}.amazonaws.com:443` : r.fail('relay.upstream', 'expected host:443 (or set credentials.region to default to kms.<region>.amazonaws.com:443)'));
  const allowlist = r.optStringListAt(o.allowlist, 'relay.allowlist') ?? [upstream];
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
