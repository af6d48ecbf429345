/**
 * The pack client against a real proxy (and scripted HTTP servers) on 127.0.0.1: inputs read
 * at HEAD, dirty-tree refusal, Clef's conventional output path, atomic writes, the retry
 * policy, nonce and receipt checks, and GitHub OIDC token requests.
 */
import http from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../host-proxy/server.js';
import { packEndpoint, runPackClient, type PackClientOptions } from '../../host-proxy/client/pack-client.js';
import type { PackRequest } from '../../enclave-app/protocol.js';
import { digests } from '../../enclave-app/pack/pipeline.js';
import { FakeEnclave, TOKEN, TOKEN_SHA256, fakeArtifact, githubClaims, oidcKit, repoId, testConfig } from './helpers.js';
import { FILES, git, makeClefRepo } from './clef-repo.js';

let dir: string;
let repo: string;
let head: string;
let shared: { app: FastifyInstance; url: string };
let extraProxy: FastifyInstance | undefined;
const enclave = new FakeEnclave();
const servers: http.Server[] = [];

// One repository and one proxy for the file; each test leaves the checkout clean again.
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hp-client-'));
  repo = join(dir, 'repo');
  await mkdir(repo);
  head = await makeClefRepo(repo);
  const app = await buildServer(testConfig({ limits: { rateLimit: { requestsPerMinute: 1000, burst: 1000 } } }), { enclave });
  await app.listen({ host: '127.0.0.1', port: 0 });
  shared = { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
});
afterAll(async () => {
  await shared.app.close();
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  enclave.calls.length = 0;
  await extraProxy?.close();
  extraProxy = undefined;
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  git(repo, 'reset', '-q', '--hard');
  git(repo, 'clean', '-qfdx');
  for (const f of await readdir(dir)) if (f !== 'repo') await rm(join(dir, f), { recursive: true, force: true });
});

async function startProxy(overrides?: Record<string, unknown>): Promise<string> {
  if (!overrides) return shared.url;
  extraProxy = await buildServer(testConfig({ limits: { rateLimit: { requestsPerMinute: 1000, burst: 1000 } }, ...overrides }), { enclave });
  await extraProxy.listen({ host: '127.0.0.1', port: 0 });
  return `http://127.0.0.1:${(extraProxy.server.address() as AddressInfo).port}`;
}

