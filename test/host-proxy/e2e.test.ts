/**
 * End to end, no test doubles: the pack client → HTTP → host proxy (startHostProxy) → unix
 * transport → enclave-app server (simulated NSM) → KMS simulator (real SDK, SigV4, key
 * policies keyed on the measurements), on the demo Clef repository committed with git.
 * The client verifies the receipt against measurements.json and the simulated root before it
 * writes anything; a different measurements.json is refused and nothing is written.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { EncryptCommand } from '@aws-sdk/client-kms';
import { encryptSops, sopsMap } from '../../enclave-app/sops/index.js';
import { git } from './clef-repo.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEnclaveServer, type EnclaveServer } from '../../enclave-app/server.js';
import { parseProxyConfig } from '../../host-proxy/config.js';
import { startHostProxy, type HostProxyHandle } from '../../host-proxy/start.js';
import { runPackClient } from '../../host-proxy/client/pack-client.js';
import { parseReceipt } from '../../attestation/index.js';
import { DEMO_SECRETS } from '../../simulator/demo-repo.js';
import { createWorld, randomMeasurements, type World } from '../enclave-app/pack/world.js';
import { LogCapture, TOKEN, TOKEN_SHA256 } from './helpers.js';

let world: World;
let enclave: EnclaveServer;
let proxy: HostProxyHandle;
const proxyLog = new LogCapture();
let measurementsFile: string;
let rootFile: string;

beforeAll(async () => {
  world = await createWorld();
  enclave = await startEnclaveServer({
    listen: `unix://${join(world.dir, 'enclave.sock')}`,
    nsm: world.nsmFor(world.measurements),
    kms: world.kmsConnection(),
    toolVersion: '0.1.0-e2e',
  });
  const config = parseProxyConfig(
    {
      listen: '127.0.0.1:0',
      enclave: { url: `unix://${join(world.dir, 'enclave.sock')}` },
      auth: { tokens: [{ name: 'ci-e2e', sha256: TOKEN_SHA256, identities: ['api-gateway'], environments: ['production'], repositories: '*' }] },
      credentials: { source: 'static', region: 'us-east-1', accessKeyId: world.enclaveCredentials.accessKeyId, secretAccessKey: world.enclaveCredentials.secretAccessKey },
      log: { level: 'debug' },
    },
    { source: 'e2e' },
  );
  proxy = await startHostProxy(config, { logStream: proxyLog });
  measurementsFile = join(world.dir, 'measurements.json');
  await writeFile(measurementsFile, JSON.stringify(world.measurements));
  rootFile = join(world.dir, 'sim-root.pem');
  await writeFile(rootFile, world.pki.rootPem());
});
afterAll(async () => {
  await proxy?.close();
  await enclave?.close();
  await world?.close();
});

describe('end to end through the host proxy', () => {
  it('packs, verifies the receipt against the measurements, and writes artifact and receipt', async () => {
    const progress: string[] = [];
    const result = await runPackClient(
      {
        proxy: proxy.url,
        identity: 'api-gateway',
        environment: 'production',
        repoDir: world.repo.dir,
        token: TOKEN,
        repository: 'example/demo',
        measurements: measurementsFile,
        roots: [rootFile],
      },
      { env: {}, progress: (l) => progress.push(l) },
    );
    expect(result).toMatchObject({ commit: world.repo.commit, verified: true, repository: 'example/demo' });
    expect(result.output).toBe(join(world.repo.dir, '.clef', 'packed', 'api-gateway', 'production.age.json'));
    const artifact = await readFile(result.output);
    const receipt = parseReceipt(await readFile(result.receipt, 'utf8'));
    expect(receipt.claims.artifact.sha256).toBe(createHash('sha256').update(artifact).digest('hex'));
    expect(receipt.claims.request).toMatchObject({ identity: 'api-gateway', environment: 'production', commit: world.repo.commit, requestedBy: 'ci-e2e' });
    expect(receipt.claims.inputs.map((i) => i.path)).toEqual(expect.arrayContaining(['clef.yaml', 'secrets/payments/production.enc.yaml']));
    expect(progress.join('\n')).toContain('receipt verified');
    expect(progress.join('\n')).not.toContain('NOT verified');

    // Invariant 1 at the proxy: none of the demo secret values reached the proxy's logs (or the artifact).
    const secrets = Object.values(DEMO_SECRETS).flatMap((envs) => Object.values(envs).flatMap((kv) => Object.values(kv)));
    expect(proxyLog.text).toContain('pack done');
    for (const s of secrets) {
      expect(proxyLog.text.includes(s)).toBe(false);
      expect(artifact.toString('latin1').includes(s)).toBe(false);
    }
    expect(proxyLog.text).not.toContain(TOKEN);
    expect(proxyLog.text).not.toContain(world.enclaveCredentials.secretAccessKey);
  });

  it('refuses a receipt from an enclave whose measurements differ, writing nothing', async () => {
    const other = join(world.dir, 'other-measurements.json');
    await writeFile(other, JSON.stringify(randomMeasurements()));
    const out = join(world.dir, 'refused.json');
    const err = await runPackClient(
      { proxy: proxy.url, identity: 'api-gateway', environment: 'production', repoDir: world.repo.dir, token: TOKEN, measurements: other, roots: [rootFile], out },
      { env: {} },
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ATTESTATION_PCR_MISMATCH', category: 'rejected' });
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.receipt.json`)).toBe(false);
  });

  it('answers readiness from the real enclave, and 403 for an identity outside the token grant', async () => {
    const ready = await fetch(`${proxy.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', enclave: { status: 'ok', version: '0.1.0-e2e' } });
    const err = await runPackClient({ proxy: proxy.url, identity: 'worker', environment: 'dev', repoDir: world.repo.dir, token: TOKEN }, { env: {} }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AUTH_FORBIDDEN', status: 403 });
  });
});

// ---------------------------------------------------------------------------------------------
// Issue 17 item 3: a man in the middle (or a hostile proxy) changes what reaches the enclave.
// The enclave packs what it is given and the receipt is genuine — it verifies against the
// measurements — so only the client's comparison of `claims.inputs` with what it sent stops it.

/** Forwards /v1/pack to the real proxy after `rewrite` changed the request body. */
async function rewritingProxy(rewrite: (body: { files: Array<{ path: string; content: string }> }) => void): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { files: Array<{ path: string; content: string }> };
        rewrite(body);
        const upstream = await fetch(`${proxy.url}${req.url ?? '/'}`, {
          method: 'POST',
          headers: { authorization: String(req.headers.authorization ?? ''), 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(await upstream.text());
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('a rolled-back or partial pack (issue 17, item 3)', () => {
  const rotated = 'secrets/payments/production.enc.yaml';
  let repoDir: string;
  let previousBlob: string;

  beforeAll(async () => {
    // A clone whose HEAD rotates the production payments secrets: HEAD~1 holds the previous blob.
    repoDir = join(world.dir, 'rotated-repo');
    git(world.dir, 'clone', '-q', world.repo.dir, repoDir);
    previousBlob = Buffer.from(git(repoDir, 'show', `HEAD:${rotated}`)).toString('base64');
    const bytes = await encryptSops([sopsMap([['STRIPE_KEY', 'sk_live_rotated_after_leak_5e5e'], ['WEBHOOK_SECRET', 'whsec_rotated_8d8d']])], {
      format: 'yaml',
      keyGroups: [[{ type: 'kms', arn: world.keys.source, context: { app: 'attested-pack-demo', namespace: 'payments' } }]],
      kms: async (r) => {
        const out = await world.admin.send(new EncryptCommand({ KeyId: r.arn, Plaintext: r.plaintext, ...(r.context ? { EncryptionContext: r.context } : {}) }));
        return Buffer.from(out.CiphertextBlob!).toString('base64');
      },
    });
    await writeFile(join(repoDir, rotated), bytes);
    git(repoDir, 'commit', '-q', '-am', 'rotate payments production');
  });

  const packVia = (url: string, out: string) =>
    runPackClient(
      { proxy: url, identity: 'api-gateway', environment: 'production', repoDir, token: TOKEN, repository: 'example/demo', measurements: measurementsFile, roots: [rootFile], out, retries: 0 },
      { env: {} },
    );

  it('a transparent middle box changes nothing: the rotated commit packs and verifies', async () => {
    const { url, server } = await rewritingProxy(() => undefined);
    try {
      const out = join(world.dir, 'rotated-ok.json');
      const result = await packVia(url, out);
      expect(result.verified).toBe(true);
      const receipt = parseReceipt(await readFile(result.receipt, 'utf8'));
      const blob = createHash('sha1').update(`blob ${(await readFile(join(repoDir, rotated))).byteLength}\0`).update(await readFile(join(repoDir, rotated))).digest('hex');
      expect(receipt.claims.inputs.find((i) => i.path === rotated)?.gitBlobId).toBe(blob);
    } finally {
      server.close();
    }
  });

  it('a file swapped back to its previous blob: RECEIPT_INPUTS_MISMATCH, nothing written', async () => {
    let swapped = false;
    const { url, server } = await rewritingProxy((body) => {
      const f = body.files.find((x) => x.path === rotated);
      if (f) {
        f.content = previousBlob;
        swapped = true;
      }
    });
    try {
      const out = join(world.dir, 'rolled-back.json');
      const err = await packVia(url, out).catch((e: unknown) => e);
      expect(swapped).toBe(true);
      expect(err).toMatchObject({ code: 'RECEIPT_INPUTS_MISMATCH', category: 'rejected' });
      expect(String((err as Error).message)).toContain(rotated);
      expect(existsSync(out)).toBe(false);
      expect(existsSync(`${out}.receipt.json`)).toBe(false);
    } finally {
      server.close();
    }
  });

  it('a dropped file: RECEIPT_INPUTS_MISMATCH naming it, nothing written', async () => {
    const dropped = 'secrets/auth/production.enc.yaml';
    const { url, server } = await rewritingProxy((body) => {
      body.files = body.files.filter((x) => x.path !== dropped);
    });
    try {
      const out = join(world.dir, 'partial.json');
      const err = await packVia(url, out).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'RECEIPT_INPUTS_MISMATCH', category: 'rejected' });
      expect(String((err as Error).message)).toContain(`"${dropped}" was sent but is not in the receipt`);
      expect(existsSync(out)).toBe(false);
      expect(existsSync(`${out}.receipt.json`)).toBe(false);
    } finally {
      server.close();
    }
  });
});
