/**
 * The host proxy's CPU per pack request on its own: bench/proxy-child.ts in its own process, an
 * enclave stand-in on a unix socket that answers every pack with the same artifact and receipt
 * (sizes of a 2 files × 10 keys pack), and this process as the HTTP client. /proc of the proxy
 * child only, so neither the enclave's nor the client's work blurs it, and batches long enough to
 * resolve a few per cent (the pack benchmark's 100-pack batches resolve 0.1 ms).
 *
 *   npx tsx bench/proxy-alone.ts [--warm 2000] [--requests 500] [--batches 5] [--delay-ms 0]
 *
 * `--delay-ms` makes the stand-in answer late, as the real enclave does (~7 ms of work per pack);
 * the proxy then idles between requests and each costs more CPU (cold caches, wake-ups). To
 * compare two versions, run this file in each checkout, alternating.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hashToken } from '../host-proxy/index.js';
import { listenTransport, serveRpc } from '../vsock/index.js';
import { repoRoot } from './paths.js';
import { processCpuMs, stopChild } from './proc.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} must be a number ≥ 0`);
  return v;
}

const warm = flag('warm', 2000);
const requests = Math.max(1, flag('requests', 500));
const batches = Math.max(1, flag('batches', 5));
const delayMs = flag('delay-ms', 0);

const dir = await mkdtemp(path.join(tmpdir(), 'ap-proxy-alone-'));
const socketPath = path.join(dir, 'enclave.sock');
const b64 = (n: number): string => randomBytes(n).toString('base64');
const hex = (n: number): string => randomBytes(n).toString('hex');

// What a small pack's answer weighs: a ~3.3 KB artifact and a ~6.7 KB pretty-printed receipt.
const artifact = new Uint8Array(randomBytes(3300));
const receipt = new Uint8Array(
  Buffer.from(
    JSON.stringify(
      {
        receiptVersion: 1,
        claims: {
          type: 'attested-pack/receipt-claims/v1',
          request: { identity: 'bench', environment: 'production', commit: hex(20), repository: 'example/bench', nonce: hex(32), requestedBy: 'bench' },
          inputs: ['clef.yaml', 'secrets/a/production.enc.yaml', 'secrets/b/production.enc.yaml'].map((p) => ({ path: p, sha256: hex(32), gitBlobId: hex(20) })),
          keys: { source: [`arn:aws:kms:us-east-1:111122223333:key/${hex(16)}`], wrap: null, ageRecipients: [], sign: null, seal: null, signingPublicKey: b64(44) },
          artifact: { sha256: hex(32), revision: '20260101000000000-abcd', ciphertextHash: hex(32), keyCount: 20, namespaces: ['a', 'b'], signatureAlgorithm: 'Ed25519' },
          tool: { name: 'attested-pack', version: 'bench' },
          time: new Date(0).toISOString(),
        },
        attestation: b64(4600),
      },
      null,
      2,
    ) + '\n',
  ),
);

const enclave = await listenTransport(`unix://${socketPath}`, (stream) => {
  serveRpc(
    stream,
    {
      pack: async () => {
        if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
        return { artifact, receipt };
      },
      health: () => ({ status: 'ok', version: 'bench', inFlight: 0, signingReady: true }),
    },
    { versions: [1], server: 'proxy-alone stand-in', maxConcurrent: 16 },
  );
});

const token = `bench_${randomBytes(16).toString('hex')}`;
const config = {
  listen: '127.0.0.1:0',
  enclave: { url: `unix://${socketPath}`, concurrency: 1, queueSize: 4 },
  limits: { rateLimit: { requestsPerMinute: 1_000_000, burst: 1_000_000 } },
  auth: { tokens: [{ name: 'bench', sha256: hashToken(token), identities: ['bench'], environments: ['production'], repositories: '*' }] },
  credentials: { source: 'static', accessKeyId: 'AKIABENCHPROXYALONE0', secretAccessKey: b64(30), region: 'us-east-1' },
  log: { level: 'silent' },
};
const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'bench', 'proxy-child.ts')], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'inherit'] });
const exited = once(child, 'exit');
child.stdin!.end(JSON.stringify(config) + '\n');
const url = await new Promise<string>((resolve, reject) => {
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString('utf8');
    const line = out.split('\n').find((l) => l.startsWith('{'));
    if (line) resolve((JSON.parse(line) as { url: string }).url);
  });
  child.once('exit', (code) => reject(new Error(`host-proxy child exited (${code}) before listening`)));
});
child.stdout!.resume();

const files = [
  { path: 'secrets/a/production.enc.yaml', content: b64(2000) },
  { path: 'secrets/b/production.enc.yaml', content: b64(2000) },
];
const manifest = { path: 'clef.yaml', content: b64(600) };
async function onePack(): Promise<void> {
  const body = JSON.stringify({ identity: 'bench', environment: 'production', commit: hex(20), repository: 'example/bench', manifest, files, options: { signing: 'sealed' }, nonce: hex(32) });
  const res = await fetch(`${url}/v1/pack`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`pack answered HTTP ${res.status}: ${text.slice(0, 300)}`);
}

try {
  for (let i = 0; i < warm; i++) await onePack();
  const perRequest: number[] = [];
  for (let b = 0; b < batches; b++) {
    const c0 = processCpuMs(child.pid!);
    for (let i = 0; i < requests; i++) await onePack();
    perRequest.push((processCpuMs(child.pid!) - c0) / requests);
  }
  const sorted = [...perRequest].sort((x, y) => x - y);
  process.stdout.write(
    `host-proxy CPU per pack request after ${warm} warm-up requests, answers after ${delayMs} ms: ` +
      `median ${sorted[sorted.length >> 1]!.toFixed(3)} ms (batches of ${requests}, in order: ${perRequest.map((x) => x.toFixed(3)).join(', ')})\n`,
  );
} finally {
  await stopChild(child, exited);
  await enclave.close();
  await rm(dir, { recursive: true, force: true });
}
