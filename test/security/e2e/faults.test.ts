/**
 * Faults and a hostile host on the whole chain in simulation (KMS simulator fault knobs, the
 * enclave child, the host proxy, the pack client), each with the outcome the design promises:
 * - KMS throttling: the enclave's SDK retries, the pack succeeds;
 * - KMS 500s: retried; when every call fails the client gets 503 KMS_UNAVAILABLE with Retry-After;
 * - a stalled KMS: KMS_TIMEOUT from the enclave's KMS port within its budget (per-attempt timeout ×
 *   attempts; pipeline-level here, see SECURITY.md for why);
 * - the enclave killed mid-pack: 503 ENCLAVE_UNAVAILABLE, the client writes nothing, the next pack
 *   succeeds once the enclave is back;
 * - the host proxy restarted while a client waits: the documented retry policy (drained packs are
 *   answered; refused or reset connections are retried) — tested attempt by attempt;
 * - the disk full while the client writes the artifact: no partial or temporary file is left;
 * - a hostile host (it runs the proxy and owns the enclave's transport): it cannot get user_data of
 *   its choosing attested, cannot turn a pre-flight attestation document into a receipt, cannot
 *   redirect secrets to its own envelope with its own clef.yaml, and a client verifying with
 *   measurements refuses replayed, swapped or fabricated answers.
 * No test asserts a duration: every wait is bounded by the test's own timeout.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isAttestedPackError } from '../../../common/errors.js';
import { pcr3ForRoleArn } from '../../../attestation/pcr.js';
import { claimsDigest, parseReceipt, trustedRootFromPem, verifyReceipt } from '../../../attestation/index.js';
import { RpcClient, connectTransport } from '../../../vsock/index.js';
import { runPackClient, type PackClientOptions } from '../../../host-proxy/index.js';
import { KmsConnection } from '../../../enclave-app/kms/client.js';
import { runPack } from '../../../enclave-app/pack/pipeline.js';
import { RecipientKeyRing } from '../../../enclave-app/pack/recipient-keys.js';
import type { PackRequest } from '../../../enclave-app/protocol.js';
import { repoRoot } from '../support.js';
import { postPack, startChain, type ChainWorld } from './harness.js';

let world: ChainWorld;
beforeAll(async () => {
  world = await startChain({ concurrency: 2, logLevel: 'info' });
}, 120_000);
afterAll(() => world?.close());
afterEach(() => world?.sim.kms.setFaults({}));

async function auditErrors(): Promise<string[]> {
  await world.sim.kms.audit.flush();
  return readFileSync(world.sim.kms.auditLogPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { errorCode?: string }).errorCode ?? 'ok');
}

/** Resolves once the load proxy reports a pack in flight to the enclave. */
async function packInFlight(): Promise<void> {
  for (;;) {
    const metrics = await (await fetch(`${world.url}/metrics`)).text();
    if (/^attested_pack_proxy_enclave_in_flight\S* [1-9]/m.test(metrics)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function clientOptions(out: string, extra: Partial<PackClientOptions> = {}): PackClientOptions {
  return {
    proxy: world.url,
    identity: 'api-gateway',
    environment: 'production',
    repoDir: world.sim.repo.dir,
    out: path.join(out, 'artifact.json'),
    receipt: path.join(out, 'receipt.json'),
    token: world.token,
    signing: 'kms',
    repository: 'example/demo-secrets',
    retries: 0,
    timeoutMs: 60_000,
    ...extra,
  };
}

async function rejection(p: Promise<unknown>): Promise<{ code: string; details: Record<string, unknown> | undefined; category: string }> {
  try {
    await p;
  } catch (err) {
    expect(isAttestedPackError(err), String(err)).toBe(true);
    const e = err as { code: string; details?: Record<string, unknown>; category: string };
    return { code: e.code, details: e.details, category: e.category };
  }
  throw new Error('expected a rejection');
}

describe('KMS faults', () => {
  it('throttling: the enclave retries ThrottlingException and the pack succeeds', async () => {
    const before = (await auditErrors()).length;
    world.sim.kms.setFaults({ throttleEveryN: 2 });
    const r = await postPack(world, await world.body());
    expect(r.status, r.text).toBe(200);
    const events = (await auditErrors()).slice(before);
    expect(events.filter((e) => e === 'ThrottlingException').length).toBeGreaterThan(0);
    console.log(`faults: KMS throttled ${events.filter((e) => e === 'ThrottlingException').length}× during one pack (${events.length} KMS calls); the pack succeeded`);
  });

  it('500s: retried when intermittent; when every call fails, 503 KMS_UNAVAILABLE with Retry-After and no artifact', async () => {
    world.sim.kms.setFaults({ failEveryN: 2 });
    expect((await postPack(world, await world.body())).status).toBe(200);
    world.sim.kms.setFaults({ failEveryN: 1 });
    const r = await postPack(world, await world.body());
    expect(r.status, r.text).toBe(503);
    expect((r.json as { error: { code: string } }).error.code).toBe('KMS_UNAVAILABLE');
    expect(r.json).not.toHaveProperty('artifact');
    const res = await fetch(`${world.url}/v1/pack`, { method: 'POST', headers: { authorization: `Bearer ${world.token}`, 'content-type': 'application/json' }, body: JSON.stringify(await world.body()) });
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
  });

  it('a stalled KMS: KMS_TIMEOUT within the configured budget (per-attempt timeout × attempts), not a hang', async () => {
    // The pipeline with the enclave's own KMS port, given a short budget: 2 attempts of 400 ms.
    const sim = world.sim;
    const m = sim.measured.measurements;
    const body = await world.body('api-gateway', 'production', 'none');
    const request: PackRequest = {
      identity: body.identity,
      environment: body.environment,
      commit: body.commit,
      repository: body.repository,
      nonce: new Uint8Array(Buffer.from(body.nonce, 'hex')),
      requestedBy: 'faults-test',
      manifest: { path: body.manifest.path, content: new Uint8Array(Buffer.from(body.manifest.content, 'base64')) },
      files: body.files.map((f) => ({ path: f.path, content: new Uint8Array(Buffer.from(f.content, 'base64')) })),
      options: { signing: 'none' },
      credentials: sim.enclaveCredentials,
    };
    const connection = new KmsConnection({ mode: 'simulated', endpoint: sim.kms.endpoint, timeoutMs: 400, maxAttempts: 2 });
    const keys = new RecipientKeyRing();
    try {
      const ports = {
        kms: connection.forCredentials(sim.enclaveCredentials),
        // PCR3 as the hypervisor reports it for the parent role: the rendered key policies pin it.
        nsm: { attest: (r: { userData?: Uint8Array; nonce?: Uint8Array; publicKey?: Uint8Array }) => sim.pki.attest({ pcrs: { 0: m.PCR0, 1: m.PCR1, 2: m.PCR2, 3: pcr3ForRoleArn(sim.deployment.config.parentRoleArn) }, userData: r.userData ?? null, nonce: r.nonce ?? null, publicKey: r.publicKey ?? null }) },
        recipientKeys: keys,
        signing: {},
        now: Date.now,
        toolVersion: 'faults-test',
      };
      // Sanity: the same ports pack when KMS answers.
      await expect(runPack({ ...request, nonce: new Uint8Array(32).fill(1) }, ports)).resolves.toHaveProperty('artifact');
      sim.kms.setFaults({ stall: true });
      const e = await rejection(runPack(request, ports));
      expect(e.code).toBe('KMS_TIMEOUT');
      expect(e.category).toBe('unavailable');
    } finally {
      keys.clear();
      connection.destroy();
    }
  });
});

describe('enclave killed mid-pack', () => {
  it('503 ENCLAVE_UNAVAILABLE, the client writes no artifact, receipt or temp file; the next pack succeeds once the enclave is back', async () => {
    const out = path.join(world.dir, 'killed');
    mkdirSync(out, { recursive: true });
    // KMS stalls, so the pack is inside the enclave (request accepted, no answer) when it dies.
    world.sim.kms.setFaults({ stall: true });
    const client = runPackClient(clientOptions(out), { env: {} });
    const outcome = rejection(client);
    await packInFlight();
    process.kill(world.sim.enclave.pid, 'SIGKILL');
    await world.sim.enclave.exited;
    const e = await outcome;
    expect(e.code).toBe('ENCLAVE_UNAVAILABLE');
    expect(e.details?.status).toBe(503);
    expect(readdirSync(out)).toEqual([]);

    world.sim.kms.setFaults({});
    await world.sim.restartEnclave();
    const ok = await runPackClient(clientOptions(out), { env: {} });
    expect(ok.attempts).toBe(1);
    expect(readdirSync(out).sort()).toEqual(['artifact.json', 'receipt.json']);
    expect(createHash('sha256').update(readFileSync(path.join(out, 'artifact.json'))).digest('hex')).toBe(ok.artifactSha256);
  }, 120_000);
});

describe('host proxy restarted while a client waits (retry policy)', () => {
  it('graceful restart: the pack in flight is drained and answered; the client writes it (1 attempt)', async () => {
    const out = path.join(world.dir, 'graceful');
    world.sim.kms.setFaults({ latencyMs: 300 });
    const client = runPackClient(clientOptions(out, { retries: 2 }), { env: {} });
    await packInFlight();
    await world.stopProxy('graceful');
    await world.startProxy();
    const result = await client;
    expect(result.attempts).toBe(1);
    expect(existsSync(result.output)).toBe(true);
  }, 120_000);

  it('proxy down when the client sends: connection refused is retried after the backoff, and succeeds once the proxy is back', async () => {
    const out = path.join(world.dir, 'refused');
    await world.stopProxy('graceful');
    const waits: number[] = [];
    const result = await runPackClient(clientOptions(out, { retries: 2 }), {
      env: {},
      random: () => 0.5,
      // The backoff wait is where the operator's restart lands.
      sleep: async (ms) => {
        waits.push(ms);
        await world.startProxy();
      },
    });
    expect(result.attempts).toBe(2);
    expect(waits).toEqual([1000]); // 2^0 s, jitter factor 1.0 at random() = 0.5
    expect(existsSync(result.output)).toBe(true);
  }, 120_000);

  it('hard restart mid-pack: the reset connection is retried (policy: connection failures before an answer), the retry succeeds', async () => {
    const out = path.join(world.dir, 'reset');
    world.sim.kms.setFaults({ latencyMs: 300 });
    let restarted = false;
    const client = runPackClient(clientOptions(out, { retries: 2 }), {
      env: {},
      sleep: async () => {
        if (!restarted) await world.startProxy();
        restarted = true;
      },
    });
    await packInFlight();
    await world.stopProxy('hard');
    const result = await client;
    expect(restarted).toBe(true);
    expect(result.attempts).toBe(2);
    expect(existsSync(result.output)).toBe(true);
  }, 120_000);

  it('no retry for answers that will not change: a 4xx ends the client at once', async () => {
    const out = path.join(world.dir, 'forbidden');
    let slept = 0;
    const e = await rejection(runPackClient(clientOptions(out, { retries: 4, token: 'apsec_wrong' }), { env: {}, sleep: async () => void slept++ }));
    expect(e.code).toMatch(/^AUTH_/);
    expect(slept).toBe(0);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Disk full: the real `attested-pack pack` binary, its writes failing.

function tryMountTinyTmpfs(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs the pack CLI with `ulimit -f <blocks>` (512-byte blocks; node ignores SIGXFSZ, so writes fail with EFBIG). */
function packCli(out: string, fsizeBlocks?: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const args = [
    path.join(repoRoot, 'bin', 'attested-pack.mjs'), 'pack', '--proxy', world.url, '--identity', 'api-gateway', '--environment', 'production',
    '--repo', world.sim.repo.dir, '--repository', 'example/demo-secrets', '--out', path.join(out, 'artifact.json'), '--receipt', path.join(out, 'receipt.json'),
    // This world runs without a sealed key (sealedSigning: false): ask for KMS signing, not the default.
    '--retries', '0', '--signing', 'kms', '--json',
  ];
  const shell = fsizeBlocks === undefined ? 'exec "$0" "$@"' : `ulimit -f ${fsizeBlocks} && exec "$0" "$@"`;
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', shell, process.execPath, ...args], {
      // GIT_OPTIONAL_LOCKS=0: `git status` does not rewrite the index, so the size limit hits only the client's own writes.
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ATTESTED_PACK_TOKEN: world.token, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', GIT_OPTIONAL_LOCKS: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('disk full while the client writes the artifact', () => {
  it('the artifact write fails (EFBIG): non-zero exit, no new artifact, no receipt, no temp file; an existing artifact is untouched', async () => {
    const out = path.join(world.dir, 'efbig');
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'artifact.json'), 'previous artifact\n');
    const r = await packCli(out, 1);
    expect(r.code, r.stderr).not.toBe(0);
    const error = (JSON.parse(r.stdout) as { error: { code: string } }).error;
    // It failed while writing, not before: the pack itself went through.
    expect(error.code).not.toMatch(/^GIT_|^ENCLAVE_|^AUTH_/);
    expect(readdirSync(out)).toEqual(['artifact.json']);
    expect(readFileSync(path.join(out, 'artifact.json'), 'utf8')).toBe('previous artifact\n');
    console.log(`faults: artifact write failing with EFBIG → exit ${r.code}, error ${error.code}; no partial or temporary file left`);
  }, 120_000);

  it('host-proxy/client: a failed artifact write is a typed error naming the file (was INTERNAL, exit 4)', async () => {
    const out = path.join(world.dir, 'efbig-code');
    mkdirSync(out, { recursive: true });
    const r = await packCli(out, 1);
    const error = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
    expect(error.code).not.toBe('INTERNAL');
    expect(r.code).not.toBe(4);
    expect(error.message).toContain('artifact.json');
  }, 120_000);

  it('host-proxy/client: when the receipt cannot be written, the previous artifact/receipt pair survives (was: a new artifact next to the old receipt)', async () => {
    const out = path.join(world.dir, 'receipt-fails');
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'artifact.json'), 'previous artifact\n');
    writeFileSync(path.join(out, 'receipt.json'), 'previous receipt\n');
    // 8 blocks = 4096 bytes: room for the artifact (~1.5 KB), not for the receipt (~8 KB with its attestation document).
    const r = await packCli(out, 8);
    expect(r.code, r.stderr).not.toBe(0);
    expect(readdirSync(out).sort()).toEqual(['artifact.json', 'receipt.json']);
    expect(readFileSync(path.join(out, 'receipt.json'), 'utf8')).toBe('previous receipt\n');
    expect(readFileSync(path.join(out, 'artifact.json'), 'utf8')).toBe('previous artifact\n');
  }, 120_000);

  it('a full tmpfs (ENOSPC, when this host lets the test mount one): no partial or temporary file', async () => {
    const mnt = path.join(world.dir, 'tiny');
    const mounted = tryMountTinyTmpfs(mnt);
    try {
      if (mounted) {
        // Fill it: not one page is left for the artifact's temporary file.
        writeFileSync(path.join(mnt, 'filler'), Buffer.alloc(16 * 1024));
      }
      const target = mounted ? mnt : path.join(world.dir, 'tiny-fallback');
      mkdirSync(target, { recursive: true });
      const before = readdirSync(target).sort();
      // Without a mount, the same failure is forced with a 512-byte file size limit.
      const r = await packCli(target, mounted ? undefined : 1);
      expect(r.code, r.stderr).not.toBe(0);
      expect((JSON.parse(r.stdout) as { error: { code: string } }).error.code).not.toMatch(/^GIT_|^ENCLAVE_|^AUTH_/);
      expect(readdirSync(target).sort()).toEqual(before);
      console.log(`faults: ${mounted ? 'ENOSPC on a 16 KiB tmpfs' : 'EFBIG (no tmpfs mount allowed here)'} → exit ${r.code}; no partial or temporary file left`);
    } finally {
      if (mounted) execFileSync('umount', [mnt], { stdio: 'ignore' });
    }
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// A hostile host: it runs the proxy and owns the enclave's transport.

/** A loopback "proxy" that forwards to the real one and lets `rewrite` change the answer. */
async function tamperingProxy(rewrite: (answer: { artifact: string; receipt: Record<string, unknown> }) => Promise<unknown> | unknown): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const upstream = await fetch(`${world.url}${req.url ?? '/'}`, {
          method: req.method ?? 'POST',
          headers: { authorization: String(req.headers.authorization ?? ''), 'content-type': 'application/json' },
          body: Buffer.concat(chunks),
        });
        const answer = (await upstream.json()) as { artifact: string; receipt: Record<string, unknown> };
        const body = JSON.stringify(upstream.status === 200 ? await rewrite(answer) : answer);
        res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(body);
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, server };
}

describe('a hostile host', () => {
  const verifying = (out: string, proxy: string): PackClientOptions =>
    clientOptions(out, { proxy, measurements: world.sim.measured.measurementsPath, roots: [world.sim.paths.nsmRootPem] });

  it('cannot get user_data of its choosing attested: an attest frame sent straight to the enclave with userData is refused', async () => {
    const rpc = await RpcClient.connect(await connectTransport(`unix://${world.sim.paths.enclaveSocket}`, { timeoutMs: 10_000 }), { client: 'hostile-host', versions: [1] });
    try {
      const receipt = parseReceipt((await postPack(world, await world.body())).json.receipt);
      const e = await rejection(rpc.request('attest', { nonce: new Uint8Array(32), userData: claimsDigest(receipt.claims) }));
      expect(e.code).toBe('PACK_BAD_REQUEST');
    } finally {
      await rpc.close();
    }
  });

  it('cannot turn a pre-flight attestation document into a receipt (RECEIPT_BINDING_MISMATCH)', async () => {
    const body = await world.body();
    const receipt = parseReceipt((await postPack(world, body)).json.receipt);
    const res = await fetch(`${world.url}/v1/attestation?nonce=${body.nonce}`, { headers: { authorization: `Bearer ${world.token}` } });
    const { document } = (await res.json()) as { document: string };
    const m = world.sim.measured.measurements;
    const e = await rejection(
      verifyReceipt({ ...receipt, attestation: document }, {
        trustedRoots: [trustedRootFromPem(readFileSync(world.sim.paths.nsmRootPem, 'utf8'))],
        at: Date.now(),
        expectedPcrs: { 0: m.PCR0, 1: m.PCR1, 2: m.PCR2 },
        expectedNonce: body.nonce,
      }),
    );
    expect(e.code).toBe('RECEIPT_BINDING_MISMATCH');
  });

  it('cannot redirect secrets with its own clef.yaml: an envelope the enclave was not configured for is refused before any decryption', async () => {
    const body = await world.body();
    const manifest = Buffer.from(body.manifest.content, 'base64').toString('utf8');
    const wrap = world.sim.keys.wrap;
    expect(manifest).toContain(`production: {kms: {provider: aws, keyId: "${wrap}"}}`);
    const attackerKms = wrap.replace(/key\/.*$/, 'key/00000000-0000-4000-8000-0000000000aa');
    const attackerAge = 'age1u3f65fwaf9gewws8hqwlcfsmh3sckxwzlzr5e4dsnjz6emn8g3eqjrmxwk';
    for (const envelope of [`{kms: {provider: aws, keyId: "${attackerKms}"}}`, `{recipient: ${attackerAge}}`]) {
      const hostile = manifest.replace(`production: {kms: {provider: aws, keyId: "${wrap}"}}`, `production: ${envelope}`);
      const before = (await auditErrors()).length;
      const r = await postPack(world, { ...body, nonce: body.nonce, manifest: { ...body.manifest, content: Buffer.from(hostile).toString('base64') } });
      expect(r.status, r.text).toBe(403);
      expect((r.json as { error: { code: string } }).error.code).toBe('PACK_WRAP_TARGET_REFUSED');
      expect(r.json).not.toHaveProperty('artifact');
      // Refused before any KMS call: no data key was even decrypted.
      expect((await auditErrors()).length).toBe(before);
    }
  });

  it('a replayed answer (an earlier pack) is refused by the client (NONCE_MISMATCH); nothing is written', async () => {
    const earlier = (await postPack(world, await world.body())).json as { artifact: string; receipt: Record<string, unknown> };
    const out = path.join(world.dir, 'replayed');
    const { url, server } = await tamperingProxy(() => earlier);
    try {
      expect((await rejection(runPackClient(verifying(out, url), { env: {} }))).code).toBe('NONCE_MISMATCH');
      expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
    } finally {
      server.close();
    }
  });

  it('a swapped artifact (another pack\'s, with this pack\'s receipt) is refused (RECEIPT_MISMATCH); nothing is written', async () => {
    const other = (await postPack(world, await world.body())).json as { artifact: string };
    const out = path.join(world.dir, 'swapped');
    const { url, server } = await tamperingProxy((answer) => ({ ...answer, artifact: other.artifact }));
    try {
      expect((await rejection(runPackClient(verifying(out, url), { env: {} }))).code).toBe('RECEIPT_MISMATCH');
      expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
    } finally {
      server.close();
    }
  });

  it('fabricated claims (the host\'s own artifact, its hash in the claims) are refused by a client verifying with measurements (RECEIPT_BINDING_MISMATCH)', async () => {
    const other = (await postPack(world, await world.body())).json as { artifact: string };
    const out = path.join(world.dir, 'fabricated');
    const { url, server } = await tamperingProxy((answer) => {
      const receipt = structuredClone(answer.receipt) as { claims: { artifact: { sha256: string } } };
      receipt.claims.artifact.sha256 = createHash('sha256').update(Buffer.from(other.artifact, 'base64')).digest('hex');
      return { artifact: other.artifact, receipt };
    });
    try {
      expect((await rejection(runPackClient(verifying(out, url), { env: {} }))).code).toBe('RECEIPT_BINDING_MISMATCH');
      expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
    } finally {
      server.close();
    }
  });
});