/** A scripted HTTP server: each request gets the next handler's answer. */
async function scripted(handlers: Array<(body: Record<string, unknown>, req: http.IncomingMessage, res: http.ServerResponse) => void>, port = 0): Promise<{ url: string; hits: number }> {
  const state = { url: '', hits: 0 };
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      const h = handlers[Math.min(state.hits, handlers.length - 1)];
      state.hits += 1;
      h(data ? (JSON.parse(data) as Record<string, unknown>) : {}, req, res);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** A well-formed 200 answer for the body received (what a real proxy would return). */
function goodAnswer(body: Record<string, unknown>, tweak: (receipt: { claims: Record<string, Record<string, unknown>> }) => void = () => undefined): unknown {
  const req = { identity: body.identity, environment: body.environment, commit: body.commit, repository: body.repository, nonce: body.nonce } as Record<string, unknown>;
  const artifact = Buffer.from(JSON.stringify({ version: 1, identity: body.identity }));
  const sent = [body.manifest, ...(body.files as unknown[])] as Array<{ path: string; content: string }>;
  const inputs = sent.map((f) => ({ path: f.path, ...digests(Buffer.from(f.content, 'base64')) }));
  const receipt = {
    receiptVersion: 1,
    claims: { request: { ...req, requestedBy: 'ci' }, inputs, artifact: { sha256: createHash('sha256').update(artifact).digest('hex'), revision: '1-abcdef01', keyCount: 2, namespaces: ['payments', 'auth'] } },
    attestation: 'AAAA',
  };
  tweak(receipt as unknown as { claims: Record<string, Record<string, unknown>> });
  return { artifact: artifact.toString('base64'), receipt };
}

const base = (proxyUrl: string, extra: Partial<PackClientOptions> = {}): PackClientOptions => ({
  proxy: proxyUrl,
  identity: 'api',
  environment: 'dev',
  repoDir: repo,
  token: TOKEN,
  ...extra,
});

const noSleep = { sleep: async () => undefined, env: {} };

describe('pack client: inputs and outputs', () => {
  it('sends clef.yaml and the scoped files as committed and writes to the conventional path', async () => {
    const url = await startProxy();
    const progress: string[] = [];
    const result = await runPackClient(base(url), { env: {}, progress: (l) => progress.push(l) });
    const sent = enclave.calls.find((c) => c.type === 'pack')?.body as PackRequest;
    expect(sent.commit).toBe(head);
    expect(sent.manifest.path).toBe('clef.yaml');
    expect(sent.files.map((f) => f.path)).toEqual(['secrets/payments/dev.enc.yaml', 'secrets/auth/dev.enc.yaml']);
    expect(Buffer.from(sent.files[0].content).toString()).toBe(FILES['secrets/payments/dev.enc.yaml']);
    expect(sent.nonce.byteLength).toBe(32);
    expect(sent.repository).toBe('org/repo');
    expect(sent.requestedBy).toBe('ci');

    expect(result.output).toBe(join(repo, '.clef', 'packed', 'api', 'dev.age.json'));
    expect(result.receipt).toBe(`${result.output}.receipt.json`);
    expect(await readFile(result.output)).toEqual(Buffer.from(fakeArtifact(sent)));
    const receipt = JSON.parse(await readFile(result.receipt, 'utf8'));
    expect(receipt.claims.request.nonce).toBe(Buffer.from(sent.nonce).toString('hex'));
    expect(result).toMatchObject({ commit: head, attempts: 1, verified: false });
    expect((await readdir(join(repo, '.clef', 'packed', 'api'))).sort()).toEqual(['dev.age.json', 'dev.age.json.receipt.json']);
    expect(progress.join('\n')).toMatch(/read clef.yaml and 2 file\(s\)/);
  });

  it('refuses a dirty tree without sending anything; --allow-dirty packs the committed bytes', async () => {
    const url = await startProxy();
    await writeFile(join(repo, 'secrets/payments/dev.enc.yaml'), 'edited: but not committed\n');
    await expect(runPackClient(base(url), noSleep)).rejects.toMatchObject({ code: 'DIRTY_TREE', category: 'input' });
    expect(enclave.calls).toHaveLength(0);
    await runPackClient(base(url, { allowDirty: true }), noSleep);
    const sent = enclave.calls.find((c) => c.type === 'pack')?.body as PackRequest;
    expect(Buffer.from(sent.files[0].content).toString()).toBe(FILES['secrets/payments/dev.enc.yaml']);
  });

  it('does not count untracked files as dirty, and never sends them', async () => {
    const url = await startProxy();
    await mkdir(join(repo, 'secrets/billing'), { recursive: true });
    await writeFile(join(repo, 'notes.txt'), 'untracked\n');
    await writeFile(join(repo, 'secrets/payments/production.enc.yaml.bak'), 'x');
    await runPackClient(base(url), noSleep);
    expect(enclave.calls).toHaveLength(1);
  });

  it('refuses a staged but uncommitted change too', async () => {
    const url = await startProxy();
    await writeFile(join(repo, 'clef.yaml'), (await readFile(join(repo, 'clef.yaml'), 'utf8')) + '# staged\n');
    git(repo, 'add', 'clef.yaml');
    await expect(runPackClient(base(url), noSleep)).rejects.toMatchObject({ code: 'DIRTY_TREE' });
  });

  it('skips scoped cells missing at HEAD (as clef pack does) and says so', async () => {
    const url = await startProxy({ auth: { tokens: [{ name: 'ci', sha256: TOKEN_SHA256, identities: ['api'], environments: ['*'], repositories: '*' }] } });
    const progress: string[] = [];
    await runPackClient(base(url, { environment: 'production' }), { env: {}, progress: (l) => progress.push(l) });
    const sent = enclave.calls.find((c) => c.type === 'pack')?.body as PackRequest;
    expect(sent.files.map((f) => f.path)).toEqual(['secrets/payments/production.enc.yaml']);
    expect(progress.join('\n')).toContain('secrets/auth/production.enc.yaml does not exist at HEAD');
  });

  it('works with clef.yaml in a subdirectory of the git repository, sending repo-root-relative paths', async () => {
    const url = await startProxy();
    const mono = join(dir, 'mono');
    const sub = join(mono, 'infra', 'secrets-repo');
    await mkdir(sub, { recursive: true });
    await makeClefRepo(sub);
    // Re-home the repository one level up: the git root is `mono`, clef.yaml lives in infra/secrets-repo.
    await rm(join(sub, '.git'), { recursive: true, force: true });
    git(mono, 'init', '-q', '-b', 'main');
    git(mono, 'add', '-A');
    git(mono, 'commit', '-q', '-m', 'mono');
    const result = await runPackClient(base(url, { repoDir: sub, repository: 'org/mono' }), noSleep);
    const sent = enclave.calls.find((c) => c.type === 'pack')?.body as PackRequest;
    // Repo-root-relative on the wire (and so in the receipt), so `verify-receipt --repo` finds them.
    expect(sent.manifest.path).toBe('infra/secrets-repo/clef.yaml');
    expect(sent.files.map((f) => f.path)).toEqual(['infra/secrets-repo/secrets/payments/dev.enc.yaml', 'infra/secrets-repo/secrets/auth/dev.enc.yaml']);
    expect(sent.repository).toBe('org/mono');
    expect(result.output).toBe(join(sub, '.clef', 'packed', 'api', 'dev.age.json'));
  });

  it('honours --out and --receipt', async () => {
    const url = await startProxy();
    const out = join(dir, 'out', 'artifact.json');
    const receipt = join(dir, 'receipts', 'r.json');
    const result = await runPackClient(base(url, { out, receipt }), noSleep);
    expect(result.output).toBe(out);
    expect(JSON.parse(await readFile(receipt, 'utf8')).receiptVersion).toBe(1);
  });

  it('fails before any network call for an identity the manifest does not declare', async () => {
    const url = await startProxy();
    await expect(runPackClient(base(url, { identity: 'ghost' }), noSleep)).rejects.toMatchObject({ code: 'CLEF_UNKNOWN_IDENTITY' });
    expect(enclave.calls).toHaveLength(0);
  });

  it('refuses plain http to a non-loopback proxy unless allowed', () => {
    expect(() => packEndpoint('http://10.0.0.5:8443', false)).toThrow(/plain http/);
    expect(packEndpoint('http://10.0.0.5:8443', true).href).toBe('http://10.0.0.5:8443/v1/pack');
    expect(packEndpoint('https://packer.internal:8443/prefix', false).href).toBe('https://packer.internal:8443/prefix/v1/pack');
    expect(packEndpoint('http://127.0.0.1:9', false).href).toBe('http://127.0.0.1:9/v1/pack');
    expect(() => packEndpoint('ftp://x', false)).toThrow(/http\(s\)/);
  });
});

describe('pack client: answer checks and atomic writes', () => {
  it('rejects a receipt whose nonce is not ours and leaves existing files untouched', async () => {
    const out = join(dir, 'a.json');
    await writeFile(out, 'previous artifact');
    const s = await scripted([(body, _req, res) => json(res, 200, goodAnswer(body, (r) => (r.claims.request.nonce = 'ff'.repeat(32))))]);
    const err = await runPackClient(base(s.url, { out }), noSleep).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'NONCE_MISMATCH', category: 'rejected' });
    expect((err as { exitCode: number }).exitCode).toBe(1);
    expect(await readFile(out, 'utf8')).toBe('previous artifact');
    expect(await readdir(dir)).toEqual(expect.not.arrayContaining([expect.stringMatching(/\.tmp$/)]));
    expect((await readdir(dir)).filter((f) => f.endsWith('.receipt.json'))).toEqual([]);
  });

  it('rejects an artifact whose hash differs from the receipt, and a receipt for another commit', async () => {
    const s1 = await scripted([(body, _req, res) => json(res, 200, goodAnswer(body, (r) => (r.claims.artifact.sha256 = '0'.repeat(64))))]);
    await expect(runPackClient(base(s1.url), noSleep)).rejects.toMatchObject({ code: 'RECEIPT_MISMATCH' });
    const s2 = await scripted([(body, _req, res) => json(res, 200, goodAnswer(body, (r) => (r.claims.request.commit = 'b'.repeat(40))))]);
    await expect(runPackClient(base(s2.url), noSleep)).rejects.toMatchObject({ code: 'RECEIPT_MISMATCH' });
  });

  it('rejects a receipt whose inputs are not exactly what was sent (extra, duplicated, missing, other bytes) or that names another repository', async () => {
    type Inputs = Array<{ path: string; sha256: string; gitBlobId: string }>;
    const cases: Array<[string, (r: { claims: Record<string, Record<string, unknown>> }) => void, RegExp]> = [
      ['extra', (r) => (r.claims as unknown as { inputs: Inputs }).inputs.push({ path: 'secrets/x.enc.yaml', sha256: '0'.repeat(64), gitBlobId: '0'.repeat(40) }), /"secrets\/x\.enc\.yaml" was not sent/],
      ['duplicate', (r) => { const i = (r.claims as unknown as { inputs: Inputs }).inputs; i.push({ ...i[1]! }); }, /listed twice/],
      ['missing', (r) => void (r.claims as unknown as { inputs: Inputs }).inputs.pop(), /was sent but is not in the receipt/],
      ['other bytes', (r) => { const i = (r.claims as unknown as { inputs: Inputs }).inputs; i[0] = { ...i[0]!, gitBlobId: 'f'.repeat(40) }; }, /"clef\.yaml" has other contents/],
      ['no list', (r) => void delete (r.claims as Record<string, unknown>).inputs, /no inputs list/],
    ];
    for (const [name, tweak, message] of cases) {
      const s = await scripted([(body, _req, res) => json(res, 200, goodAnswer(body, tweak))]);
      const err = await runPackClient(base(s.url), noSleep).catch((e: unknown) => e);
      expect(err, name).toMatchObject({ code: 'RECEIPT_INPUTS_MISMATCH', category: 'rejected' });
      expect((err as Error).message, name).toMatch(message);
    }
    expect(await readdir(join(repo, '.clef')).catch(() => [])).toEqual([]);
    const s = await scripted([(body, _req, res) => json(res, 200, goodAnswer(body, (r) => (r.claims.request.repository = 'attacker/fork')))]);
    await expect(runPackClient(base(s.url, { repository: 'org/repo' }), noSleep)).rejects.toMatchObject({ code: 'RECEIPT_MISMATCH', message: expect.stringContaining('repository') });
  });

  it('replaces an existing artifact atomically, leaving no temporary files', async () => {
    const url = await startProxy();
    const out = join(dir, 'a.json');
    await writeFile(out, 'previous artifact');
    await runPackClient(base(url, { out }), noSleep);
    expect(await readFile(out, 'utf8')).toContain('"identity":"api"');
    expect((await readdir(dir)).sort()).toEqual(['a.json', 'a.json.receipt.json', 'repo']);
  });
});

