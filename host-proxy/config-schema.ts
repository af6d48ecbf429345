/**
 * The host proxy's configuration schema: every key of proxy.yaml, its type, default, bounds,
 * pattern and environment override, declared once. `config.ts` validates with it (unknown keys,
 * defaults, ranges, patterns) and `npm run docs` renders it into docs/reference.md, so the
 * documentation cannot name a key, a default or a limit the code does not have.
 *
 * Paths use `.` between keys and `[]` for the entries of a list (`auth.tokens[].sha256`).
 * Rules that tie several keys together (exactly one of jwksUrl/jwksFile, relay upstream in its
 * allowlist, authentication required unless --insecure-local) live in `config.ts` and are
 * described in the `description` of the keys they concern.
 */

/** One key of the configuration. */
export interface ConfigKey {
  type: 'mapping' | 'string' | 'integer' | 'boolean' | 'enum' | 'list of strings' | 'list of mappings' | 'transport URL' | 'host:port';
  /** What it is for, in a sentence or two (rendered into the reference). */
  description: string;
  /** The value used when the key is absent; `defaultText` when it depends on other keys. */
  default?: string | number | boolean | readonly string[];
  defaultText?: string;
  /** `true`: must be present when its parent is; a string: when it must be present. */
  required?: true | string;
  /** Inclusive bounds of an integer. */
  min?: number;
  max?: number;
  /** The unit of an integer, for people (seconds, bytes…). */
  unit?: string;
  /** Accepted values of an enum. */
  values?: readonly string[];
  /** A pattern every value (or every entry of a list) must match, and how to say it. */
  pattern?: RegExp;
  expected?: string;
  /** The environment variable that overrides this key. */
  env?: string;
}

