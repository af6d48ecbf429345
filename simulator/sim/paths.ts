/**
 * Where the simulation keeps its state: one directory, reused by the next run (KMS keys and
 * audit log, the simulated NSM PKI, the demo repository, the age identity, the sealed key).
 */
import { defaultReceiptPath } from '../../host-proxy/client/paths.js';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The default state directory, relative to the current directory. */
export const DEFAULT_STATE_DIR = '.attested-pack-sim';

/** Every path the simulation reads or writes, derived from the state directory. */
export interface SimPaths {
  stateDir: string;
  /** Held by the running sim (its pid). */
  lock: string;
  /** KMS simulator state (keys, policies, aliases) and its audit log. */
  kmsDir: string;
  auditLog: string;
  /** Simulated NSM PKI (shared by the KMS simulator's trust roots and the enclave's NSM). */
  nsmDir: string;
  /** The simulated NSM root as PEM (what `verify-receipt --root` trusts in simulation). */
  nsmRootPem: string;
  enclaveDir: string;
  /** The measured enclave bundle the child process runs. */
  bundle: string;
  measurements: string;
  /** The measurements the key policies were last generated from (for --keep-policies). */
  policyMeasurements: string;
  enclaveSocket: string;
  enclavePid: string;
  demoRepo: string;
  ageIdentity: string;
  sealedKey: string;
  proxyConfig: string;
  /** The demo's deploy file and what `deploy render` made of it (image/cmd.json, policies/, expectations.json). */
  deployDir: string;
  deployFile: string;
  expectations: string;
  outDir: string;
  signPublicKey: string;
  logsDir: string;
  enclaveLog: string;
  proxyLog: string;
}

/** Unix socket paths are limited to 108 bytes (sun_path); leave room for the terminator. */
const UNIX_SOCKET_MAX = 100;

/** The paths of a state directory (resolved to absolute). */
export function simPaths(stateDir: string): SimPaths {
  const s = resolve(stateDir);
  const enclaveDir = join(s, 'enclave');
  const logsDir = join(s, 'logs');
  const outDir = join(s, 'out');
  let enclaveSocket = join(s, 'enclave.sock');
  // A deep checkout would overflow sun_path: fall back to a short, per-state-dir name in tmp.
  if (Buffer.byteLength(enclaveSocket) > UNIX_SOCKET_MAX) {
    enclaveSocket = join(tmpdir(), `attested-pack-sim-${createHash('sha256').update(s).digest('hex').slice(0, 16)}.sock`);
  }
  return {
    stateDir: s,
    lock: join(s, 'sim.lock'),
    kmsDir: join(s, 'kms'),
    auditLog: join(s, 'kms', 'audit.jsonl'),
    nsmDir: join(s, 'nsm'),
    nsmRootPem: join(s, 'nsm-root.pem'),
    enclaveDir,
    bundle: join(enclaveDir, 'enclave.mjs'),
    measurements: join(enclaveDir, 'measurements.json'),
    policyMeasurements: join(s, 'policy-measurements.json'),
    enclaveSocket,
    enclavePid: join(s, 'enclave.pid'),
    demoRepo: join(s, 'demo-repo'),
    ageIdentity: join(s, 'age-identity.txt'),
    sealedKey: join(s, 'sealed-signing-key.json'),
    proxyConfig: join(s, 'proxy.yaml'),
    deployDir: join(s, 'deploy'),
    deployFile: join(s, 'deploy', 'attested-pack.deploy.yaml'),
    expectations: join(s, 'deploy', 'expectations.json'),
    outDir,
    signPublicKey: join(outDir, 'sign-key.json'),
    logsDir,
    enclaveLog: join(logsDir, 'enclave.log'),
    proxyLog: join(logsDir, 'proxy.log'),
  };
}

/**
 * Artifact and receipt paths of one identity × environment in the output directory; the receipt
 * is named as `pack` names it (`<artifact>.receipt.json`).
 */
export function outputPaths(paths: SimPaths, identity: string, environment: string): { artifact: string; receipt: string } {
  const artifact = join(paths.outDir, `${identity}.${environment}.json`);
  return { artifact, receipt: defaultReceiptPath(artifact) };
}