describe('pack client: retry policy', () => {
  it('retries 503 and 429 honouring Retry-After, then succeeds', async () => {
    const s = await scripted([
      (_b, _r, res) => json(res, 503, { error: { code: 'QUEUE_FULL', message: 'busy' } }, { 'retry-after': '3' }),
      (_b, _r, res) => json(res, 429, { error: { code: 'RATE_LIMITED', message: 'slow down' } }, { 'retry-after': '1' }),
      (body, _r, res) => json(res, 200, goodAnswer(body)),
    ]);
    const sleeps: number[] = [];
    const result = await runPackClient(base(s.url), { env: {}, sleep: async (ms) => void sleeps.push(ms) });
    expect(result.attempts).toBe(3);
    expect(s.hits).toBe(3);
    expect(sleeps).toEqual([3000, 1000]);
  });

  it('caps a long Retry-After at 60 s and uses jittered exponential backoff without one', async () => {
    const s = await scripted([
      (_b, _r, res) => json(res, 503, { error: { code: 'ENCLAVE_UNAVAILABLE', message: 'down' } }, { 'retry-after': '3600' }),
      (_b, _r, res) => json(res, 503, { error: { code: 'ENCLAVE_UNAVAILABLE', message: 'down' } }),
      (_b, _r, res) => json(res, 503, { error: { code: 'ENCLAVE_UNAVAILABLE', message: 'down' } }),
      (body, _r, res) => json(res, 200, goodAnswer(body)),
    ]);
    const sleeps: number[] = [];
    await runPackClient(base(s.url), { env: {}, random: () => 0.5, sleep: async (ms) => void sleeps.push(ms) });
    // retry 1: Retry-After capped; retries 2 and 3: 2 s and 4 s (× jitter 1.0 at random 0.5).
    expect(sleeps).toEqual([60_000, 2000, 4000]);
  });

  it('gives up after --retries and exits "unavailable" with the last answer', async () => {
    const s = await scripted([(_b, _r, res) => json(res, 503, { error: { code: 'QUEUE_FULL', message: 'busy', hint: 'retry later' } }, { 'retry-after': '1' })]);
    const err = await runPackClient(base(s.url, { retries: 2 }), noSleep).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'QUEUE_FULL', category: 'unavailable', hint: 'retry later' });
    expect((err as { exitCode: number }).exitCode).toBe(3);
    expect(s.hits).toBe(3);
  });

  it('does not retry a 400 or a 403', async () => {
    const s = await scripted([(_b, _r, res) => json(res, 400, { error: { code: 'INVALID_REQUEST', message: 'body.nonce: bad' } })]);
    const err = await runPackClient(base(s.url), noSleep).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INVALID_REQUEST', category: 'input' });
    expect(s.hits).toBe(1);
    const s2 = await scripted([(_b, _r, res) => json(res, 403, { error: { code: 'AUTH_FORBIDDEN', message: 'no' } })]);
    const err2 = await runPackClient(base(s2.url), noSleep).catch((e: unknown) => e);
    expect((err2 as { exitCode: number }).exitCode).toBe(1);
    expect(s2.hits).toBe(1);
  });

  it('retries connection refused, and succeeds once the proxy comes up', async () => {
    // Find a free port, then leave it closed: the first attempt is refused.
    const probe = await scripted([() => undefined]);
    const port = Number(new URL(probe.url).port);
    await new Promise((r) => servers.pop()!.close(r));
    let started: { url: string; hits: number } | undefined;
    const sleeps: number[] = [];
    const result = await runPackClient(base(`http://127.0.0.1:${port}`), {
      env: {},
      random: () => 0.5,
      sleep: async (ms) => {
        sleeps.push(ms);
        started ??= await scripted([(body, _r, res) => json(res, 200, goodAnswer(body))], port);
      },
    });
    expect(result.attempts).toBe(2);
    expect(sleeps).toEqual([1000]);
    expect(started?.hits).toBe(1);
  });

  it('reports PROXY_UNREACHABLE after the retries when nothing listens', async () => {
    const probe = await scripted([() => undefined]);
    const port = Number(new URL(probe.url).port);
    await new Promise((r) => servers.pop()!.close(r));
    const sleeps: number[] = [];
    const err = await runPackClient(base(`http://127.0.0.1:${port}`, { retries: 1 }), { env: {}, sleep: async (ms) => void sleeps.push(ms) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PROXY_UNREACHABLE', category: 'unavailable' });
    expect((err as Error).message).toContain('ECONNREFUSED');
    expect(sleeps).toHaveLength(1);
  });

  it('does not retry a request that got no answer in time', async () => {
    const s = await scripted([() => undefined]);
    const err = await runPackClient(base(s.url, { timeoutMs: 300 }), noSleep).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PROXY_UNREACHABLE' });
    expect((err as Error).message).toMatch(/no answer/);
    expect(s.hits).toBe(1);
  });
});

