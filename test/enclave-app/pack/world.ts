/**
 * A real little world for pack tests: the KMS simulator on loopback (real SDK, SigV4, policies),
 * the simulated NSM PKI, keys with policies generated from a set of measurements, and the demo
 * Clef repository encrypted by our SOPS codec and committed with git. No test doubles.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { KMSClient, EncryptCommand } from '@aws-sdk/client-kms';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { SimulatedNsmPki } from '../../../attestation/index.js';
import { startKmsSimulator, DEMO_CREDENTIALS, DEMO_ENCLAVE_ROLE_ARN, DEMO_RUNTIME_ROLE_ARN, type KmsSimulatorHandle } from '../../../simulator/kms/index.js';
import { setupSimKeys, type SimKeyArns } from '../../../simulator/keys.js';
import { ensureDemoRepo, type DemoRepo } from '../../../simulator/demo-repo.js';
import type { Measurements } from '../../../common/measurements.js';
import { KmsConnection } from '../../../enclave-app/kms/client.js';
import type { ForwardedCredentials, PackFile, PackRequest } from '../../../enclave-app/protocol.js';
import type { AttestPort, PackPorts } from '../../../enclave-app/pack/pipeline.js';
import type { RecipientKeyRing } from '../../../enclave-app/pack/recipient-keys.js';

export const ADMIN = DEMO_CREDENTIALS[0]!;
export const ENCLAVE = DEMO_CREDENTIALS[1]!;
export const RUNTIME = DEMO_CREDENTIALS[2]!;

export function randomMeasurements(): Measurements {
  return {
    PCR0: randomBytes(48).toString('hex'),
    PCR1: randomBytes(48).toString('hex'),
    PCR2: randomBytes(48).toString('hex'),
    eifSha256: randomBytes(32).toString('hex'),
    arch: 'x86_64',
    buildInputs: {},
  };
}

export interface World {
  dir: string;
  sim: KmsSimulatorHandle;
  pki: SimulatedNsmPki;
  measurements: Measurements;
  keys: SimKeyArns;
  repo: DemoRepo;
  ageIdentity: string;
  admin: KMSClient;
  runtime: KMSClient;
  enclaveCredentials: ForwardedCredentials;
  /** A simulated NSM reporting the given measurements as PCR0/1/2. */
  nsmFor(m: Measurements): AttestPort;
  kmsConnection(): KmsConnection;
  /** A pack request for identity × environment built from the committed repo. */
  request(identity: string, environment: string, extra?: Partial<PackRequest>): Promise<PackRequest>;
  close(): Promise<void>;
}

export function sdkClient(endpoint: string, c: { accessKeyId: string; secretAccessKey: string }): KMSClient {
  return new KMSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey }, maxAttempts: 1 });
}

export async function createWorld(): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'ap-world-'));
  const pki = await SimulatedNsmPki.ephemeral();
  const sim = await startKmsSimulator({ stateDir: join(dir, 'kms'), trustRoots: [pki.rootPem()], region: 'us-east-1' });
  const admin = sdkClient(sim.endpoint, ADMIN);
  const runtime = sdkClient(sim.endpoint, RUNTIME);
  const measurements = randomMeasurements();
  const keys = await setupSimKeys(admin, {
    measurements,
    enclaveRoleArn: DEMO_ENCLAVE_ROLE_ARN,
    runtimeRoleArns: [DEMO_RUNTIME_ROLE_ARN],
    encryptorArns: [ADMIN.principalArn],
    adminArns: [ADMIN.principalArn],
  });
  const ageIdentity = await generateIdentity();
  const repo = await ensureDemoRepo({
    dir: join(dir, 'repo'),
    sourceKeyArn: keys.source,
    wrapKeyArn: keys.wrap,
    ageRecipient: await identityToRecipient(ageIdentity),
    kmsWrap: async (req) => {
      const out = await admin.send(new EncryptCommand({ KeyId: req.arn, Plaintext: req.plaintext, ...(req.context ? { EncryptionContext: req.context } : {}) }));
      return Buffer.from(out.CiphertextBlob!).toString('base64');
    },
  });
  const enclaveCredentials: ForwardedCredentials = { accessKeyId: ENCLAVE.accessKeyId, secretAccessKey: ENCLAVE.secretAccessKey, region: 'us-east-1' };
  const nsmFor = (m: Measurements): AttestPort => ({
    attest: (r) =>
      pki.attest({
        pcrs: { 0: m.PCR0, 1: m.PCR1, 2: m.PCR2 },
        publicKey: r.publicKey ?? null,
        userData: r.userData ?? null,
        nonce: r.nonce ?? null,
      }),
  });
  const readRepoFile = async (p: string): Promise<PackFile> => ({ path: p, content: new Uint8Array(await readFile(join(repo.dir, p))) });
  return {
    dir,
    sim,
    pki,
    measurements,
    keys,
    repo,
    ageIdentity,
    admin,
    runtime,
    enclaveCredentials,
    nsmFor,
    kmsConnection: () => new KmsConnection({ mode: 'simulated', endpoint: sim.endpoint, maxAttempts: 1 }),
    async request(identity, environment, extra = {}) {
      return {
        identity,
        environment,
        commit: repo.commit,
        repository: 'example/demo',
        nonce: new Uint8Array(randomBytes(32)),
        requestedBy: 'test',
        manifest: await readRepoFile('clef.yaml'),
        files: await Promise.all(repo.files.map(readRepoFile)),
        options: { signing: 'none' },
        credentials: enclaveCredentials,
        ...extra,
      };
    },
    async close() {
      admin.destroy();
      runtime.destroy();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The pipeline's ports against this world: the enclave's KMS credentials, its NSM, KMS signing. */
export function worldPorts(world: World, keys: RecipientKeyRing, overrides: Partial<PackPorts> = {}): PackPorts {
  return {
    kms: world.kmsConnection().forCredentials(world.enclaveCredentials),
    nsm: world.nsmFor(world.measurements),
    recipientKeys: keys,
    signing: { kmsKeyId: world.keys.sign },
    now: Date.now,
    toolVersion: '0.1.0-test',
    publicKeyCache: new Map(),
    ...overrides,
  };
}
