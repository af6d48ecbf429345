/**
 * verify-receipt cold start: wall time of `node bin/verify-receipt.mjs` (launcher → the bundled
 * dist/verify-receipt.mjs) verifying a real receipt from the pack benchmark with every check
 * that has its input (measurements, simulated root, artifact, git repository, nonce), spawn to
 * exit, against `node -e 0` — the cost of starting Node at all — in the same run.
 */
import { spawn } from 'node:child_process';
import { GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { DEMO_CREDENTIALS } from '../simulator/kms/index.js';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './paths.js';
import type { PackSample } from './pack.js';
import type { BenchWorld } from './sim-world.js';
import { fmt, summarize } from './stats.js';
import type { BenchResult } from './results-types.js';

/** How much work to do. */
export interface VerifyReceiptBenchOptions {
  /** Timed runs per subject. */
  runs: number;
  /** Separate runs per subject that record the process's own CPU time (0 to skip). */
  cpuRuns: number;
}

/** The goal: median process wall time. */
export const COLD_START_GOAL_MS = 300;

/**
 * Preloaded (only in the CPU-time runs) to write the process's own user+system CPU milliseconds
 * to the file named by AP_BENCH_CPU_FILE when it exits. Child processes (git) are not included.
 */
const CPU_PRELOAD = [
  "import { writeFileSync } from 'node:fs';",
  "process.on('exit', () => { const u = process.resourceUsage(); writeFileSync(process.env.AP_BENCH_CPU_FILE, String((u.userCPUTime + u.systemCPUTime) / 1000)); });",
  '',
].join('\n');

function runProcess(args: string[], extraEnv: Record<string, string> = {}): Promise<{ ms: number; code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...extraEnv } });
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
  // The strict invocation (bound to source, artifact, signer and keys), as an auditor runs it.
  // The signer's public key as a Clef runtime fetches it (the sign key policy gives GetPublicKey to runtimes).
  const runtimeCreds = DEMO_CREDENTIALS[2]!;
  const runtime = new KMSClient({
    endpoint: world.sim.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: runtimeCreds.accessKeyId, secretAccessKey: runtimeCreds.secretAccessKey },
    maxAttempts: 1,
  });
  const pub = await runtime.send(new GetPublicKeyCommand({ KeyId: world.keys.sign })).finally(() => runtime.destroy());
  const signKey = path.join(dir, 'sign-key.json');
  await writeFile(signKey, JSON.stringify({ KeyId: world.keys.sign, PublicKey: Buffer.from(pub.PublicKey!).toString('base64') }));
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
    '--kms-public-key',
    signKey,
    ...[world.keys.source, world.keys.wrap, world.keys.sign].flatMap((k) => ['--expect-key', k]),
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
  // CPU time, in separate runs so the timed ones load nothing extra: on a loaded machine the
  // wall time is mostly waiting for a core, and the CPU time says what an idle one would see.
  const cpuOurs: number[] = [];
  const cpuNode: number[] = [];
  if (o.cpuRuns > 0) {
    const preload = path.join(dir, 'cpu-preload.mjs');
    const cpuFile = path.join(dir, 'cpu.txt');
    await writeFile(preload, CPU_PRELOAD);
    for (let r = 0; r < o.cpuRuns; r++) {
      for (const who of ['ours', 'node'] as const) {
        const res = await runProcess(['--import', pathToFileURL(preload).href, ...(who === 'ours' ? verifyArgs : ['-e', '0'])], { AP_BENCH_CPU_FILE: cpuFile });
        if (res.code !== 0) throw new Error(`${who} exited ${res.code} in a CPU-time run: ${res.stderr.slice(0, 300)}`);
        (who === 'ours' ? cpuOurs : cpuNode).push(Number(await readFile(cpuFile, 'utf8')));
      }
    }
  }
  const so = summarize(ours);
  const sn = summarize(node);
  const co = summarize(cpuOurs);
  const cn = summarize(cpuNode);
  const cpuText = o.cpuRuns > 0 ? `; CPU time of the process itself (user+sys, git excluded): ours ${fmt(co.median)} ms, node -e 0 ${fmt(cn.median)} ms` : '';
  const met = so.median <= COLD_START_GOAL_MS;
  const caseName = 'one real receipt, all checks with inputs';
  return {
    id: 'verify-receipt',
    title: 'verify-receipt cold start (process wall time)',
    rows: [
      { case: caseName, subject: 'ours: node bin/verify-receipt.mjs', peer: false, unit: 'ms', summary: so, per: 'spawn to exit' },
      { case: caseName, subject: 'baseline: node -e 0', peer: true, unit: 'ms', summary: sn, per: 'spawn to exit' },
      ...(o.cpuRuns > 0
        ? [
            { case: caseName, subject: 'context: verify-receipt CPU time (user+sys)', peer: false, unit: 'ms' as const, summary: co, per: 'one process, git subprocesses excluded' },
            { case: caseName, subject: 'context: node -e 0 CPU time (user+sys)', peer: true, unit: 'ms' as const, summary: cn, per: 'one process' },
          ]
        : []),
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
              shortfall: `${fmt(so.median - COLD_START_GOAL_MS)} ms over; starting Node alone takes ${fmt(sn.median)} ms here, the rest is loading the bundle, the X.509/P-384 chain checks and the git lookups of the --repo check${cpuText}`,
            }),
      },
    ],
    notes: [
      `${o.runs} runs per subject, alternating, after one untimed run each; the verifier printed: ${checksLine}`,
      ...(o.cpuRuns > 0 ? [`CPU time from ${o.cpuRuns} separate runs per subject with a preloaded exit hook reading process.resourceUsage()${cpuText}.`] : []),
    ],
    durationMs: performance.now() - started,
  };
}
