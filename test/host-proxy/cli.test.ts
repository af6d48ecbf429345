/**
 * The built CLI (dist/, made by the test global setup) as CI runs it: `attested-pack pack`
 * exit codes and output, and `attested-pack host-proxy` start-up, refusal and graceful stop.
 */
import { execFile, spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../host-proxy/server.js';
import { FakeEnclave, TOKEN, testConfig } from './helpers.js';
import { git, makeClefRepo } from './clef-repo.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'bin', 'attested-pack.mjs');

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

let dir: string;
let repo: string;
let proxy: FastifyInstance;
let proxyUrl: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hp-cli-'));
  repo = join(dir, 'repo');
  await mkdir(repo);
  await makeClefRepo(repo);
  proxy = await buildServer(testConfig({ limits: { rateLimit: { requestsPerMinute: 1000, burst: 1000 } } }), { enclave: new FakeEnclave() });
  await proxy.listen({ host: '127.0.0.1', port: 0 });
  proxyUrl = `http://127.0.0.1:${(proxy.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await proxy.close();
  await rm(dir, { recursive: true, force: true });
});

describe('attested-pack pack (built CLI)', () => {
  it('exit 0: writes the artifact and receipt, prints JSON, progress on stderr, token from the environment', async () => {
    const r = await run(['pack', '--proxy', proxyUrl, '--identity', 'api', '--environment', 'dev', '--repo', repo, '--json'], { ATTESTED_PACK_TOKEN: TOKEN });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ ok: true, identity: 'api', environment: 'dev', output: join(repo, '.clef/packed/api/dev.age.json'), verified: false });
    expect(JSON.parse(await readFile(out.receipt, 'utf8')).receiptVersion).toBe(1);
    expect(r.stderr).toContain('attested-pack: read clef.yaml and 2 file(s)');
    expect(r.stderr).toContain('attested-pack: warning: the receipt was NOT verified cryptographically (no --measurements)');
    expect(r.stderr).not.toContain(TOKEN);
    git(repo, 'clean', '-qfdx');
  });

  it('exit 2 when a committed symlink would move the default output outside the checkout; --out chosen by the caller still works', async () => {
    // The attack: the repository's author commits `.clef/packed -> ../../outside`.
    await mkdir(join(repo, '.clef'), { recursive: true });
    await symlink('../../outside', join(repo, '.clef', 'packed'));
    git(repo, 'add', '.clef/packed');
    git(repo, 'commit', '-q', '-m', 'link');
    await mkdir(join(dir, 'outside'));
    try {
      const r = await run(['pack', '--proxy', proxyUrl, '--identity', 'api', '--environment', 'dev', '--repo', repo, '--json'], { ATTESTED_PACK_TOKEN: TOKEN });
      expect(r.code, r.stderr + r.stdout).toBe(2);
      const e = JSON.parse(r.stdout) as { error: { code: string; message: string } };
      expect(e.error.code).toBe('OUTPUT_OUTSIDE_REPO');
      expect(e.error.message).toContain(join(dir, 'outside'));
      expect(await readdir(join(dir, 'outside'))).toEqual([]);
      // An explicit --out is the CI owner's choice, wherever it points.
      const out = join(dir, 'outside', 'chosen.json');
      const ok = await run(['pack', '--proxy', proxyUrl, '--identity', 'api', '--environment', 'dev', '--repo', repo, '--out', out, '--json'], { ATTESTED_PACK_TOKEN: TOKEN });
      expect(ok.code, ok.stderr + ok.stdout).toBe(0);
      expect((await readdir(join(dir, 'outside'))).sort()).toEqual(['chosen.json', 'chosen.json.receipt.json']);
    } finally {
      git(repo, 'reset', '-q', '--hard', 'HEAD~1');
      await rm(join(dir, 'outside'), { recursive: true, force: true });
    }
  });

  it('exit 2 for a dirty tree, with the cause and a hint', async () => {
    await writeFile(join(repo, 'clef.yaml'), '# edited\n', { flag: 'a' });
    const r = await run(['pack', '--proxy', proxyUrl, '--identity', 'api', '--environment', 'dev', '--repo', repo, '--token', TOKEN]);
    git(repo, 'checkout', '--', 'clef.yaml');
    expect(r.code, r.stderr + r.stdout).toBe(2);
    expect(r.stderr).toContain('error [DIRTY_TREE]');
    expect(r.stderr).toContain('hint:');
  });

  it('exit 1 when the receipt nonce is not ours', async () => {
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const b = JSON.parse(body) as Record<string, unknown>;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ artifact: 'e30=', receipt: { receiptVersion: 1, claims: { request: { ...b, nonce: '00'.repeat(32) }, artifact: {} } } }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const r = await run(['pack', '--proxy', url, '--identity', 'api', '--environment', 'dev', '--repo', repo, '--json']);
    await new Promise((res) => server.close(res));
    expect(r.code, r.stderr + r.stdout).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'NONCE_MISMATCH' } });
  });

  it('exit 3 when the proxy is unreachable; exit 2 for bad flags', async () => {
    const r = await run(['pack', '--proxy', 'http://127.0.0.1:1', '--identity', 'api', '--environment', 'dev', '--repo', repo, '--retries', '0']);
    expect(r.code, r.stderr + r.stdout).toBe(3);
    expect(r.stderr).toContain('error [PROXY_UNREACHABLE]');
    const bad = await run(['pack', '--proxy', proxyUrl, '--identity', 'api', '--environment', 'dev', '--repo', repo, '--signing', 'hmac']);
    expect(bad.code, bad.stderr).toBe(2);
    expect(bad.stderr).toContain('--signing must be kms, sealed or none');
  });
});

describe('attested-pack host-proxy (built CLI)', () => {
  it('refuses to start without auth (exit 2)', async () => {
    const r = await run(['host-proxy']);
    expect(r.code, r.stderr + r.stdout).toBe(2);
    expect(r.stderr).toContain('error [PROXY_NO_AUTH]');
    expect(r.stderr).toContain('--insecure-local');
  });

  it('starts, answers /healthz, and stops gracefully on SIGTERM with exit 0', async () => {
    const child = spawn(process.execPath, [bin, 'host-proxy', '--insecure-local', '--json'], {
      env: { PATH: process.env.PATH ?? '', ATTESTED_PACK_PROXY_LISTEN: '127.0.0.1:0', ATTESTED_PACK_PROXY_ENCLAVE_URL: `unix://${join(dir, 'none.sock')}`, ATTESTED_PACK_PROXY_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const nl = stdout.indexOf('\n');
        if (nl >= 0) resolve(stdout.slice(0, nl));
      });
      child.once('exit', (code) => reject(new Error(`exited early with ${code}`)));
    });
    const info = JSON.parse(line) as { url: string; relay: string | null };
    expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(info.relay).toBeNull();
    const health = await fetch(`${info.url}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${info.url}/readyz`);
    expect(ready.status).toBe(503);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