const IDENTITY_OR_STAR = { pattern: /^(\*|[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)$/, expected: 'a service identity name or *' };
const ENVIRONMENT_OR_STAR = { pattern: /^(\*|[a-z][a-z0-9_-]*)$/, expected: 'an environment name or *' };
const REPOSITORY = { pattern: /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, expected: 'owner/name' };
const NUMERIC_ID = { pattern: /^[1-9][0-9]{0,19}$/, expected: 'GitHub\'s numeric id as a string, e.g. "123456789"' };
const REGION = { pattern: /^[a-z]{2}(-[a-z]+)+-\d+$/, expected: 'an AWS region such as us-east-1' };

/** Every key of proxy.yaml, parents before children, in the order the reference lists them. */
export const PROXY_CONFIG_SCHEMA = {
  listen: {
    type: 'host:port',
    description: 'Address and port of the HTTP API CI runners call (port 0: any free port).',
    default: '127.0.0.1:8443',
    env: 'ATTESTED_PACK_PROXY_LISTEN',
  },
  tls: { type: 'mapping', description: 'Serve HTTPS with this certificate and key. Without `tls` the API is plain HTTP (terminate TLS in front of it).' },
  'tls.certFile': { type: 'string', description: 'PEM certificate chain file.', required: true },
  'tls.keyFile': { type: 'string', description: 'PEM private key file.', required: true },
  enclave: { type: 'mapping', description: 'The link to the enclave application.' },
  'enclave.url': {
    type: 'transport URL',
    description: 'Where the enclave listens: `vsock://CID:PORT` on a parent instance, `unix:///path.sock` or `tcp://127.0.0.1:PORT` in simulation.',
    default: 'vsock://16:5000',
    env: 'ATTESTED_PACK_PROXY_ENCLAVE_URL',
  },
  'enclave.concurrency': { type: 'integer', description: 'Enclave requests in flight at once.', default: 2, min: 1, max: 256, env: 'ATTESTED_PACK_PROXY_CONCURRENCY' },
  'enclave.queueSize': {
    type: 'integer',
    description: 'Requests waiting for a slot; beyond it the proxy answers 503 QUEUE_FULL.',
    default: 16,
    min: 0,
    max: 100_000,
    env: 'ATTESTED_PACK_PROXY_QUEUE_SIZE',
  },
  'enclave.packTimeoutSeconds': { type: 'integer', description: 'Deadline of one pack in the enclave.', default: 120, min: 1, max: 3600, unit: 'seconds' },
  'enclave.attestTimeoutSeconds': { type: 'integer', description: 'Deadline of one `attest` request (GET /v1/attestation).', default: 10, min: 1, max: 600, unit: 'seconds' },
  'enclave.healthTimeoutSeconds': { type: 'integer', description: 'Deadline of one `health` request (GET /readyz).', default: 5, min: 1, max: 600, unit: 'seconds' },
  limits: { type: 'mapping', description: 'Request limits of the HTTP API.' },
  'limits.bodyLimitBytes': {
    type: 'integer',
    description: 'Largest request body; larger bodies are answered 413 BODY_TOO_LARGE.',
    default: 10 * 1024 * 1024,
    min: 1024,
    max: 64 * 1024 * 1024,
    unit: 'bytes',
    env: 'ATTESTED_PACK_PROXY_BODY_LIMIT',
  },
  'limits.rateLimit': { type: 'mapping', description: 'Token bucket per authenticated caller; over it the proxy answers 429 RATE_LIMITED.' },
  'limits.rateLimit.requestsPerMinute': { type: 'integer', description: 'Sustained rate.', default: 60, min: 1, max: 1_000_000 },
  'limits.rateLimit.burst': { type: 'integer', description: 'Requests allowed at once above the sustained rate.', default: 10, min: 1, max: 1_000_000 },
  'limits.requestTimeoutSeconds': { type: 'integer', description: 'Whole-request deadline (queue wait + enclave call).', default: 180, min: 1, max: 7200, unit: 'seconds' },
  'limits.retryAfterSeconds': { type: 'integer', description: '`Retry-After` sent with 503 answers.', default: 5, min: 1, max: 3600, unit: 'seconds' },
  'limits.headersTimeoutSeconds': {
    type: 'integer',
    description: 'A client must send complete request headers within this (else 408 and the socket closes); at most `limits.receiveTimeoutSeconds`.',
    default: 10,
    min: 1,
    max: 600,
    unit: 'seconds',
  },
  'limits.receiveTimeoutSeconds': {
    type: 'integer',
    description: 'A client must send the whole request within this (else 408 and the socket closes); `requestTimeoutSeconds` is the pack\'s own deadline once it is in.',
    default: 60,
    min: 1,
    max: 3600,
    unit: 'seconds',
  },
  'limits.maxConnections': { type: 'integer', description: 'Open sockets at most; more are closed on accept.', default: 256, min: 1, max: 100_000 },
  auth: {
    type: 'mapping',
    description: 'Who may pack what. At least one token or `githubOidc` is required; without both the proxy refuses to start unless `--insecure-local` (loopback only).',
  },
  'auth.tokens': { type: 'list of mappings', description: 'Static bearer tokens, stored as SHA-256 hashes (`printf %s "$TOKEN" | sha256sum`).', default: [] },
  'auth.tokens[].name': {
    type: 'string',
    description: 'Principal name; becomes `requestedBy` in the receipt. Unique.',
    required: true,
    pattern: /^[A-Za-z0-9_.:@/-]{1,128}$/,
    expected: 'a name of letters, digits and _.:@/- (at most 128)',
  },
  'auth.tokens[].sha256': { type: 'string', description: 'Lower-case hex SHA-256 of the token (UTF-8).', required: true, pattern: /^[0-9a-f]{64}$/, expected: '64 hex characters' },
  'auth.tokens[].identities': { type: 'list of strings', description: 'Clef service identities this token may pack (`*`: all).', required: true, ...IDENTITY_OR_STAR },
  'auth.tokens[].environments': { type: 'list of strings', description: 'Clef environments this token may pack (`*`: all).', required: true, ...ENVIRONMENT_OR_STAR },
  'auth.tokens[].repositories': {
    type: 'list of strings',
    description: 'Repositories (`owner/name`) the caller may name in its request, and so in the receipt; `"*"` lets it name any — an explicit choice, never a default.',
    required: true,
    pattern: /^(?:[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+|\*)$/,
    expected: 'owner/name (or "*" for any)',
  },
  'auth.githubOidc': { type: 'mapping', description: 'Accept GitHub Actions OIDC tokens (`--github-oidc AUDIENCE` on the client).' },
  'auth.githubOidc.issuer': { type: 'string', description: 'Expected `iss`.', default: 'https://token.actions.githubusercontent.com' },
  'auth.githubOidc.audience': { type: 'string', description: 'Expected `aud` (the audience the workflow asks for).', required: true },
  'auth.githubOidc.jwksUrl': {
    type: 'string',
    description: 'Where GitHub publishes its signing keys (`https://token.actions.githubusercontent.com/.well-known/jwks`); plain http only for loopback test servers. Exactly one of `jwksUrl`, `jwksFile`.',
    pattern: /^https?:\/\/\S+$/,
    expected: 'an http(s) URL',
  },
  'auth.githubOidc.jwksFile': { type: 'string', description: 'A local JWKS file instead of `jwksUrl`.' },
  'auth.githubOidc.clockToleranceSeconds': { type: 'integer', description: 'Allowed clock skew for `exp`/`nbf`/`iat`.', default: 30, min: 0, max: 600, unit: 'seconds' },
  'auth.githubOidc.allow': { type: 'list of mappings', description: 'Which repositories may pack what (at least one entry).', required: true },
  'auth.githubOidc.allow[].repository': { type: 'string', description: '`repository` claim.', required: true, ...REPOSITORY },
  'auth.githubOidc.allow[].repositoryId': {
    type: 'string',
    description: '`repository_id` claim: a name can be deleted and registered again by someone else, its numeric id cannot (`gh api repos/OWNER/NAME --jq .id`).',
    required: true,
    ...NUMERIC_ID,
  },
  'auth.githubOidc.allow[].repositoryOwnerId': { type: 'string', description: '`repository_owner_id` claim, to pin the owner too.', defaultText: 'not pinned', ...NUMERIC_ID },
  'auth.githubOidc.allow[].refs': {
    type: 'list of strings',
    description: 'Accepted `ref` claims.',
    defaultText: 'any ref',
    pattern: /^refs\/\S+$/,
    expected: 'a full ref such as refs/heads/main',
  },
  'auth.githubOidc.allow[].githubEnvironments': {
    type: 'list of strings',
    description: "Accepted `environment` claims (the job's `environment:`).",
    defaultText: 'any, including none',
    pattern: /^\S+$/,
    expected: 'a GitHub environment name',
  },
  'auth.githubOidc.allow[].eventNames': {
    type: 'list of strings',
    description: 'Accepted `event_name` claims. The default excludes `pull_request_target`, `workflow_run` and `pull_request`: they run on behalf of code or events from outside the branch.',
    default: ['push', 'workflow_dispatch', 'schedule', 'release'],
    pattern: /^[a-z_]{1,64}$/,
    expected: 'a GitHub event name such as push',
  },
  'auth.githubOidc.allow[].jobWorkflowRefs': {
    type: 'list of strings',
    description: 'Accepted `job_workflow_ref` claims.',
    defaultText: 'any workflow',
    pattern: /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/\S+@\S+$/,
    expected: 'owner/repo/path/to/workflow.yml@ref',
  },
  'auth.githubOidc.allow[].anyCommit': { type: 'boolean', description: "Let the pack's commit differ from the token's `sha` claim.", default: false },
  'auth.githubOidc.allow[].identities': { type: 'list of strings', description: 'Clef service identities (`*`: all).', required: true, ...IDENTITY_OR_STAR },
  'auth.githubOidc.allow[].environments': { type: 'list of strings', description: 'Clef environments (`*`: all).', required: true, ...ENVIRONMENT_OR_STAR },
  credentials: { type: 'mapping', description: "The parent role's AWS credentials, forwarded to the enclave with each request for its KMS calls." },
  'credentials.source': {
    type: 'enum',
    description:
      '`imds`: the instance role (what a parent instance uses); `chain`: the AWS SDK default chain; `static`: the keys below; `none`: no credentials are forwarded, so **every pack that needs KMS fails until this is set**.',
    values: ['none', 'imds', 'chain', 'static'],
    default: 'none',
    env: 'ATTESTED_PACK_PROXY_CREDENTIALS',
  },
  'credentials.region': { type: 'string', description: 'AWS region of the KMS keys.', required: 'unless source is none', ...REGION, env: 'ATTESTED_PACK_PROXY_REGION' },
  'credentials.accessKeyId': { type: 'string', description: 'Access key ID.', required: 'with source static' },
  'credentials.secretAccessKey': { type: 'string', description: 'Secret access key.', required: 'with source static' },
  'credentials.sessionToken': { type: 'string', description: 'Session token of temporary credentials.' },
  relay: {
    type: 'mapping',
    description:
      'The KMS egress relay (what AWS vsock-proxy does). **It runs only if the `relay` key exists**: write `relay: {}` for the defaults below.',
  },
  'relay.listen': {
    type: 'transport URL',
    description: 'Where the enclave dials (CID 3 = the parent).',
    default: 'vsock://ANY:8000',
    env: 'ATTESTED_PACK_PROXY_RELAY_LISTEN',
  },
  'relay.upstream': {
    type: 'host:port',
    description: 'The one upstream this listener forwards to.',
    defaultText: '`kms.<credentials.region>.amazonaws.com:443`',
    env: 'ATTESTED_PACK_PROXY_RELAY_UPSTREAM',
  },
  'relay.allowlist': {
    type: 'list of strings',
    description: 'Upstreams that may be configured at all, checked at start: AWS KMS endpoints only (loopback ones only with `--insecure-local`); must contain `relay.upstream`.',
    defaultText: '`[relay.upstream]`',
    pattern: /^\S+:\d+$/,
    expected: 'host:port',
  },
  signing: { type: 'mapping', description: 'Artifact signing with a sealed key.' },
  'signing.sealedKeyFile': {
    type: 'string',
    description: 'File written by `attested-pack sealed-key create`; sent to the enclave (`unseal`) on every new connection, enabling `--signing sealed`.',
    required: true,
  },
  log: { type: 'mapping', description: 'Logging (JSON lines on stdout; never request bodies, tokens or credentials).' },
  'log.level': {
    type: 'enum',
    description: 'Least severe level written.',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    default: 'info',
    env: 'ATTESTED_PACK_PROXY_LOG_LEVEL',
  },
} as const satisfies Record<string, ConfigKey>;

/** A path of the schema. */
export type ConfigPath = keyof typeof PROXY_CONFIG_SCHEMA;

/** The keys allowed directly under `parent` ('' for the top level; `auth.tokens[]` for list entries). */
export function childKeys(parent: string): string[] {
  const prefix = parent === '' ? '' : `${parent}.`;
  return Object.keys(PROXY_CONFIG_SCHEMA)
    .filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes('.'))
    .map((p) => p.slice(prefix.length).replace(/\[\]$/, ''));
}

/** The schema entry of `path` (typed loosely, for generic readers). */
export function configKey(path: ConfigPath): ConfigKey {
  return PROXY_CONFIG_SCHEMA[path];
}

/** Environment variable → the path it overrides, from the schema. */
export function envOverrides(): Record<string, ConfigPath> {
  const out: Record<string, ConfigPath> = {};
  for (const [path, spec] of Object.entries(PROXY_CONFIG_SCHEMA) as Array<[ConfigPath, ConfigKey]>) {
    if (spec.env !== undefined) out[spec.env] = path;
  }
  return out;
}
