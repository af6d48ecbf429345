/**
 * The auth matrix over HTTP (inject): static tokens and GitHub OIDC tokens verified against a
 * local JWKS. 401 = the caller is not authenticated; 403 = authenticated but not allowed.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../host-proxy/server.js';
import { FakeEnclave, TOKEN, TOKEN_SHA256, githubClaims, oidcKit, packBody, repoId, testConfig } from './helpers.js';

const SCOPED = 'ap_scoped_token_fedcba9876543210';
const SCOPED_SHA256 = createHash('sha256').update(SCOPED).digest('hex');

let app: FastifyInstance;
let kit: Awaited<ReturnType<typeof oidcKit>>;
let dir: string;
let enclave: FakeEnclave;

beforeAll(async () => {
  kit = await oidcKit();
  dir = await mkdtemp(join(tmpdir(), 'hp-auth-'));
  const jwksFile = join(dir, 'jwks.json');
  await writeFile(jwksFile, JSON.stringify(kit.jwks));
  enclave = new FakeEnclave();
  app = await buildServer(
    testConfig({
      limits: { rateLimit: { requestsPerMinute: 10_000, burst: 10_000 } },
      auth: {
        tokens: [
          { name: 'ci', sha256: TOKEN_SHA256, identities: ['api'], environments: ['dev'], repositories: '*' },
          { name: 'scoped', sha256: SCOPED_SHA256, identities: ['api'], environments: ['dev'], repositories: ['org/repo'] },
        ],
        githubOidc: {
          audience: 'attested-pack',
          jwksFile,
          allow: [
            { repository: 'org/repo', repositoryId: repoId('org/repo'), refs: ['refs/heads/main'], identities: ['api'], environments: ['dev', 'production'] },
            { repository: 'org/deploy', repositoryId: repoId('org/deploy'), githubEnvironments: ['prod'], identities: ['*'], environments: ['production'] },
            {
              repository: 'org/pinned',
              repositoryId: repoId('org/pinned'),
              repositoryOwnerId: repoId('org'),
              jobWorkflowRefs: ['org/pinned/.github/workflows/pack.yml@refs/heads/main'],
              identities: ['api'],
              environments: ['dev'],
            },
            { repository: 'org/bot', repositoryId: repoId('org/bot'), eventNames: ['pull_request_target'], anyCommit: true, identities: ['api'], environments: ['dev'] },
          ],
        },
      },
    }),
    { enclave },
  );
});
afterAll(async () => {
  await app.close();
  await rm(dir, { recursive: true, force: true });
});

async function pack(authorization: string | undefined, body = packBody()): Promise<{ status: number; code: string; message: string }> {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/pack',
    headers: authorization === undefined ? {} : { authorization },
    payload: body,
  });
  const json = res.json();
  return { status: res.statusCode, code: json.error?.code ?? 'OK', message: json.error?.message ?? '' };
}

describe('static bearer tokens', () => {
  it('accepts a configured token and records its name as requestedBy', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/pack', headers: { authorization: `Bearer ${TOKEN}` }, payload: packBody() });
    expect(res.statusCode).toBe(200);
    expect(res.json().receipt.claims.request.requestedBy).toBe('ci');
  });

  it('401 AUTH_MISSING without an Authorization header, before reading the body', async () => {
    const r = await pack(undefined);
    expect(r).toMatchObject({ status: 401, code: 'AUTH_MISSING' });
    expect(r.message).toMatch(/missing Authorization header/);
  });

  it('401 AUTH_MALFORMED for a header that is not Bearer', async () => {
    expect(await pack(`Basic ${Buffer.from('a:b').toString('base64')}`)).toMatchObject({ status: 401, code: 'AUTH_MALFORMED' });
    expect(await pack('Bearer')).toMatchObject({ status: 401, code: 'AUTH_MALFORMED' });
  });

  it('401 AUTH_UNKNOWN_TOKEN for a token whose hash is not configured', async () => {
    expect(await pack('Bearer not-the-token')).toMatchObject({ status: 401, code: 'AUTH_UNKNOWN_TOKEN' });
  });

  it('403 AUTH_FORBIDDEN for an identity or environment outside the token grant, naming it', async () => {
    const r1 = await pack(`Bearer ${TOKEN}`, packBody({ identity: 'billing' }));
    expect(r1).toMatchObject({ status: 403, code: 'AUTH_FORBIDDEN' });
    expect(r1.message).toContain('"billing"');
    const r2 = await pack(`Bearer ${TOKEN}`, packBody({ environment: 'production' }));
    expect(r2).toMatchObject({ status: 403, code: 'AUTH_FORBIDDEN' });
    expect(r2.message).toContain('environment "production"');
  });
});

describe('static tokens name their repositories', () => {
  it('a token limited to org/repo may not name another repository; "*" may', async () => {
    expect(await pack(`Bearer ${SCOPED}`)).toMatchObject({ status: 200 });
    const r = await pack(`Bearer ${SCOPED}`, packBody({ repository: 'org/other' }));
    expect(r).toMatchObject({ status: 403, code: 'AUTH_FORBIDDEN' });
    expect(r.message).toContain('"org/other"');
    expect(await pack(`Bearer ${TOKEN}`, packBody({ repository: 'org/other' }))).toMatchObject({ status: 200 });
  });
});

describe('GitHub Actions OIDC: ids, events, workflow and commit (issue 17)', () => {
  it('403 for a repository of the allowed name but another repository_id (deleted and re-created, or transferred)', async () => {
    const r = await pack(`Bearer ${await kit.sign(githubClaims('org/repo', { repository_id: '999' }))}`);
    expect(r).toMatchObject({ status: 403, code: 'AUTH_FORBIDDEN' });
    expect(r.message).toContain('repository_id "999"');
    const none = await pack(`Bearer ${await kit.sign(githubClaims('org/repo', { repository_id: undefined }))}`);
    expect(none).toMatchObject({ status: 403, code: 'AUTH_FORBIDDEN' });
  });

  it('403 for another repository_owner_id where the rule pins the owner; the pinned one passes', async () => {
    const body = packBody({ repository: 'org/pinned' });
    expect(await pack(`Bearer ${await kit.sign(githubClaims('org/pinned', { repository_owner_id: '7' }))}`, body)).toMatchObject({ status: 403, code: 'AUTH_FORBIDDEN' });
    expect(await pack(`Bearer ${await kit.sign(githubClaims('org/pinned'))}`, body)).toMatchObject({ status: 200 });
  });

  it('a pull_request_target (or workflow_run, pull_request) run does not pack by default; a rule that lists the event lets it', async () => {
    for (const event of ['pull_request_target', 'workflow_run', 'pull_request']) {
      const r = await pack(`Bearer ${await kit.sign(githubClaims('org/repo', { event_name: event }))}`);
      expect(r, event).toMatchObject({ status: 403, code: 'AUTH_FORBIDDEN' });
      expect(r.message).toContain(`a "${event}" run of org/repo may not pack`);
    }
    for (const event of ['push', 'workflow_dispatch', 'schedule', 'release']) {
      expect(await pack(`Bearer ${await kit.sign(githubClaims('org/repo', { event_name: event }))}`), event).toMatchObject({ status: 200 });
    }
    const bot = packBody({ repository: 'org/bot' });
    expect(await pack(`Bearer ${await kit.sign(githubClaims('org/bot', { event_name: 'pull_request_target' }))}`, bot)).toMatchObject({ status: 200 });
    expect(await pack(`Bearer ${await kit.sign(githubClaims('org/bot', { event_name: 'push' }))}`, bot)).toMatchObject({ status: 403, code: 'AUTH_FORBIDDEN' });
  });

  it('403 for a job_workflow_ref outside the rule\'s list', async () => {
    const token = await kit.sign(githubClaims('org/pinned', { job_workflow_ref: 'org/pinned/.github/workflows/evil.yml@refs/heads/main' }));
    const r = await pack(`Bearer ${token}`, packBody({ repository: 'org/pinned' }));
    expect(r).toMatchObject({ status: 403, code: 'AUTH_FORBIDDEN' });
    expect(r.message).toContain('evil.yml');
  });

  it("403 when the pack's commit is not the token's sha; a rule with anyCommit accepts any; a token without sha is 401", async () => {
    const other = 'b'.repeat(40);
    const r = await pack(`Bearer ${await kit.sign(githubClaims('org/repo', { sha: other }))}`);
    expect(r).toMatchObject({ status: 403, code: 'AUTH_FORBIDDEN' });
    expect(r.message).toContain(`issued for the workflow run at "${other}"`);
    expect(await pack(`Bearer ${await kit.sign(githubClaims('org/repo', { sha: 'A'.repeat(40) }))}`)).toMatchObject({ status: 200 });
    expect(await pack(`Bearer ${await kit.sign(githubClaims('org/bot', { event_name: 'pull_request_target', sha: other }))}`, packBody({ repository: 'org/bot' }))).toMatchObject({ status: 200 });
    expect(await pack(`Bearer ${await kit.sign(githubClaims('org/repo', { sha: undefined }))}`)).toMatchObject({ status: 401, code: 'AUTH_INVALID_CLAIMS' });
  });
});

describe('GitHub Actions OIDC', () => {
  it('accepts a valid token for an allowed repository, ref and environment; requestedBy = sub', async () => {
    const token = await kit.sign(githubClaims('org/repo'));
    const res = await app.inject({ method: 'POST', url: '/v1/pack', headers: { authorization: `Bearer ${token}` }, payload: packBody() });
    expect(res.statusCode).toBe(200);
    expect(res.json().receipt.claims.request.requestedBy).toBe('repo:org/repo:ref:refs/heads/main');
  });

  it('401 AUTH_MALFORMED for a JWT-shaped token that does not parse', async () => {
    expect(await pack('Bearer eyJhbGciOi.eyJzdWIi.c2ln')).toMatchObject({ status: 401, code: 'AUTH_MALFORMED' });
  });

  it('401 AUTH_EXPIRED for an expired token', async () => {
    const past = Math.floor(Date.now() / 1000) - 3600;
    const token = await kit.sign(githubClaims('org/repo'), { issuedAt: past, expiresIn: 300 });
    const r = await pack(`Bearer ${token}`);
    expect(r).toMatchObject({ status: 401, code: 'AUTH_EXPIRED' });
    expect(r.message).toMatch(/expired/);
  });

  it('401 AUTH_WRONG_ISSUER for another issuer, naming both', async () => {
    const token = await kit.sign(githubClaims('org/repo'), { issuer: 'https://evil.example' });
    const r = await pack(`Bearer ${token}`);
    expect(r).toMatchObject({ status: 401, code: 'AUTH_WRONG_ISSUER' });
    expect(r.message).toContain('https://evil.example');
    expect(r.message).toContain('https://token.actions.githubusercontent.com');
  });

  it('401 AUTH_WRONG_AUDIENCE for a token minted for another audience', async () => {
    const token = await kit.sign(githubClaims('org/repo'), { audience: 'sts.amazonaws.com' });
    const r = await pack(`Bearer ${token}`);
    expect(r).toMatchObject({ status: 401, code: 'AUTH_WRONG_AUDIENCE' });
    expect(r.message).toContain('attested-pack');
  });

  it('401 AUTH_BAD_SIGNATURE for a token signed by another key', async () => {
    const token = await kit.otherSign(githubClaims('org/repo'));
    expect(await pack(`Bearer ${token}`)).toMatchObject({ status: 401, code: 'AUTH_BAD_SIGNATURE' });
  });

  it('403 AUTH_FORBIDDEN for a repository not in the allowlist', async () => {
    const token = await kit.sign(githubClaims('org/other'));
    const r = await pack(`Bearer ${token}`, packBody({ repository: 'org/other' }));
    expect(r).toMatchObject({ status: 403, code: 'AUTH_FORBIDDEN' });
    expect(r.message).toContain('"org/other" is not in the proxy\'s allowlist');
  });

  it('403 when the body names another repository than the token', async () => {
    const token = await kit.sign(githubClaims('org/repo'));
    const r = await pack(`Bearer ${token}`, packBody({ repository: 'org/deploy' }));
    expect(r).toMatchObject({ status: 403, code: 'AUTH_FORBIDDEN' });
    expect(r.message).toContain('issued to "org/repo"');
  });

  it('403 for a ref outside the allowed refs', async () => {
    const token = await kit.sign(githubClaims('org/repo', { ref: 'refs/heads/feature', sub: 'repo:org/repo:ref:refs/heads/feature' }));
    const r = await pack(`Bearer ${token}`);
    expect(r).toMatchObject({ status: 403, code: 'AUTH_FORBIDDEN' });
    expect(r.message).toContain('refs/heads/feature');
  });

  it('403 for the wrong GitHub environment claim', async () => {
    const token = await kit.sign(githubClaims('org/deploy', { environment: 'staging', sub: 'repo:org/deploy:environment:staging' }));
    const r = await pack(`Bearer ${token}`, packBody({ repository: 'org/deploy', environment: 'production' }));
    expect(r).toMatchObject({ status: 403, code: 'AUTH_FORBIDDEN' });
    expect(r.message).toContain('GitHub environment "staging"');
  });

  it('403 for a Clef environment outside the grant; the right one passes', async () => {
    const token = await kit.sign(githubClaims('org/deploy', { environment: 'prod', sub: 'repo:org/deploy:environment:prod' }));
    const wrong = await pack(`Bearer ${token}`, packBody({ repository: 'org/deploy', environment: 'dev' }));
    expect(wrong).toMatchObject({ status: 403, code: 'AUTH_FORBIDDEN' });
    expect(wrong.message).toContain('environment "dev"');
    const right = await pack(`Bearer ${token}`, packBody({ repository: 'org/deploy', environment: 'production' }));
    expect(right).toMatchObject({ status: 200, code: 'OK' });
  });

  it('guards GET /v1/attestation too, and leaves health and metrics open', async () => {
    const nonce = 'ab'.repeat(32);
    expect((await app.inject({ method: 'GET', url: `/v1/attestation?nonce=${nonce}` })).statusCode).toBe(401);
    const token = await kit.sign(githubClaims('org/repo'));
    const ok = await app.inject({ method: 'GET', url: `/v1/attestation?nonce=${nonce}`, headers: { authorization: `Bearer ${token}` } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().document).toBe(Buffer.from([0xd2, 0x84]).toString('base64'));
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
  });

  it('never calls the enclave for refused callers', async () => {
    const before = enclave.calls.filter((c) => c.type === 'pack').length;
    await pack(undefined);
    await pack('Bearer nope');
    await pack(`Bearer ${await kit.sign(githubClaims('org/other'))}`, packBody({ repository: 'org/other' }));
    expect(enclave.calls.filter((c) => c.type === 'pack').length).toBe(before);
  });
});
