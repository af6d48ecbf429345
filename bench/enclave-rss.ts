/**
 * Enclave peak memory for a 10,000-secret pack: a fresh enclave child (the bundle of
 * enclave-main.ts, as in the image) packs one Clef identity whose 10 namespaces hold 1,000
 * secrets each (SOPS YAML, data keys under the simulator's source key, KMS envelope and KMS
 * signing); its peak resident set is read from /proc/<pid>/status (VmHWM) after the answer.
 * Each run uses a new child, so the peak belongs to that one pack (plus start-up).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { PackRequest } from '../enclave-app/protocol.js';
import { EnclaveClient } from '../host-proxy/index.js';
import type { BenchWorld } from './sim-world.js';
import { shapedInputs } from './shaped-repo.js';
import { SeededBytes, seededHex } from './seeded.js';
import { fmt, summarize } from './stats.js';
import type { BenchResult } from './results-types.js';

/** How much work to do. */
export interface EnclaveRssBenchOptions {
  /** Secrets in the pack (split evenly over `namespaces`). */
  secrets: number;
  namespaces: number;
  /** Fresh enclave children, one pack each. */
  runs: number;
}

/** The goal: peak RSS of the enclave process. */
export const RSS_GOAL_MIB = 150;

/** Builds the bulk pack request (files encrypted once, with seeded keys, IVs and values). */
async function bulkRequest(world: BenchWorld, o: EnclaveRssBenchOptions): Promise<PackRequest> {
  const perNamespace = Math.ceil(o.secrets / o.namespaces);
  const inputs = await shapedInputs(world, { identity: 'bulk', files: o.namespaces, keysPerFile: perNamespace, seed: 'rss' });
  const dir = path.join(world.dir, 'bulk-repo');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'clef.yaml'), inputs.manifest.content);
  return {
    identity: inputs.identity,
    environment: inputs.environment,
    commit: seededHex('bulk commit', 20),
    repository: 'example/bulk',
    nonce: new Uint8Array(new SeededBytes('rss nonce').next(32)),
    requestedBy: 'bench',
    manifest: inputs.manifest,
    files: inputs.files,
    options: { signing: 'kms' },
    credentials: world.enclaveCredentials,
  };
}

/** Runs the benchmark in `world`. */
export async function benchEnclaveRss(world: BenchWorld, o: EnclaveRssBenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const request = await bulkRequest(world, o);
  const inputBytes = request.files.reduce((n, f) => n + f.content.byteLength, 0);
  const idle: number[] = [];
  const peak: number[] = [];
  const packMs: number[] = [];
  let keyCount = -1;
  for (let r = 0; r < o.runs; r++) {
    const enclave = await world.startEnclave();
    const client = new EnclaveClient({ url: enclave.url });
    try {
      idle.push(enclave.memory().vmHwmKiB / 1024);
      const t0 = performance.now();
      const answer = await client.request('pack', { ...request, nonce: new Uint8Array(new SeededBytes(`rss nonce ${r}`).next(32)) }, { timeoutMs: 300_000 });
      packMs.push(performance.now() - t0);
      peak.push(enclave.memory().vmHwmKiB / 1024);
      const claims = (JSON.parse(Buffer.from(answer.receipt).toString('utf8')) as { claims: { artifact: { keyCount: number } } }).claims;
      keyCount = claims.artifact.keyCount;
      if (keyCount !== o.secrets) throw new Error(`the artifact holds ${keyCount} keys, expected ${o.secrets}`);
    } finally {
      await client.close();
      await enclave.stop();
    }
  }
  const sp = summarize(peak);
  const si = summarize(idle);
  const st = summarize(packMs);
  const met = sp.median <= RSS_GOAL_MIB;
  const caseName = `${o.secrets.toLocaleString('en-US')} secrets in ${o.namespaces} SOPS files (${fmt(inputBytes / 2 ** 20)} MiB of YAML)`;
  return {
    id: 'enclave-rss',
    title: 'Enclave peak RSS',
    rows: [
      { case: caseName, subject: 'ours: enclave peak RSS (VmHWM) after the pack', peer: false, unit: 'MiB', summary: sp, per: 'one fresh enclave process, one pack' },
      { case: caseName, subject: 'context: enclave peak RSS when ready, before the pack', peer: false, unit: 'MiB', summary: si, per: 'one fresh enclave process' },
      { case: caseName, subject: 'context: pack duration (direct to the enclave socket)', peer: false, unit: 'ms', summary: st, per: 'one pack' },
    ],
    comparisons: [],
    goals: [
      {
        goal: `enclave peak RSS for a 10,000-secret pack ≤ ${RSS_GOAL_MIB} MiB`,
        measured: `median peak ${fmt(sp.median)} MiB (max ${fmt(sp.max)}), of which ${fmt(si.median)} MiB before the pack; ${keyCount} keys packed`,
        met,
        ...(met ? {} : { shortfall: `${fmt(sp.median - RSS_GOAL_MIB)} MiB over: the pack adds ${fmt(sp.median - si.median)} MiB on top of a ${fmt(si.median)} MiB idle process (decoded SOPS trees, the merged plaintext, the artifact and its base64/CBOR copies)` }),
      },
    ],
    notes: [`${o.runs} runs, each a new enclave child (node ${process.version}, default heap settings) and one pack sent straight to its unix socket; VmHWM from /proc/<pid>/status.`],
    durationMs: performance.now() - started,
  };
}
