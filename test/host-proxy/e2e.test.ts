/**
 * End to end, no test doubles: the pack client → HTTP → host proxy (startHostProxy) → unix
 * transport → enclave-app server (simulated NSM) → KMS simulator (real SDK, SigV4, key
 * policies keyed on the measurements), on the demo Clef repository committed with git.
 * The client verifies the receipt against measurements.json and the simulated root before it
 * writes anything; a different measurements.json is refused and nothing is written.
 */
import { EncryptCommand } from '@aws-sdk/client-kms';
import { createSealedKey, parseSealedKeyFile } from '../../enclave-app/pack/sealed-key.js';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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
  // The operator's sealed signing key (signing defaults to `sealed`): the enclave pins it, the
  // proxy hands it over on each connection.
  const sealedFile = await createSealedKey(world.keys.seal, async (pt) => {
    const out = await world.admin.send(new EncryptCommand({ KeyId: world.keys.seal, Plaintext: pt }));
    return { ciphertextBlob: out.CiphertextBlob!, keyId: out.KeyId! };
  });
  const sealed = parseSealedKeyFile(JSON.stringify(sealedFile));
  const sealedKeyFile = join(world.dir, 'sealed-signing-key.json');
  await writeFile(sealedKeyFile, JSON.stringify(sealedFile));
  enclave = await startEnclaveServer({
    listen: `unix://${join(world.dir, 'enclave.sock')}`,
    nsm: world.nsmFor(world.measurements),
    kms: world.kmsConnection(),
    toolVersion: '0.1.0-e2e',
    sealedKeyPin: { sealKeyArn: sealed.kmsKeyId, publicKeySpki: sealed.publicKey },
  });
  const config = parseProxyConfig(
    {
      listen: '127.0.0.1:0',
      enclave: { url: `unix://${join(world.dir, 'enclave.sock')}` },
      auth: { tokens: [{ name: 'ci-e2e', sha256: TOKEN_SHA256, identities: ['api-gateway'], environments: ['production'] }] },
      credentials: { source: 'static', region: 'us-east-1', accessKeyId: world.enclaveCredentials.accessKeyId, secretAccessKey: world.enclaveCredentials.secretAccessKey },
      log: { level: 'debug' },
      signing: { sealedKeyFile },
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
