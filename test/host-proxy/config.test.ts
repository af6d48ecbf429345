/** proxy.yaml validation: defaults, errors naming the path, environment overrides, auth posture. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadProxyConfig, parseProxyConfig } from '../../host-proxy/config.js';
import { TOKEN_SHA256 } from './helpers.js';

const token = { name: 'ci', sha256: TOKEN_SHA256, identities: ['api'], environments: ['dev'], repositories: '*' };
const withAuth = (doc: Record<string, unknown> = {}) => ({ auth: { tokens: [token] }, ...doc });

function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('expected an error');
}

describe('parseProxyConfig', () => {
  it('fills documented defaults', () => {
    const c = parseProxyConfig(withAuth(), { source: 'proxy.yaml' });
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 8443 });
    expect(c.enclave).toEqual({ url: 'vsock://16:5000', concurrency: 2, queueSize: 16, packTimeoutMs: 120_000, attestTimeoutMs: 10_000, healthTimeoutMs: 5000 });
    expect(c.limits).toEqual({ bodyLimitBytes: 10 * 1024 * 1024, rateLimit: { requestsPerMinute: 60, burst: 10 }, requestTimeoutMs: 180_000, retryAfterSeconds: 5, headersTimeoutMs: 10_000, receiveTimeoutMs: 60_000, maxConnections: 256 });
    expect(c.credentials).toEqual({ source: 'none' });
    expect(c.relay).toBeUndefined();
    expect(c.log.level).toBe('info');
  });

  it('makes "any repository" explicit for tokens and fills OIDC rule defaults (push-like events, commit bound to the token)', () => {
    const c = parseProxyConfig(
      { auth: { tokens: [token, { ...token, name: 'two', repositories: ['org/repo'] }], githubOidc: { audience: 'a', jwksFile: '/x', allow: [{ repository: 'o/r', repositoryId: 42, identities: ['*'], environments: ['*'] }] } } },
      { source: 'proxy.yaml' },
    );
    expect(c.auth.tokens.map((t) => t.repositories)).toEqual([['*'], ['org/repo']]);
    expect(c.auth.githubOidc?.allow[0]).toMatchObject({ repositoryId: '42', eventNames: ['push', 'workflow_dispatch', 'schedule', 'release'], anyCommit: false });
    expect(c.auth.githubOidc?.allow[0]?.eventNames).not.toContain('pull_request_target');
  });

  const bad: Array<[string, Record<string, unknown>, string]> = [
    ['a short token hash', { auth: { tokens: [token, { ...token, name: 'two', sha256: 'abc' }] } }, 'auth.tokens[1].sha256: expected 64 hex characters'],
    ['an unknown key', withAuth({ enclve: {} }), 'enclve: unknown key'],
    ['a nested unknown key', withAuth({ limits: { bodyLimit: 5 } }), 'limits.bodyLimit: unknown key'],
    ['a bad listen address', withAuth({ listen: 'localhost' }), 'listen: expected host:port'],
    ['a bad enclave URL', withAuth({ enclave: { url: 'http://x' } }), 'enclave.url: invalid transport URL'],
    ['a non-loopback tcp enclave', withAuth({ enclave: { url: 'tcp://10.0.0.1:5000' } }), 'enclave.url: tcp transport to 10.0.0.1 refused'],
    ['a zero concurrency', withAuth({ enclave: { concurrency: 0 } }), 'enclave.concurrency: expected a number between 1 and 256, got 0'],
    ['a string number', withAuth({ limits: { bodyLimitBytes: '10MB' } }), 'limits.bodyLimitBytes: expected a whole number'],
    ['an empty grant', { auth: { tokens: [{ ...token, identities: [] }] } }, 'auth.tokens[0].identities: expected at least one entry'],
    ['a bad identity in a grant', { auth: { tokens: [{ ...token, identities: ['API'] }] } }, 'auth.tokens[0].identities[0]: expected a service identity name or *'],
    ['duplicate token names', { auth: { tokens: [token, { ...token }] } }, 'auth.tokens[1].name: duplicate token name "ci"'],
    ['OIDC without keys', { auth: { githubOidc: { audience: 'a', allow: [{ repository: 'o/r', repositoryId: '1', identities: ['*'], environments: ['*'] }] } } }, 'auth.githubOidc: set exactly one of jwksUrl or jwksFile'],
    ['OIDC with a bad repository', { auth: { githubOidc: { audience: 'a', jwksFile: '/x', allow: [{ repository: 'nope', repositoryId: '1', identities: ['*'], environments: ['*'] }] } } }, 'auth.githubOidc.allow[0].repository: expected owner/name'],
    ['OIDC JWKS over remote http', { auth: { githubOidc: { audience: 'a', jwksUrl: 'http://example.com/jwks', allow: [{ repository: 'o/r', repositoryId: '1', identities: ['*'], environments: ['*'] }] } } }, 'auth.githubOidc.jwksUrl: expected an https URL'],
    ['a bad ref', { auth: { githubOidc: { audience: 'a', jwksFile: '/x', allow: [{ repository: 'o/r', repositoryId: '1', refs: ['main'], identities: ['*'], environments: ['*'] }] } } }, 'auth.githubOidc.allow[0].refs[0]: expected a full ref'],
    ['a token without repositories (any repository must be said: "*")', { auth: { tokens: [{ name: 'ci', sha256: TOKEN_SHA256, identities: ['api'], environments: ['dev'] }] } }, 'auth.tokens[0].repositories: missing'],
    ['a token with a bad repository', { auth: { tokens: [{ ...token, repositories: ['nope'] }] } }, 'auth.tokens[0].repositories[0]: expected owner/name'],
    ['an OIDC rule without repositoryId', { auth: { githubOidc: { audience: 'a', jwksFile: '/x', allow: [{ repository: 'o/r', identities: ['*'], environments: ['*'] }] } } }, 'auth.githubOidc.allow[0].repositoryId: missing'],
    ['an OIDC rule with a non-numeric repositoryId', { auth: { githubOidc: { audience: 'a', jwksFile: '/x', allow: [{ repository: 'o/r', repositoryId: 'o/r', identities: ['*'], environments: ['*'] }] } } }, "auth.githubOidc.allow[0].repositoryId: expected GitHub's numeric id"],
    ['an OIDC rule with a bad workflow ref', { auth: { githubOidc: { audience: 'a', jwksFile: '/x', allow: [{ repository: 'o/r', repositoryId: '1', jobWorkflowRefs: ['pack.yml'], identities: ['*'], environments: ['*'] }] } } }, 'auth.githubOidc.allow[0].jobWorkflowRefs[0]: expected owner/repo/path/to/workflow.yml@ref'],
    ['an OIDC rule with a non-boolean anyCommit', { auth: { githubOidc: { audience: 'a', jwksFile: '/x', allow: [{ repository: 'o/r', repositoryId: '1', anyCommit: 'yes', identities: ['*'], environments: ['*'] }] } } }, 'auth.githubOidc.allow[0].anyCommit: expected true or false'],
    ['an unknown credentials source', withAuth({ credentials: { source: 'vault' } }), 'credentials.source: expected one of none, imds, chain, static'],
    ['imds without a region', withAuth({ credentials: { source: 'imds' } }), 'credentials.region: expected a non-empty string'],
    ['static without a secret', withAuth({ credentials: { source: 'static', region: 'us-east-1', accessKeyId: 'A' } }), 'credentials.secretAccessKey'],
    ['a relay to a non-KMS host', withAuth({ relay: { upstream: 'evil.example:443', allowlist: ['evil.example:443'] } }), 'relay.allowlist[0]: evil.example:443 is not an AWS KMS endpoint'],
    ['a relay upstream outside its allowlist', withAuth({ relay: { upstream: 'kms.us-east-1.amazonaws.com:443', allowlist: ['kms.eu-west-1.amazonaws.com:443'] } }), 'relay.upstream: kms.us-east-1.amazonaws.com:443 is not in relay.allowlist'],
    ['a relay to KMS on port 80', withAuth({ relay: { upstream: 'kms.us-east-1.amazonaws.com:80' } }), 'relay.allowlist[0]: kms.us-east-1.amazonaws.com:80 is not an AWS KMS endpoint'],
    ['a headers timeout longer than the receive timeout', withAuth({ limits: { headersTimeoutSeconds: 30, receiveTimeoutSeconds: 10 } }), 'limits.headersTimeoutSeconds: expected at most limits.receiveTimeoutSeconds (10)'],
    ['a zero connection cap', withAuth({ limits: { maxConnections: 0 } }), 'limits.maxConnections: expected a number between 1 and 100000, got 0'],
    ['a bad log level', withAuth({ log: { level: 'verbose' } }), 'log.level: expected one of'],
  ];
  for (const [name, doc, message] of bad) {
    it(`rejects ${name}, naming the path`, () => {
      const e = errorOf(() => parseProxyConfig(doc, { source: 'proxy.yaml' }));
      expect(e.code).toBe('PROXY_CONFIG_INVALID');
      expect(e.message).toContain(message);
      expect(e.message).toContain('(in proxy.yaml)');
    });
  }

  it('applies environment overrides and names the variable in errors', () => {
    const c = parseProxyConfig(withAuth({ listen: '127.0.0.1:1' }), {
      env: { ATTESTED_PACK_PROXY_LISTEN: '0.0.0.0:9443', ATTESTED_PACK_PROXY_ENCLAVE_URL: 'unix:///run/enclave.sock', ATTESTED_PACK_PROXY_QUEUE_SIZE: '3', ATTESTED_PACK_PROXY_LOG_LEVEL: 'debug' },
    });
    expect(c.listen).toEqual({ host: '0.0.0.0', port: 9443 });
    expect(c.enclave.url).toBe('unix:///run/enclave.sock');
    expect(c.enclave.queueSize).toBe(3);
    expect(c.log.level).toBe('debug');
    expect(errorOf(() => parseProxyConfig(withAuth(), { env: { ATTESTED_PACK_PROXY_LISTEN: 'nope' } })).message).toContain('listen (from ATTESTED_PACK_PROXY_LISTEN): expected host:port');
    expect(errorOf(() => parseProxyConfig(withAuth(), { env: { ATTESTED_PACK_PROXY_CONCURRENCY: 'two' } })).message).toContain('enclave.concurrency (from ATTESTED_PACK_PROXY_CONCURRENCY): expected a whole number');
  });

  it('derives the relay defaults from the region: vsock port 8000 to kms.<region>', () => {
    const c = parseProxyConfig(withAuth({ credentials: { source: 'imds', region: 'eu-west-1' }, relay: {} }));
    expect(c.relay).toEqual({ listen: 'vsock://ANY:8000', upstream: 'kms.eu-west-1.amazonaws.com:443', allowlist: ['kms.eu-west-1.amazonaws.com:443'] });
  });

  it('accepts a loopback relay upstream only with --insecure-local', () => {
    const doc = { relay: { listen: 'tcp://127.0.0.1:0', upstream: '127.0.0.1:4566', allowlist: ['127.0.0.1:4566'] } };
    expect(errorOf(() => parseProxyConfig(withAuth(doc))).message).toContain('relay.allowlist[0]');
    expect(parseProxyConfig(doc, { insecureLocal: true }).relay?.upstream).toBe('127.0.0.1:4566');
  });

  it('refuses to start without auth unless --insecure-local, and then only on loopback', () => {
    expect(errorOf(() => parseProxyConfig({})).code).toBe('PROXY_NO_AUTH');
    expect(errorOf(() => parseProxyConfig({})).message).toContain('no authentication is configured');
    expect(parseProxyConfig({}, { insecureLocal: true }).insecureLocal).toBe(true);
    const e = errorOf(() => parseProxyConfig({ listen: '0.0.0.0:8443' }, { insecureLocal: true }));
    expect(e.code).toBe('PROXY_NO_AUTH');
    expect(e.message).toContain('only a loopback listen address');
    expect(parseProxyConfig({ listen: '[::1]:8443' }, { insecureLocal: true }).listen).toEqual({ host: '::1', port: 8443 });
  });
});

describe('loadProxyConfig', () => {
  it('reads YAML, reports syntax errors with the line, and unreadable files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hp-config-'));
    try {
      const good = join(dir, 'proxy.yaml');
      await writeFile(good, `listen: 127.0.0.1:9000\nauth:\n  tokens:\n    - name: ci\n      sha256: ${TOKEN_SHA256}\n      identities: [api]\n      environments: ['*']\n      repositories: '*'\n`);
      expect((await loadProxyConfig(good)).listen.port).toBe(9000);
      const broken = join(dir, 'broken.yaml');
      await writeFile(broken, 'listen: 127.0.0.1:9000\nauth:\n  tokens: [\n');
      await expect(loadProxyConfig(broken)).rejects.toMatchObject({ code: 'PROXY_CONFIG_INVALID', message: expect.stringMatching(/broken\.yaml:\d+: not valid YAML/) });
      const secretish = join(dir, 'secret.yaml');
      await writeFile(secretish, 'credentials:\n  secretAccessKey: "SUPERSECRET\n');
      const err = await loadProxyConfig(secretish).catch((e: Error) => e);
      expect((err as Error).message).not.toContain('SUPERSECRET');
      await expect(loadProxyConfig(join(dir, 'missing.yaml'))).rejects.toMatchObject({ code: 'PROXY_CONFIG_UNREADABLE' });
      await expect(loadProxyConfig(undefined, { insecureLocal: true })).resolves.toMatchObject({ insecureLocal: true });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('README "Host proxy" example', () => {
  it('parses, with the documented OIDC rule fields, token repositories and connection limits', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Host proxy'));
    const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block).toBeDefined();
    const c = parseProxyConfig(parseYaml(block!.replace('<64 hex>', 'a'.repeat(64))), { source: 'README.md' });
    expect(c.auth.tokens[0]?.repositories).toEqual(['org/secrets']);
    expect(c.auth.githubOidc?.allow[0]).toMatchObject({ repositoryId: '123456789', repositoryOwnerId: '987654', eventNames: ['push', 'workflow_dispatch'], anyCommit: false });
    expect(c.limits).toMatchObject({ headersTimeoutMs: 10_000, receiveTimeoutMs: 60_000, maxConnections: 256 });
  });
});
