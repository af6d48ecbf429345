/**
 * Invariant 1 at the proxy: no request body, credential or token reaches the logs, at any
 * level. The server logs at trace level into a buffer while it serves successful packs, OIDC
 * packs, refused tokens, malformed bodies and enclave errors; then the buffer is searched.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildServer } from '../../host-proxy/server.js';
import { EnclaveError } from '../../host-proxy/errors.js';
import type { PackRequest } from '../../enclave-app/protocol.js';
import { FakeEnclave, LogCapture, TOKEN, TOKEN_SHA256, githubClaims, oidcKit, packBody, repoId, testConfig } from './helpers.js';

describe('logs', () => {
  it('hold no body, credential or token at trace level', async () => {
    const kit = await oidcKit();
    const dir = await mkdtemp(join(tmpdir(), 'hp-log-'));
    const jwksFile = join(dir, 'jwks.json');
    await writeFile(jwksFile, JSON.stringify(kit.jwks));
    const secretAccessKey = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY';
    const sessionToken = 'FwoGZXIvYXdzSESSIONTOKENvalue0123456789';
    const log = new LogCapture();
    const enclave = new FakeEnclave();
    const app = await buildServer(
      testConfig({
        log: { level: 'trace' },
        auth: {
          tokens: [{ name: 'ci', sha256: TOKEN_SHA256, identities: ['api'], environments: ['dev'], repositories: '*' }],
          githubOidc: { audience: 'attested-pack', jwksFile, allow: [{ repository: 'org/repo', repositoryId: repoId('org/repo'), identities: ['api'], environments: ['dev'] }] },
        },
        credentials: { source: 'static', region: 'us-east-1', accessKeyId: 'AKIDEXAMPLE', secretAccessKey, sessionToken },
        limits: { rateLimit: { requestsPerMinute: 1000, burst: 1000 } },
      }),
      { enclave, logStream: log },
    );
    const secretFile = Buffer.from('db_password: ENC[AES256_GCM,data:c2VjcmV0LWNpcGhlcnRleHQ=,iv:abc,tag:def,type:str]\n').toString('base64');
    const manifest = Buffer.from('version: 1\nfile_pattern: "secrets/{namespace}/{environment}.enc.yaml"\n').toString('base64');
    const body = packBody({
      manifest: { path: 'clef.yaml', content: manifest },
      files: [{ path: 'secrets/payments/dev.enc.yaml', content: secretFile }],
    });
    const oidcToken = await kit.sign(githubClaims('org/repo'));
    const expiredToken = await kit.sign(githubClaims('org/repo'), { issuedAt: Math.floor(Date.now() / 1000) - 7200 });

    const ok = await app.inject({ method: 'POST', url: '/v1/pack', headers: { authorization: `Bearer ${TOKEN}` }, payload: body });
    expect(ok.statusCode).toBe(200);
    expect((enclave.calls[0].body as PackRequest).credentials?.secretAccessKey).toBe(secretAccessKey);
    expect((await app.inject({ method: 'POST', url: '/v1/pack', headers: { authorization: `Bearer ${oidcToken}` }, payload: body })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/v1/pack', headers: { authorization: `Bearer ${expiredToken}` }, payload: body })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/v1/pack', headers: { authorization: `Bearer ${TOKEN}x` }, payload: body })).statusCode).toBe(401);
    const bad = { ...body, files: [{ path: 'x.enc.yaml', content: `${secretFile}!` }] };
    expect((await app.inject({ method: 'POST', url: '/v1/pack', headers: { authorization: `Bearer ${TOKEN}` }, payload: bad })).statusCode).toBe(400);
    const rawJson = `{"identity":"api","files":"${secretFile}`;
    expect((await app.inject({ method: 'POST', url: '/v1/pack', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, payload: rawJson })).statusCode).toBe(400);
    enclave.handlers.pack = async () => {
      throw new EnclaveError('SOPS_MAC_MISMATCH', 'MAC mismatch in secrets/payments/dev.enc.yaml', { category: 'rejected' });
    };
    expect((await app.inject({ method: 'POST', url: '/v1/pack', headers: { authorization: `Bearer ${TOKEN}` }, payload: body })).statusCode).toBe(403);
    enclave.handlers.pack = async () => {
      throw new TypeError(`unexpected ${secretFile}`);
    };
    expect((await app.inject({ method: 'POST', url: '/v1/pack', headers: { authorization: `Bearer ${TOKEN}` }, payload: body })).statusCode).toBe(500);
    await app.close();
    await rm(dir, { recursive: true, force: true });

    const text = log.text;
    if (process.env.HP_SHOW_LOG) process.stderr.write(text);
    // The logs are not empty: trace-level request logging really ran.
    expect(text).toContain('incoming request');
    expect(text).toContain('pack accepted');
    expect(text).toContain('AUTH_EXPIRED');
    for (const needle of [
      TOKEN,
      TOKEN_SHA256,
      oidcToken,
      oidcToken.split('.')[2],
      expiredToken.split('.')[1],
      secretAccessKey,
      sessionToken,
      secretFile,
      secretFile.slice(0, 24),
      manifest,
      'c2VjcmV0LWNpcGhlcnRleHQ',
      'Bearer',
    ]) {
      expect(text.includes(needle), `log contains ${needle.slice(0, 12)}…`).toBe(false);
    }
  });
});
