/**
 * `attested-pack sim`, steps 1–5: bring the whole chain up in one state directory —
 *   1 the KMS simulator (in-process, loopback, real AWS JSON protocol)
 *   2 the demo's deploy file, rendered with the simulation overlay (deploy-step.ts), and the
 *     enclave bundle measured by eif-build with the rendered /cmd (the simulated PCRs are the real
 *     measurements)
 *   3 the source, wrap, sign and seal keys with the rendered policies for those measurements
 *   4 the demo Clef repository, committed with git
 *   5 the enclave as a child process running the measured bundle, the host proxy in-process on
 *     the rendered proxy.yaml,
 *     the sealed Ed25519 signing key unsealed by an attested KMS Decrypt, a fresh attestation
 *     document checked against the measurements
 * Everything opened is closed again on failure, on Ctrl-C and by `close()`.
 * Step 6 (pack + verify-receipt) is in run.ts.
 */
import { identityToRecipient } from 'age-encryption';
import { randomBytes } from 'node:crypto';
import { GetPublicKeyCommand } from '@aws-sdk/client-kms';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { writeFileAtomic } from '../../common/fs.js';
import { parseMeasurements, type Measurements } from '../../common/measurements.js';
import { SimulatedNsmPki } from '../../attestation/index.js';
import type { ForwardedCredentials, SealedSigningKey } from '../../enclave-app/protocol.js';
import { hashToken, type LogLevel } from '../../host-proxy/index.js';
import { startKmsSimulator, DEMO_CREDENTIALS, DEMO_ENCLAVE_ROLE_ARN, DEMO_RUNTIME_ROLE_ARN, STATE_FILE, type KmsSimulatorHandle } from '../kms/index.js';
import { setupSimKeys, type SetupKeysOptions, type SimKeyArns } from '../keys.js';
import { renderDeployment, type RenderedFiles } from '../../deploy/index.js';
import type { DemoRepo } from '../demo-repo.js';
import { CheckRecorder } from './checks.js';
import { ageIdentityFor, writeDemoRepo } from './demo-step.js';
import { putRenderedPolicies, renderedServeArgs, writeSimDeployment, type SimDeployment } from './deploy-step.js';
import { checkEnclaveAttests, sealedKeyCheck } from './enclave-checks.js';
import { enclaveImageCmd, startEnclaveProcess, type EnclaveProcess, type EnclaveProcessOptions } from './enclave-process.js';
import { SimError } from './errors.js';
import { bundleAndMeasure, defaultEnclaveEntry, type MeasuredEnclave } from './measure.js';
import { simPaths, type SimPaths } from './paths.js';
import { newSimToken, startSimProxy, type SimProxy, type UnsealOutcome } from './proxy.js';
import { ensureSealedKey } from './sealed-key.js';
import { lockStateDir } from './state-lock.js';

/** The region of the simulated keys. */
export const SIM_REGION = 'us-east-1';

/** How to bring the simulation up. */
export interface StartSimOptions {
  /** State directory (default `.attested-pack-sim` in the current directory). */
  stateDir: string;
  /** Loopback port of the host proxy (default 0: any free port). */
  port?: number;
  /** Loopback port of the KMS simulator (default 0: any free port). */
  kmsPort?: number;
  /** Enclave entry to bundle (default: enclave-app/enclave-main.ts of this checkout). */
  enclaveEntry?: string;
  /**
   * Generate the key policies from these measurements instead of the enclave's own — the knob
   * that shows KMS refusing an enclave whose code changed.
   */
  policyMeasurements?: Measurements;
  /** Keep the policies made for the measurements recorded by the previous run (`--keep-policies`). */
  keepPolicies?: boolean;
  /** Transport URL the proxy dials instead of the enclave's own socket (e.g. a recording relay). */
  proxyEnclaveUrl?: string;
  /** Host proxy log level (default info). */
  proxyLogLevel?: LogLevel;
  /** Seal an Ed25519 key under the seal key and have the enclave unseal it (default true). */
  sealedSigning?: boolean;
  /** Extra `serve` flags for the enclave child. */
  enclaveArgs?: string[];
  /** Progress lines for the slow steps. */
  progress?: (line: string) => void;
  /** Aborts between steps (Ctrl-C). */
  signal?: AbortSignal;
}

