/**
 * verify-receipt cold start: wall time of `node bin/verify-receipt.mjs` (launcher → the bundled
 * dist/verify-receipt.mjs) verifying a real receipt from the pack benchmark with every check
 * that has its input (measurements, simulated root, artifact, git repository, nonce), spawn to
 * exit, against `node -e 0` — the cost of starting Node at all — in the same run.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { repoRoot } from './paths.js';
import type { PackSample } from './pack.js';
import type { BenchWorld } from './sim-world.js';
import { fmt, summarize } from './stats.js';
import type { BenchResult } from './results-types.js';

/** How much work to do. */
export interface VerifyReceiptBenchOptions {
  /** Timed runs per subject. */
  runs: number;
}

/** The goal: median process wall time. */
export const COLD_START_GOAL_MS = 300;

function runProcess(args: string[]): Promise<{ ms: number; code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => resolve({ ms: performance.now() - t0, code, stdout, stderr }));
  });
}

/** Runs the benchmark on a receipt the pack benchmark produced in `world`. */
export async function benchVerifyReceipt(world: BenchWorld, sample: PackSample, o: VerifyReceiptBenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const dir = path.join(world.dir, 'verify-receipt');
  await mkdir(dir, { recursive: true });
  const receipt = path.join(dir, 'receipt.json');
  const artifact = path.join(dir, 'artifact.json');
  await writeFile(receipt, sample.receiptJson);
  await writeFile(artifact, sample.artifact);
  const verifyArgs = [
    path.join(repoRoot, 'bin', 'verify-receipt.mjs'),
    receipt,
    '--measurements',
    world.measurementsPath,
    '--root',
    world.rootPemPath,
    '--artifact',
    artifact,
    '--repo',
    world.repo.dir,
    '--nonce',
    sample.nonceHex,
  ];
  // The receipt must verify: a fast failure is not a cold start worth timing.
  const first = await runProcess(verifyArgs);
  if (first.code !== 0 || !/^VERIFIED/m.test(first.stdout)) {
    throw new Error(`verify-receipt did not verify the receipt (exit ${first.code}): ${first.stdout.slice(0, 500)} ${first.stderr.slice(0, 500)}`);
  }
  const checksLine = /^VERIFIED[^\n]*/m.exec(first.stdout)![0];
  await runProcess(['-e', '0']);
  const ours: number[] = [];
  const node: number[] = [];
  for (let r = 0; r < o.runs; r++) {
    const order = r % 2 === 0 ? ['ours', 'node'] : ['node', 'ours'];
    for (const who of order) {
      const res = await runProcess(who === 'ours' ? verifyArgs : ['-e', '0']);
      if (res.code !== 0) throw new Error(`${who === 'ours' ? 'verify-receipt' : 'node -e 0'} exited ${res.code}`);
      (who === 'ours' ? ours : node).push(res.ms);
    }
  }
  const so = summarize(ours);
  const sn = summarize(node);
  const met = so.median <= COLD_START_GOAL_MS;
  const caseName = 'one real receipt, all checks with inputs';
  return {
    id: 'verify-receipt',
    title: 'verify-receipt cold start (process wall time)',
    rows: [
      { case: caseName, subject: 'ours: node bin/verify-receipt.mjs', peer: false, unit: 'ms', summary: so, per: 'spawn to exit' },
      { case: caseName, subject: 'baseline: node -e 0', peer: true, unit: 'ms', summary: sn, per: 'spawn to exit' },
    ],
    comparisons: [{ case: caseName, ours: 'verify-receipt', against: 'node -e 0', ratio: sn.median / so.median }],
    goals: [
      {
        goal: `verify-receipt cold start: median ≤ ${COLD_START_GOAL_MS} ms`,
        measured: `median ${fmt(so.median)} ms (node -e 0: ${fmt(sn.median)} ms, so ${fmt(so.median - sn.median)} ms of our own)`,
        met,
        ...(met
          ? {}
          : {
              shortfall: `${fmt(so.median - COLD_START_GOAL_MS)} ms over; starting Node alone takes ${fmt(sn.median)} ms here, the rest is loading the bundle, the X.509/P-384 chain checks and the git lookups of the --repo check`,
            }),
      },
    ],
    notes: [`${o.runs} runs per subject, alternating, after one untimed run each; the verifier printed: ${checksLine}`],
    durationMs: performance.now() - started,
  };
}
