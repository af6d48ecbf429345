/**
 * The simulation goes through the operator's path: it writes a deploy file for the demo
 * (`<state>/deploy/attested-pack.deploy.yaml`), loads it with the same validation `deploy render`
 * uses, and renders it with the simulation overlay (deploy/render.ts `SimulationOverlay`), which
 * swaps only the transport and endpoint flags. The enclave's measured /cmd is the rendered
 * image/cmd.json, the key policies applied to the simulator's keys are the rendered
 * policies/<key>.json, the proxy runs the rendered proxy.yaml and the auditor step runs
 * `verify-receipt --expect` with the rendered expectations.json.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { PutKeyPolicyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { writeFileAtomic } from '../../common/fs.js';
import type { Measurements } from '../../common/measurements.js';
import { deployKeys, loadDeployFile, renderDeployment, type DeployConfig, type RenderedFiles, type SimulationOverlay } from '../../deploy/index.js';
import { DEMO_ACCOUNT_ID, DEMO_ENCLAVE_ROLE_ARN, DEMO_RUNTIME_ROLE_ARN } from '../kms/index.js';
import type { SimKeyArns } from '../keys.js';
import { SimError } from './errors.js';
import type { SimPaths } from './paths.js';

/** The repository name recorded in the simulation's receipts (the deploy file's `repository`). */
export const SIM_REPOSITORY = 'example/demo-secrets';

/** The name the simulation's bearer token has in proxy.yaml (and in receipts as requestedBy). */
export const SIM_TOKEN_NAME = 'sim-operator';

/** What the demo's deploy file is written from. */
export interface SimDeployInputs {
  region: string;
  keys: SimKeyArns;
  /** The age recipient of the demo's age-envelope cell (worker/dev). */
  ageRecipient: string;
  /** Base64 SPKI of the signer: the sealed Ed25519 key, or (sealed signing off) the KMS sign key's. */
  signerPublicKey: string;
  /** The sealed key file, when sealed signing is on (keys.seal is then set). */
  sealedKeyFile?: string;
  /** SHA-256 of this run's bearer token. */
  tokenSha256: string;
  /** The simulator's account administrator (key admin, SOPS author, sealer). */
  adminArn: string;
}

/** The demo's deploy file as a document (what an operator would write for this demo). */
export function simDeployDocument(i: SimDeployInputs): Record<string, unknown> {
  return {
    deployVersion: 1,
    account: DEMO_ACCOUNT_ID,
    region: i.region,
    parentRoleArn: DEMO_ENCLAVE_ROLE_ARN,
    admins: [i.adminArn],
    repository: SIM_REPOSITORY,
    manifest: 'clef.yaml',
    // Not used by the simulation (it launches no instance), required of every deploy file.
    enclave: { cpus: 2, memoryMiB: 4096 },
    keys: {
      source: [i.keys.source],
      wrap: [i.keys.wrap],
      sign: i.keys.sign,
      ...(i.sealedKeyFile ? { seal: i.keys.seal } : {}),
    },
    signer: { publicKey: i.signerPublicKey, ...(i.sealedKeyFile ? { sealedKeyFile: i.sealedKeyFile } : {}) },
    // One envelope per identity × environment the demo packs; nothing else is wrapped.
    cells: [
      { identity: 'api-gateway', environment: 'dev', envelope: { kmsKey: i.keys.wrap } },
      { identity: 'api-gateway', environment: 'production', envelope: { kmsKey: i.keys.wrap } },
      { identity: 'worker', environment: 'dev', envelope: { ageRecipients: [i.ageRecipient] } },
    ],
    access: { tokens: [{ name: SIM_TOKEN_NAME, sha256: i.tokenSha256, identities: ['*'], environments: ['*'] }] },
    runtimeRoles: [DEMO_RUNTIME_ROLE_ARN],
    encryptors: { source: [i.adminArn], ...(i.sealedKeyFile ? { seal: [i.adminArn] } : {}) },
  };
}

/** The demo's deployment: the validated deploy file and the overlay the simulation renders it with. */
export interface SimDeployment {
  readonly config: DeployConfig;
  /** The overlay for an enclave that reports `measurementsPath` (restarts may point at another). */
  overlay(measurementsPath: string): SimulationOverlay;
  /** Renders (pre-build, or post-build with `measurements`) and writes the files into the deploy directory. */
  render(o?: { measurements?: Measurements; policyMeasurements?: Measurements }): Promise<RenderedFiles>;
}

/** Writes the deploy file, loads it back through deploy's own validation and returns the deployment. */
export async function writeSimDeployment(
  paths: SimPaths,
  inputs: SimDeployInputs,
  overlay: Omit<SimulationOverlay, 'measurementsPath'>,
): Promise<SimDeployment> {
  const header = '# Written by `attested-pack sim` on every run: the demo deployment (README "Deploying on real AWS").\n# The simulation renders it with only the transport flags swapped (SECURITY.md).\n';
  await mkdir(paths.deployDir, { recursive: true });
  await writeFileAtomic(paths.deployFile, header + stringify(simDeployDocument(inputs), { lineWidth: 0 }));
  const { config } = await loadDeployFile(paths.deployFile);
  const overlayFor = (measurementsPath: string): SimulationOverlay => ({ ...overlay, measurementsPath });
  return {
    config,
    overlay: overlayFor,
    async render(o = {}) {
      const simulation = overlayFor(paths.measurements);
      const files = renderDeployment(config, { simulation, ...(o.measurements ? { measurements: o.measurements } : {}) });
      // Policies for other measurements (--keep-policies, the refusal demo); expectations stay the build's.
      if (o.measurements && o.policyMeasurements && o.policyMeasurements !== o.measurements) {
        for (const [p, text] of renderDeployment(config, { simulation, measurements: o.policyMeasurements })) if (p.startsWith('policies/')) files.set(p, text);
      }
      for (const [rel, text] of files) {
        // proxy.yaml is written by the proxy step (0600, next to the state); the rest here.
        if (rel === 'proxy.yaml') continue;
        const path = join(paths.deployDir, rel);
        await mkdir(dirname(path), { recursive: true });
        await writeFileAtomic(path, text);
      }
      return files;
    },
  };
}

/** The rendered /cmd arguments after `node /app/enclave.mjs` (image/cmd.json). */
export function renderedServeArgs(files: RenderedFiles): string[] {
  const cmd = JSON.parse(files.get('image/cmd.json')!) as string[];
  return cmd.slice(2);
}

/** Puts each rendered policies/<key>.json on its key (what put-key-policies.sh does on AWS). */
export async function putRenderedPolicies(admin: KMSClient, config: DeployConfig, files: RenderedFiles): Promise<void> {
  for (const k of deployKeys(config)) {
    const policy = files.get(`policies/${k.name}.json`);
    if (policy === undefined) throw new SimError('SIM_CHECK_FAILED', `deploy render wrote no policies/${k.name}.json`, { category: 'internal' });
    await admin.send(new PutKeyPolicyCommand({ KeyId: k.arn, PolicyName: 'default', Policy: policy }));
  }
}