/** What a new run found already in the state directory. */
export interface SimReuse {
  kmsState: boolean;
  nsmPki: boolean;
  keys: boolean;
  demoRepo: boolean;
  sealedKey: boolean;
}

/** The running simulation. */
export interface SimHandle {
  readonly paths: SimPaths;
  readonly kms: KmsSimulatorHandle;
  /** The simulator's account administrator (key administration, SOPS authoring, sealing). */
  readonly admin: KMSClient;
  /** A Clef runtime role (unwraps artifacts, reads the signing public key). */
  readonly runtime: KMSClient;
  readonly pki: SimulatedNsmPki;
  readonly keys: SimKeyArns;
  readonly measured: MeasuredEnclave;
  /** Measurements the key policies currently name. */
  readonly policyMeasurements: Measurements;
  readonly repo: DemoRepo;
  readonly enclave: EnclaveProcess;
  readonly proxy: SimProxy;
  readonly sealedKey: SealedSigningKey | undefined;
  /** The last unseal answer (undefined: no enclave connection yet, or sealed signing off). */
  readonly unseal: UnsealOutcome | undefined;
  readonly reused: SimReuse;
  readonly recorder: CheckRecorder;
  /** Credentials the proxy forwards (the simulator's enclave role). */
  readonly enclaveCredentials: ForwardedCredentials;
  /** The demo's deploy file, validated, and how it is rendered for the simulation. */
  readonly deployment: SimDeployment;
  /** Replaces the enclave child (same socket): e.g. a bundle with one byte changed and its measurements. */
  restartEnclave(o?: { bundlePath?: string; measurementsPath?: string }): Promise<EnclaveProcess>;
  /** Renders and applies the deploy file's key policies for `m` (and records them for --keep-policies). */
  applyPolicies(m: Measurements): Promise<void>;
  /** Stops the proxy (draining), the enclave child and the KMS simulator; removes the socket. */
  close(): Promise<void>;
}

const ADMIN = DEMO_CREDENTIALS[0]!;
const ENCLAVE = DEMO_CREDENTIALS[1]!;
const RUNTIME = DEMO_CREDENTIALS[2]!;
const KEY_ALIAS_PREFIX = 'alias/attested-pack';

function sdkClient(endpoint: string, c: { accessKeyId: string; secretAccessKey: string }): KMSClient {
  return new KMSClient({ endpoint, region: SIM_REGION, credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey }, maxAttempts: 1 });
}

/** Measurements no enclave has (random PCRs): the policy a new key holds until step 3. */
function unmatchable(): Measurements {
  const hex = (n: number): string => randomBytes(n).toString('hex');
  return { PCR0: hex(48), PCR1: hex(48), PCR2: hex(48), eifSha256: hex(32), arch: 'x86_64', buildInputs: {} };
}

function keyOptions(m: Measurements): SetupKeysOptions {
  return {
    measurements: m,
    enclaveRoleArn: DEMO_ENCLAVE_ROLE_ARN,
    runtimeRoleArns: [DEMO_RUNTIME_ROLE_ARN],
    encryptorArns: [ADMIN.principalArn],
    adminArns: [ADMIN.principalArn],
    aliasPrefix: KEY_ALIAS_PREFIX,
  };
}

const short = (hex: string): string => `${hex.slice(0, 16)}…`;

function hasFiles(dir: string): boolean {
  try {
    return readdirSync(dir).length > 0;
  } catch {
    return false;
  }
}

async function readPolicyMeasurements(path: string): Promise<Measurements | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return parseMeasurements(text, path);
  } catch (err) {
    throw new SimError('SIM_STATE_INVALID', `${path} is not a usable measurements.json`, {
      category: 'input',
      hint: `delete ${path} (it records which measurements the key policies name) and run without --keep-policies`,
      cause: err,
    });
  }
}


/** image/cmd.json of the simulation's rendering for an enclave reporting `measurementsPath`. */
function renderDeploymentCmd(d: SimDeployment, measurementsPath: string): RenderedFiles {
  return renderDeployment(d.config, { simulation: d.overlay(measurementsPath) });
}

