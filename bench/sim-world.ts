/**
 * The simulation the pack, verify-receipt and enclave-memory benchmarks run in, assembled from
 * the project's own parts: the KMS simulator (in this process, loopback), the simulated NSM PKI
 * it trusts, the four keys with policies kms-policies generates from (seeded) measurements, the
 * demo Clef repository committed with git, and the enclave as a child process running the
 * esbuild bundle of enclave-app/enclave-main.ts — the same file the image's /cmd runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { identityToRecipient } from 'age-encryption';
import { SimulatedNsmPki } from '../attestation/index.js';
import type { Measurements } from '../common/measurements.js';
import { bundleEnclave, DEFAULT_ENCLAVE_ENTRY, writeMeasurements } from '../eif-build/index.js';
import type { ForwardedCredentials } from '../enclave-app/protocol.js';
import { ensureDemoRepo, type DemoRepo } from '../simulator/demo-repo.js';
import { setupSimKeys, type SimKeyArns } from '../simulator/keys.js';
import { DEMO_CREDENTIALS, DEMO_ENCLAVE_ROLE_ARN, DEMO_RUNTIME_ROLE_ARN, startKmsSimulator, type KmsSimulatorHandle } from '../simulator/kms/index.js';
import { repoRoot } from './paths.js';
import { stopChild } from './proc.js';
import { ageIdentityFromSeed, seededHex } from './seeded.js';

export const ADMIN = DEMO_CREDENTIALS[0]!;
export const ENCLAVE = DEMO_CREDENTIALS[1]!;
const REGION = 'us-east-1';

/** A running enclave child process. */
export interface EnclaveChild {
  readonly pid: number;
  /** `unix:///…` transport URL it listens on. */
  readonly url: string;
  /** Peak and current resident set size from /proc/<pid>/status, in KiB. */
  memory(): { vmHwmKiB: number; vmRssKiB: number };
  /** SIGTERM (SIGKILL after 5 s) and wait for the exit. */
  stop(): Promise<void>;
}

/** The assembled simulation. */
export interface BenchWorld {
  dir: string;
  sim: KmsSimulatorHandle;
  pki: SimulatedNsmPki;
  admin: KMSClient;
  keys: SimKeyArns;
  repo: DemoRepo;
  measurements: Measurements;
  measurementsPath: string;
  /** PEM of the simulated NSM root (what verify-receipt --root takes). */
  rootPemPath: string;
  bundlePath: string;
  enclaveCredentials: ForwardedCredentials;
  /** Starts an enclave child on a fresh socket with extra `serve` flags (and Node flags, e.g. `--cpu-prof`). */
  startEnclave(extraArgs?: string[], nodeArgs?: string[]): Promise<EnclaveChild>;
  close(): Promise<void>;
}

/** Seeded measurements: the policies and the simulated NSM agree on them; no image is built. */
function seededMeasurements(): Measurements {
  return {
    PCR0: seededHex('PCR0', 48),
    PCR1: seededHex('PCR1', 48),
    PCR2: seededHex('PCR2', 48),
    eifSha256: seededHex('eif', 32),
    arch: 'x86_64',
    buildInputs: { note: 'attested-pack benchmark (seeded measurements)' },
  };
}

function readStatusKiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

/** Spawns `node <bundle> serve --simulate …` and resolves once it prints its ready line. */
async function spawnEnclave(
  w: Omit<BenchWorld, 'startEnclave' | 'close'>,
  socketPath: string,
  extraArgs: string[],
  nodeArgs: string[],
  children: Set<ChildProcess>,
): Promise<EnclaveChild> {
  const args = [
    ...nodeArgs,
    w.bundlePath,
    'serve',
    '--simulate',
    '--sim-state',
    path.join(w.dir, 'nsm-pki'),
    '--measurements',
    w.measurementsPath,
    '--kms-endpoint',
    w.sim.endpoint,
    '--listen',
    `unix://${socketPath}`,
    '--signing-kms-key',
    w.keys.sign,
    ...extraArgs,
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => children.delete(child));
  let stderrTail = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderrTail = (stderrTail + d.toString('utf8')).slice(-4000);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`enclave child did not get ready in 60 s: ${stderrTail}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const m = /enclave ready on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`enclave child exited (${code}) before listening: ${stderrTail}`));
    });
  });
  child.stdout!.resume();
  const pid = child.pid!;
  return {
    pid,
    url,
    memory: () => ({ vmHwmKiB: readStatusKiB(pid, 'VmHWM'), vmRssKiB: readStatusKiB(pid, 'VmRSS') }),
    stop: () => stopChild(child, exited),
  };
}

/** Builds the world in a fresh temporary directory (removed by `close`). */
export async function startBenchWorld(): Promise<BenchWorld> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ap-bench-world-'));
  const children = new Set<ChildProcess>();
  let sim: KmsSimulatorHandle | undefined;
  let admin: KMSClient | undefined;
  try {
    const pki = await SimulatedNsmPki.open(path.join(dir, 'nsm-pki'));
    const rootPemPath = path.join(dir, 'nsm-root.pem');
    await writeFile(rootPemPath, pki.rootPem());
    sim = await startKmsSimulator({ stateDir: path.join(dir, 'kms'), trustRoots: [pki.rootPem()], acceptAwsRoot: false, region: REGION });
    const endpoint = sim.endpoint;
    admin = new KMSClient({ endpoint, region: REGION, credentials: { accessKeyId: ADMIN.accessKeyId, secretAccessKey: ADMIN.secretAccessKey }, maxAttempts: 1 });
    const measurements = seededMeasurements();
    const measurementsPath = path.join(dir, 'measurements.json');
    await writeMeasurements(measurementsPath, measurements);
    const keys = await setupSimKeys(admin, {
      measurements,
      enclaveRoleArn: DEMO_ENCLAVE_ROLE_ARN,
      runtimeRoleArns: [DEMO_RUNTIME_ROLE_ARN],
      encryptorArns: [ADMIN.principalArn],
      adminArns: [ADMIN.principalArn],
    });
    const adminClient = admin;
    const repo = await ensureDemoRepo({
      dir: path.join(dir, 'repo'),
      sourceKeyArn: keys.source,
      wrapKeyArn: keys.wrap,
      ageRecipient: await identityToRecipient(ageIdentityFromSeed('demo worker')),
      kmsWrap: async (req) => {
        const out = await adminClient.send(new EncryptCommand({ KeyId: req.arn, Plaintext: req.plaintext, ...(req.context ? { EncryptionContext: req.context } : {}) }));
        return Buffer.from(out.CiphertextBlob!).toString('base64');
      },
    });
    const bundlePath = path.join(dir, 'enclave.mjs');
    await bundleEnclave({ entry: path.join(repoRoot, DEFAULT_ENCLAVE_ENTRY), outFile: bundlePath, projectRoot: repoRoot });
    const base = {
      dir,
      sim,
      pki,
      admin,
      keys,
      repo,
      measurements,
      measurementsPath,
      rootPemPath,
      bundlePath,
      enclaveCredentials: { accessKeyId: ENCLAVE.accessKeyId, secretAccessKey: ENCLAVE.secretAccessKey, region: REGION },
    };
    let sockets = 0;
    const simHandle = sim;
    return {
      ...base,
      startEnclave: (extraArgs = [], nodeArgs = []) => spawnEnclave(base, path.join(dir, `enclave-${++sockets}.sock`), extraArgs, nodeArgs, children),
      async close() {
        for (const c of children) c.kill('SIGKILL');
        adminClient.destroy();
        await simHandle.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    for (const c of children) c.kill('SIGKILL');
    admin?.destroy();
    await sim?.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
