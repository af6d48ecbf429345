/** Shared fixtures for the host-proxy suites: configs, a fake enclave link, log capture, OIDC keys. */
import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { parseProxyConfig, type ProxyConfig } from '../../host-proxy/config.js';
import type { EnclaveCalls, EnclaveCallType, EnclaveLink } from '../../host-proxy/enclave-link.js';
import type { PackRequest } from '../../enclave-app/protocol.js';
import { digests } from '../../enclave-app/pack/pipeline.js';

export const TOKEN = 'ap_test_token_0123456789abcdef';
export const TOKEN_SHA256 = createHash('sha256').update(TOKEN).digest('hex');
export const COMMIT = 'a'.repeat(40);

/** A stable stand-in for GitHub's numeric repository (or owner) id of a name, as a string. */
export function repoId(name: string): string {
  return String(parseInt(createHash('sha256').update(name).digest('hex').slice(0, 10), 16) + 1);
}

/** A validated config with one static token allowed to pack api/dev (overrides merged in). */
export function testConfig(overrides: Record<string, unknown> = {}, insecureLocal = false): ProxyConfig {
  const doc = {
    listen: '127.0.0.1:0',
    enclave: { url: 'unix:///tmp/unused.sock', concurrency: 1, queueSize: 1 },
    auth: { tokens: [{ name: 'ci', sha256: TOKEN_SHA256, identities: ['api'], environments: ['dev'], repositories: '*' }] },
    log: { level: 'silent' },
    ...overrides,
  };
  return parseProxyConfig(doc, { source: 'test', insecureLocal });
}

/** A minimal valid pack body (the manifest and one file, base64). */
export function packBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    identity: 'api',
    environment: 'dev',
    commit: COMMIT,
    repository: 'org/repo',
    nonce: randomBytes(32).toString('hex'),
    manifest: { path: 'clef.yaml', content: Buffer.from('version: 1\n').toString('base64') },
    files: [{ path: 'secrets/payments/dev.enc.yaml', content: Buffer.from('sops: {}\n').toString('base64') }],
    options: { signing: 'none' },
    ...overrides,
  };
}

/** A receipt-shaped answer echoing the request, as the enclave would build it. */
export function fakeReceipt(req: PackRequest): Uint8Array {
  const receipt = {
    receiptVersion: 1,
    claims: {
      type: 'attested-pack/receipt-claims/v1',
      request: {
        identity: req.identity,
        environment: req.environment,
        commit: req.commit,
        repository: req.repository,
        nonce: Buffer.from(req.nonce).toString('hex'),
        requestedBy: req.requestedBy,
      },
      inputs: [
        { path: req.manifest.path, role: 'manifest', ...digests(req.manifest.content) },
        ...req.files.map((f) => ({ path: f.path, role: 'sops', ...digests(f.content) })),
      ],
      artifact: { sha256: createHash('sha256').update(fakeArtifact(req)).digest('hex') },
    },
    attestation: 'AAAA',
  };
  return new TextEncoder().encode(JSON.stringify(receipt));
}

export function fakeArtifact(req: PackRequest): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ version: 1, identity: req.identity, environment: req.environment }));
}

type Handler = { [T in EnclaveCallType]?: (body: EnclaveCalls[T]['request']) => Promise<EnclaveCalls[T]['response']> };

/** An in-process enclave stand-in for pure HTTP-layer tests. */
export class FakeEnclave implements EnclaveLink {
  readonly calls: Array<{ type: EnclaveCallType; body: unknown; timeoutMs: number }> = [];
  closed = false;
  handlers: Handler = {
    pack: async (req) => ({ artifact: fakeArtifact(req), receipt: fakeReceipt(req) }),
    attest: async () => ({ document: new Uint8Array([0xd2, 0x84]) }),
    health: async () => ({ status: 'ok', version: 'test', inFlight: 0, signingReady: false }),
  };

  async request<T extends EnclaveCallType>(type: T, body: EnclaveCalls[T]['request'], options: { timeoutMs: number }): Promise<EnclaveCalls[T]['response']> {
    this.calls.push({ type, body, timeoutMs: options.timeoutMs });
    const h = this.handlers[type] as ((b: EnclaveCalls[T]['request']) => Promise<EnclaveCalls[T]['response']>) | undefined;
    if (!h) throw new Error(`no handler for ${type}`);
    return h(body);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A promise with its resolve exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A writable that keeps everything written to it (log capture). */
export class LogCapture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/** An RS256 key pair published as a local JWKS, and a signer for GitHub-shaped tokens. */
export async function oidcKit(): Promise<{
  jwks: { keys: JWK[] };
  sign: (claims: Record<string, unknown>, opts?: { issuer?: string; audience?: string; expiresIn?: number; issuedAt?: number; kid?: string }) => Promise<string>;
  otherSign: (claims: Record<string, unknown>) => Promise<string>;
}> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const other = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const now = Math.floor(Date.now() / 1000);
  const sign = (claims: Record<string, unknown>, opts: { issuer?: string; audience?: string; expiresIn?: number; issuedAt?: number; kid?: string } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? 'k1', typ: 'JWT' })
      .setIssuer(opts.issuer ?? 'https://token.actions.githubusercontent.com')
      .setAudience(opts.audience ?? 'attested-pack')
      .setIssuedAt(opts.issuedAt ?? now)
      .setExpirationTime((opts.issuedAt ?? now) + (opts.expiresIn ?? 300))
      .sign(privateKey);
  const otherSign = (claims: Record<string, unknown>) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'JWT' })
      .setIssuer('https://token.actions.githubusercontent.com')
      .setAudience('attested-pack')
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(other.privateKey);
  return { jwks: { keys: [jwk] }, sign, otherSign };
}

/** GitHub Actions-shaped claims for a repository. */
export function githubClaims(repository: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sub: `repo:${repository}:ref:refs/heads/main`,
    repository,
    repository_owner: repository.split('/')[0],
    repository_id: repoId(repository),
    repository_owner_id: repoId(repository.split('/')[0]!),
    event_name: 'push',
    sha: COMMIT,
    job_workflow_ref: `${repository}/.github/workflows/pack.yml@refs/heads/main`,
    ref: 'refs/heads/main',
    actor: 'octocat',
    run_id: '1',
    ...extra,
  };
}