/** A stack of closers run in reverse order, once. */
class Resources {
  private readonly closers: Array<() => Promise<void>> = [];
  private closing: Promise<void> | undefined;
  push(fn: () => Promise<void>): void {
    this.closers.push(fn);
  }
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const fn of this.closers.reverse()) await fn().catch(() => undefined);
    })();
    return this.closing;
  }
}

/** Runs steps 1–5 and returns the running simulation (steps are recorded in `recorder`). */
export async function startSim(o: StartSimOptions, recorder: CheckRecorder = new CheckRecorder(o.progress)): Promise<SimHandle> {
  const paths = simPaths(o.stateDir);
  const resources = new Resources();
  const checkAbort = (): void => {
    if (o.signal?.aborted) throw new SimError('SIM_INTERRUPTED', 'interrupted; everything started so far was shut down');
  };
  try {
    await mkdir(paths.stateDir, { recursive: true, mode: 0o700 });
    resources.push(await lockStateDir(paths.lock, paths.stateDir));
    checkAbort();

    // 1. The KMS simulator, trusting the simulated NSM root the enclave will attest under.
    const { kms, pki, reusedKms, reusedPki } = await recorder.step('kms-simulator', 'KMS simulator', async () => {
      const reusedPki = hasFiles(paths.nsmDir);
      const reusedKms = existsSync(`${paths.kmsDir}/${STATE_FILE}`);
      const pki = await SimulatedNsmPki.open(paths.nsmDir);
      await writeFile(paths.nsmRootPem, pki.rootPem());
      // The endpoint is a flag of the measured /cmd: a rerun takes the previous run's port when it
      // is free, so the same checkout measures the same (and its kept policies still fit).
      const portFile = join(paths.kmsDir, 'endpoint-port');
      const previousPort = Number((await readFile(portFile, 'utf8').catch(() => '')).trim());
      const start = (port: number | undefined): Promise<KmsSimulatorHandle> =>
        startKmsSimulator({ stateDir: paths.kmsDir, trustRoots: [pki.rootPem()], acceptAwsRoot: false, region: SIM_REGION, ...(port === undefined ? {} : { port }) });
      let kms: KmsSimulatorHandle;
      if (!o.kmsPort && Number.isInteger(previousPort) && previousPort > 0 && previousPort < 65536) {
        kms = await start(previousPort).catch(() => start(undefined));
      } else {
        kms = await start(o.kmsPort);
      }
      await writeFileAtomic(portFile, `${new URL(kms.endpoint).port}\n`);
      resources.push(() => kms.close());
      return {
        value: { kms, pki, reusedKms, reusedPki },
        evidence: `${kms.endpoint} (${reusedKms ? 'state reused' : 'new state'} in ${paths.kmsDir}; trusts the simulated NSM root ${short(pki.trustedRoot().sha256)})`,
      };
    });
    const admin = sdkClient(kms.endpoint, ADMIN);
    const runtime = sdkClient(kms.endpoint, RUNTIME);
    resources.push(async () => {
      admin.destroy();
      runtime.destroy();
    });
    checkAbort();

    // 2. The /cmd the enclave will run with, then the bundle measured together with it. The flags
    //    name keys, so the keys exist first (a new key starts with a policy for PCRs no enclave
    //    has; step 3 gives it the real one), and the sealed signing key is sealed before it is pinned.
    const reusedKeys = kms.state.getAlias(`${KEY_ALIAS_PREFIX}/source`) !== undefined;
    const enclaveCredentials: ForwardedCredentials = { accessKeyId: ENCLAVE.accessKeyId, secretAccessKey: ENCLAVE.secretAccessKey, region: SIM_REGION };
    const token = newSimToken();
    const { measured, keys, sealedResult, enclaveOptions, deployment } = await recorder.step(
      'measurements',
      'enclave measured',
      async () => {
        const keys = await setupSimKeys(admin, keyOptions(unmatchable()));
        const sealedResult = (o.sealedSigning ?? true) ? await ensureSealedKey(paths.sealedKey, keys.seal, admin) : undefined;
        const ageRecipient = await identityToRecipient(await ageIdentityFor(paths.ageIdentity));
        // The signer auditors expect: the sealed Ed25519 key, or (sealed signing off) the KMS sign key.
        const signerPublicKey = sealedResult
          ? Buffer.from(sealedResult.sealed.publicKey).toString('base64')
          : Buffer.from((await runtime.send(new GetPublicKeyCommand({ KeyId: keys.sign }))).PublicKey!).toString('base64');
        // The demo's deploy file, rendered with only the transport swapped: /cmd, policies, proxy.yaml, expectations.json.
        const deployment = await writeSimDeployment(
          paths,
          {
            region: SIM_REGION,
            keys,
            ageRecipient,
            signerPublicKey,
            ...(sealedResult ? { sealedKeyFile: paths.sealedKey } : {}),
            tokenSha256: hashToken(token),
            adminArn: ADMIN.principalArn,
          },
          {
            nsmDir: paths.nsmDir,
            kmsEndpoint: kms.endpoint,
            socketPath: paths.enclaveSocket,
            proxy: {
              listen: `127.0.0.1:${o.port ?? 0}`,
              ...(o.proxyEnclaveUrl ? { enclaveUrl: o.proxyEnclaveUrl } : {}),
              credentials: { accessKeyId: ENCLAVE.accessKeyId, secretAccessKey: ENCLAVE.secretAccessKey },
              logLevel: o.proxyLogLevel ?? 'info',
              packTimeoutSeconds: 60,
            },
          },
        );
        const enclaveOptions = (bundlePath: string, measurementsPath: string): EnclaveProcessOptions => ({
          bundlePath,
          measurementsPath,
          nsmDir: paths.nsmDir,
          kmsEndpoint: kms.endpoint,
          socketPath: paths.enclaveSocket,
          // The rendered image/cmd.json (its --measurements names the file this enclave reports).
          renderedServeArgs: renderedServeArgs(renderDeploymentCmd(deployment, measurementsPath)),
          logPath: paths.enclaveLog,
          pidPath: paths.enclavePid,
          ...(o.enclaveArgs ? { extraArgs: o.enclaveArgs } : {}),
          ...(o.signal ? { signal: o.signal } : {}),
        });
        await deployment.render();
        const cmd = enclaveImageCmd(enclaveOptions(paths.bundle, paths.measurements));
        const m = await bundleAndMeasure({ entry: o.enclaveEntry ?? (await defaultEnclaveEntry()), bundlePath: paths.bundle, measurementsPath: paths.measurements, cmd });
        return {
          value: { measured: m, keys, sealedResult, enclaveOptions, deployment },
          evidence: `PCR0 ${short(m.measurements.PCR0)} PCR2 ${short(m.measurements.PCR2)} of ${m.bundlePath} and its /cmd rendered from ${paths.deployFile} (${cmd.length - 2} arguments: envelopes, source key, sealed key pinned) → ${m.measurementsPath}`,
        };
      },
      'sim: rendering the deploy file, bundling and measuring the enclave with its /cmd (eif-build)',
    );
    checkAbort();

    // 3. The keys' generated policies.
    const { policyMeasurements } = await recorder.step(
      'key-policies',
      'keys and policies',
      async () => {
        const recorded = o.keepPolicies ? await readPolicyMeasurements(paths.policyMeasurements) : undefined;
        const pm = o.policyMeasurements ?? recorded ?? measured.measurements;
        // deploy render after the build: policies/<key>.json (for pm) and expectations.json (for the build).
        await putRenderedPolicies(admin, deployment.config, await deployment.render({ measurements: measured.measurements, policyMeasurements: pm }));
        await writeFileAtomic(paths.policyMeasurements, JSON.stringify(pm, null, 2) + '\n');
        const whose =
          pm.PCR0 === measured.measurements.PCR0 && pm.PCR2 === measured.measurements.PCR2
            ? "the enclave's own measurements"
            : `OTHER measurements${recorded ? ' (kept from the previous run)' : ''}: this enclave's KMS calls will be refused`;
        return {
          value: { policyMeasurements: pm },
          evidence: `source, wrap, sign, seal (${reusedKeys ? 'reused' : 'created'}); rendered policies/*.json: Decrypt requires PCR0 ${short(pm.PCR0)} and the parent role's PCR3 — ${whose}`,
        };
      },
      'sim: creating keys and generating their policies',
    );
    checkAbort();

    // 4. The demo Clef repository, SOPS files encrypted under the source key, committed.
    const { repo, reusedRepo } = await recorder.step('demo-repo', 'demo Clef repository', async () => {
      const { repo, reused } = await writeDemoRepo({ dir: paths.demoRepo, ageIdentityPath: paths.ageIdentity, keys, operator: admin });
      return {
        value: { repo, reusedRepo: reused },
        evidence: `${repo.dir} at ${repo.commit.slice(0, 12)} (${reused ? 'reused' : 'committed now'}): namespaces payments, auth × dev, production`,
      };
    });
    checkAbort();

    // 5. The enclave child, the proxy, readiness and attestation.
    let enclave = await recorder.step(
      'enclave',
      'enclave running',
      async () => {
        const e = await startEnclaveProcess(enclaveOptions(measured.bundlePath, measured.measurementsPath));
        return { value: e, evidence: `pid ${e.pid}: node ${paths.bundle} serve --simulate on ${e.url} (log ${paths.enclaveLog})` };
      },
      'sim: starting the enclave (child process, simulated NSM)',
    );
    resources.push(() => enclave.stop());
    checkAbort();

    let unseal: UnsealOutcome | undefined;
    const proxy = await recorder.step('host-proxy', 'host proxy', async () => {
      const rendered = renderDeployment(deployment.config, { simulation: deployment.overlay(paths.measurements) }).get('proxy.yaml')!;
      const p = await startSimProxy({
        rendered: { text: rendered, token },
        configPath: paths.proxyConfig,
        logPath: paths.proxyLog,
        port: o.port ?? 0,
        enclaveUrl: o.proxyEnclaveUrl ?? enclave.url,
        credentials: enclaveCredentials,
        logLevel: o.proxyLogLevel ?? 'info',
        ...(sealedResult ? { sealedKey: sealedResult.sealed, sealedKeyFile: paths.sealedKey } : {}),
        onUnseal: (u) => {
          unseal = u;
        },
      });
      resources.push(() => p.close());
      return { value: p, evidence: `${p.url} → ${o.proxyEnclaveUrl ?? enclave.url} (proxy.yaml rendered from the deploy file: bearer token stored hashed in ${paths.proxyConfig}; log ${paths.proxyLog})` };
    });
    checkAbort();

    await recorder.step('enclave-attests', 'enclave attests its measurements', async () => {
      const v = await checkEnclaveAttests(proxy, pki.trustedRoot(), measured.measurements);
      return { value: v, evidence: `GET /v1/attestation: document chains to the simulated root, PCR0/1/2 = ${paths.measurements}, nonce echoed (module ${v.moduleId})` };
    });
    if (sealedResult) recorder.add(sealedKeyCheck(sealedResult.sealed, unseal, `${sealedResult.reused ? 'reused' : 'sealed now'}: ${paths.sealedKey}`));

    let currentPolicy = policyMeasurements;
    const reused: SimReuse = { kmsState: reusedKms, nsmPki: reusedPki, keys: reusedKeys, demoRepo: reusedRepo, sealedKey: sealedResult?.reused ?? false };
    return {
      paths,
      kms,
      admin,
      runtime,
      pki,
      keys,
      measured,
      get policyMeasurements() {
        return currentPolicy;
      },
      repo,
      get enclave() {
        return enclave;
      },
      proxy,
      sealedKey: sealedResult?.sealed,
      get unseal() {
        return unseal;
      },
      reused,
      recorder,
      enclaveCredentials,
      deployment,
      async restartEnclave(r = {}) {
        await enclave.stop();
        unseal = undefined;
        enclave = await startEnclaveProcess(enclaveOptions(r.bundlePath ?? measured.bundlePath, r.measurementsPath ?? measured.measurementsPath));
        return enclave;
      },
      async applyPolicies(m) {
        await putRenderedPolicies(admin, deployment.config, await deployment.render({ measurements: measured.measurements, policyMeasurements: m }));
        await writeFileAtomic(paths.policyMeasurements, JSON.stringify(m, null, 2) + '\n');
        currentPolicy = m;
      },
      close: () => resources.close(),
    };
  } catch (err) {
    await resources.close();
    throw err;
  }
}