describe('pack client: GitHub Actions OIDC', () => {
  it('requests a token for the audience and packs with it', async () => {
    const kit = await oidcKit();
    const jwksFile = join(dir, 'jwks.json');
    await writeFile(jwksFile, JSON.stringify(kit.jwks));
    const url = await startProxy({
      auth: {
        tokens: [{ name: 'ci', sha256: TOKEN_SHA256, identities: ['api'], environments: ['dev'], repositories: '*' }],
        githubOidc: { audience: 'attested-pack', jwksFile, allow: [{ repository: 'org/repo', repositoryId: repoId('org/repo'), identities: ['api'], environments: ['dev'] }] },
      },
    });
    const seen: Array<{ auth: string | undefined; audience: string | null; apiVersion: string | null }> = [];
    const tokenServer = await scripted([
      (_b, req, res) => {
        const u = new URL(req.url ?? '/', 'http://x');
        seen.push({ auth: req.headers.authorization, audience: u.searchParams.get('audience'), apiVersion: u.searchParams.get('api-version') });
        void kit.sign(githubClaims('org/repo', { sha: head })).then((value) => json(res, 200, { value }));
      },
    ]);
    const env = { ACTIONS_ID_TOKEN_REQUEST_URL: `${tokenServer.url}/token?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runner-request-token', GITHUB_REPOSITORY: 'org/repo' };
    const opts = base(url, { githubOidcAudience: 'attested-pack' });
    delete opts.token;
    const result = await runPackClient(opts, { env, sleep: async () => undefined });
    expect(seen).toEqual([{ auth: 'bearer runner-request-token', audience: 'attested-pack', apiVersion: '2.0' }]);
    expect(result.repository).toBe('org/repo');
    expect((enclave.calls[0].body as PackRequest).requestedBy).toBe('repo:org/repo:ref:refs/heads/main');
  });

  it('explains a missing id-token permission', async () => {
    const opts = base('http://127.0.0.1:9', { githubOidcAudience: 'attested-pack' });
    delete opts.token;
    await expect(runPackClient(opts, noSleep)).rejects.toMatchObject({ code: 'OIDC_TOKEN_UNAVAILABLE', hint: expect.stringContaining('id-token: write') });
    await expect(runPackClient(base('http://127.0.0.1:9', { githubOidcAudience: 'x' }), noSleep)).rejects.toThrow(/alternatives/);
  });
});
