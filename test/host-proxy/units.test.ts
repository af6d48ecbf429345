/** Small parts on their own: token buckets, the enclave queue, cached credentials, Retry-After, remote JWKS. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { TokenBuckets } from '../../host-proxy/token-bucket.js';
import { EnclaveQueue } from '../../host-proxy/enclave-queue.js';
import { CachedCredentials, credentialSourceFor } from '../../host-proxy/credentials.js';
import { parseRetryAfter, retryDelayMs, isRetryable, DEFAULT_RETRY_POLICY } from '../../host-proxy/client/retry.js';
import { GithubOidcVerifier } from '../../host-proxy/auth/github-oidc.js';
import { hashToken, StaticTokens } from '../../host-proxy/auth/static-tokens.js';
import { httpStatusFor, HostProxyError, categoryOfStatus } from '../../host-proxy/errors.js';
import { deferred, githubClaims, oidcKit, repoId } from './helpers.js';

describe('TokenBuckets', () => {
  it('allows a burst, then one request per refill interval, per key', () => {
    let now = 0;
    const b = new TokenBuckets(60, 3, () => now);
    expect([1, 2, 3].map(() => b.take('a').allowed)).toEqual([true, true, true]);
    expect(b.take('a')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(b.take('b').allowed).toBe(true);
    now += 1000;
    expect(b.take('a').allowed).toBe(true);
    expect(b.take('a').allowed).toBe(false);
    now += 60_000;
    expect([1, 2, 3, 4].map(() => b.take('a').allowed)).toEqual([true, true, true, false]);
  });

  it('forgets idle clients beyond its bound', () => {
    let now = 0;
    const b = new TokenBuckets(60, 1, () => now, 2);
    b.take('a');
    b.take('b');
    expect(b.size).toBe(2);
    now += 10_000;
    b.take('c');
    // 'a' and 'b' were full again, so remembering them was pointless: only 'c' is kept.
    expect(b.size).toBe(1);
    // Active clients over the bound: the oldest is dropped to keep memory bounded.
    b.take('d');
    b.take('e');
    expect(b.size).toBe(2);
  });
});

describe('EnclaveQueue', () => {
  it('bounds concurrency and waiting, refuses beyond, and drains', async () => {
    const states: Array<[number, number]> = [];
    const q = new EnclaveQueue(1, 1, 9, ({ inFlight, queued }) => states.push([inFlight, queued]));
    const gate = deferred();
    const first = q.run(() => gate.promise.then(() => 'first'));
    const second = q.run(async () => 'second');
    expect([q.inFlight, q.queued]).toEqual([1, 1]);
    await expect(q.run(async () => 'third')).rejects.toMatchObject({ code: 'QUEUE_FULL', retryAfterSeconds: 9 });
    let drained = false;
    const drain = q.drain().then(() => (drained = true));
    await Promise.resolve();
    expect(drained).toBe(false);
    gate.resolve();
    expect(await first).toBe('first');
    expect(await second).toBe('second');
    await drain;
    expect([q.inFlight, q.queued]).toEqual([0, 0]);
    expect(states.at(-1)).toEqual([0, 0]);
  });

  it('gives up waiting when the request deadline passes, without running the task', async () => {
    const q = new EnclaveQueue(1, 4, 2);
    const gate = deferred();
    const running = q.run(() => gate.promise);
    const ac = new AbortController();
    let ran = false;
    const waiting = q.run(async () => void (ran = true), ac.signal);
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'REQUEST_TIMEOUT' });
    expect(q.queued).toBe(0);
    gate.resolve();
    await running;
    expect(ran).toBe(false);
    expect(q.inFlight).toBe(0);
  });

  it('asks a deadline factory for its signal only when the task has to wait, and honours it then', async () => {
    const q = new EnclaveQueue(1, 4, 2);
    let made = 0;
    const ac = new AbortController();
    const factory = () => {
      made += 1;
      return ac.signal;
    };
    const gate = deferred();
    const running = q.run(() => gate.promise, factory);
    expect(made).toBe(0); // a free slot: no timer was armed
    let ran = false;
    const waiting = q.run(async () => void (ran = true), factory);
    expect(made).toBe(1);
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'REQUEST_TIMEOUT' });
    gate.resolve();
    await running;
    expect(ran).toBe(false);
  });

  it('frees the slot when a task throws', async () => {
    const q = new EnclaveQueue(1, 0, 1);
    await expect(q.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await q.run(async () => 'ok')).toBe('ok');
  });
});

describe('CachedCredentials', () => {
  it('caches until 5 minutes before expiry, shares concurrent refreshes, forwards the region', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    let calls = 0;
    const provider = async () => {
      calls += 1;
      return { accessKeyId: `AKID${calls}`, secretAccessKey: 'secret', sessionToken: 'token', expiration: new Date(now + 3600_000) };
    };
    const c = new CachedCredentials(provider, 'eu-west-1', { now: () => now });
    const [a, b] = await Promise.all([c.get(), c.get()]);
    expect(calls).toBe(1);
    expect(a).toEqual({ accessKeyId: 'AKID1', secretAccessKey: 'secret', sessionToken: 'token', region: 'eu-west-1' });
    expect(b.accessKeyId).toBe('AKID1');
    now += 54 * 60_000;
    expect((await c.get()).accessKeyId).toBe('AKID1');
    now += 2 * 60_000;
    expect((await c.get()).accessKeyId).toBe('AKID2');
  });

  it('maps provider failures to CREDENTIALS_UNAVAILABLE (503) without their text, and retries next time', async () => {
    let fail = true;
    const c = new CachedCredentials(async () => {
      if (fail) throw new Error('IMDS said secret=abc');
      return { accessKeyId: 'A', secretAccessKey: 'S' };
    }, 'us-east-1');
    const err = await c.get().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CREDENTIALS_UNAVAILABLE', category: 'unavailable' });
    expect((err as Error).message).not.toContain('secret=abc');
    expect(httpStatusFor(err)).toBe(503);
    fail = false;
    expect((await c.get()).accessKeyId).toBe('A');
  });

  it('static and none sources', async () => {
    expect(await (await credentialSourceFor({ source: 'none' })).get()).toBeUndefined();
    expect(await (await credentialSourceFor({ source: 'static', region: 'us-east-1', accessKeyId: 'A', secretAccessKey: 'S' })).get()).toEqual({
      accessKeyId: 'A',
      secretAccessKey: 'S',
      region: 'us-east-1',
    });
  });
});

describe('retry policy helpers', () => {
  it('parses Retry-After seconds and dates; ignores junk', () => {
    expect(parseRetryAfter('7')).toBe(7);
    expect(parseRetryAfter('Wed, 01 Jan 2031 00:00:10 GMT', Date.parse('2031-01-01T00:00:00Z'))).toBe(10);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });

  it('retries only 503, 429 and connection failures', () => {
    expect(isRetryable({ kind: 'response', status: 503, retryAfter: null })).toBe(true);
    expect(isRetryable({ kind: 'response', status: 429, retryAfter: null })).toBe(true);
    for (const status of [400, 401, 403, 404, 413, 422, 500, 504]) expect(isRetryable({ kind: 'response', status, retryAfter: null })).toBe(false);
    expect(isRetryable({ kind: 'network', code: 'ECONNREFUSED' })).toBe(true);
    // DNS failures are retried (issue 15: a name still propagating); TLS and unknown failures are not.
    for (const code of ['ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ETIMEDOUT']) expect(isRetryable({ kind: 'network', code }), code).toBe(true);
    for (const code of ['UNKNOWN', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'DEPTH_ZERO_SELF_SIGNED_CERT']) expect(isRetryable({ kind: 'network', code }), code).toBe(false);
    expect(isRetryable({ kind: 'timeout' })).toBe(false);
  });

  it('backs off exponentially with bounded jitter, capped', () => {
    const net = { kind: 'network' as const, code: 'ECONNREFUSED' };
    expect(retryDelayMs(1, net, DEFAULT_RETRY_POLICY, () => 0)).toBe(800);
    expect(retryDelayMs(1, net, DEFAULT_RETRY_POLICY, () => 0.999999)).toBe(1200);
    expect(retryDelayMs(3, net, DEFAULT_RETRY_POLICY, () => 0.5)).toBe(4000);
    expect(retryDelayMs(10, net, DEFAULT_RETRY_POLICY, () => 0.5)).toBe(30_000);
  });
});

describe('errors', () => {
  it('maps categories and codes to HTTP statuses, and statuses back to categories', () => {
    expect(httpStatusFor(new HostProxyError('AUTH_EXPIRED', 'x'))).toBe(401);
    expect(httpStatusFor(new HostProxyError('AUTH_FORBIDDEN', 'x'))).toBe(403);
    expect(httpStatusFor(new HostProxyError('QUEUE_FULL', 'x'))).toBe(503);
    expect(httpStatusFor(new HostProxyError('ENCLAVE_PROTOCOL', 'x'))).toBe(500);
    expect(httpStatusFor(new Error('x'))).toBe(500);
    expect([400, 401, 403, 413, 422, 429, 500, 503].map(categoryOfStatus)).toEqual(['input', 'rejected', 'rejected', 'input', 'input', 'unavailable', 'internal', 'unavailable']);
  });

  it('static tokens match by hash only', () => {
    const t = new StaticTokens([{ name: 'ci', sha256: hashToken('s3cret'), identities: ['*'], environments: ['*'], repositories: ['*'] }]);
    expect(t.lookup('s3cret')?.name).toBe('ci');
    expect(t.lookup('s3cret ')).toBeUndefined();
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('GitHub OIDC with a remote JWKS (loopback server)', () => {
  it('fetches the keys over http on loopback, and answers 503 when the JWKS cannot be fetched', async () => {
    const kit = await oidcKit();
    let up = true;
    const server = http.createServer((_req, res) => {
      if (!up) {
        res.writeHead(500).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(kit.jwks));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
    try {
      const config = { issuer: 'https://token.actions.githubusercontent.com', audience: 'attested-pack', jwksUrl: url, clockToleranceSeconds: 0, allow: [{ repository: 'org/repo', repositoryId: repoId('org/repo'), eventNames: ['push'], anyCommit: false, identities: ['*'], environments: ['*'] }] };
      const ok = await GithubOidcVerifier.create(config);
      expect((await ok.authenticate(await kit.sign(githubClaims('org/repo')))).repository).toBe('org/repo');
      up = false;
      const fresh = await GithubOidcVerifier.create(config);
      const err = await fresh.authenticate(await kit.sign(githubClaims('org/repo'))).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'AUTH_JWKS_UNAVAILABLE' });
      expect(httpStatusFor(err)).toBe(503);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
