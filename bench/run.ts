/**
 * `npm run bench`: every benchmark against its peers in one run, on the same seeded inputs.
 * Prints a compact table and writes bench/results/latest.json (only for a full run).
 *
 *   tsx bench/run.ts                 all benchmarks (a few minutes on an idle 2-core machine)
 *   tsx bench/run.ts --only sops,eif only these (nothing is written)
 *   tsx bench/run.ts --readme        print the README snippet from bench/results/latest.json
 */
import { mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeFileAtomic } from '../common/fs.js';
import { benchAttestation, type AttestationBenchOptions } from './attestation.js';
import { benchEif, type EifBenchOptions } from './eif.js';
import { benchEnclaveRss, type EnclaveRssBenchOptions } from './enclave-rss.js';
import { describeMachine } from './machine.js';
import { benchPack, type PackBenchOptions, type PackSample } from './pack.js';
import { resultsDir } from './paths.js';
import { formatBenchmark, formatReadmeSnippet, formatRun, type BenchRun } from './report.js';
import type { BenchResult } from './results-types.js';
import { startBenchWorld, type BenchWorld } from './sim-world.js';
import { benchSops, type SopsBenchOptions } from './sops.js';
import { benchVerifyReceipt, type VerifyReceiptBenchOptions } from './verify-receipt.js';

/** Iteration counts, chosen so the whole run takes a few minutes on an idle 2-core machine. */
export const SCALE: {
  attestation: AttestationBenchOptions;
  sops: SopsBenchOptions;
  eif: EifBenchOptions;
  pack: PackBenchOptions;
  verifyReceipt: VerifyReceiptBenchOptions;
  enclaveRss: EnclaveRssBenchOptions;
} = {
  attestation: { rounds: 5, passesPerRound: 8 },
  sops: { sizes: [10, 1_000, 10_000], runs: { 10: 20, 1_000: 10, 10_000: 5 }, defaultRuns: 5 },
  eif: { sizeBytes: 256 * 2 ** 20, runs: 5, contextRuns: 2 },
  pack: {
    latenciesMs: [0, 20],
    concurrencies: [1, 4, 16],
    signingModes: ['sealed', 'kms'],
    packsPerCase: 64,
    warmupPacks: 3,
    shapes: [
      { files: 2, keysPerFile: 10 },
      { files: 20, keysPerFile: 50 },
    ],
    // /proc counts CPU in 10 ms ticks: 100 packs per batch resolve 0.1 ms per pack.
    cpuPacks: 400,
    cpuBatches: 4,
  },
  verifyReceipt: { runs: 15, cpuRuns: 5 },
  enclaveRss: { secrets: 10_000, namespaces: 10, runs: 3 },
};

const SCALE_NOTE =
  'iteration counts are scaled for a few minutes on 2 cores: attestation 5 rounds × 8 passes; SOPS 20/10/5 runs at 10/1,000/10,000 keys; ' +
  'EIF 5 runs; pack 64 packs per latency case (p99 of 64 samples is close to the maximum) and 400 packs per CPU case in 4 batches; verify-receipt 15 spawns; RSS 3 fresh enclaves';

const IDS = ['attestation', 'sops', 'eif', 'pack', 'verify-receipt', 'enclave-rss'] as const;
type Id = (typeof IDS)[number];

function parseArgs(argv: string[]): { only: Set<Id> | undefined; readme: boolean } {
  let only: Set<Id> | undefined;
  let readme = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--readme') readme = true;
    else if (a === '--only') {
      const list = (argv[++i] ?? '').split(',').filter(Boolean);
      for (const x of list) if (!(IDS as readonly string[]).includes(x)) throw new Error(`--only: unknown benchmark ${x} (known: ${IDS.join(', ')})`);
      only = new Set(list as Id[]);
    } else throw new Error(`unknown argument ${a} (use --only a,b or --readme)`);
  }
  return { only, readme };
}

async function main(): Promise<void> {
  const { only, readme } = parseArgs(process.argv.slice(2));
  const latest = path.join(resultsDir, 'latest.json');
  if (readme) {
    process.stdout.write(formatReadmeSnippet(JSON.parse(await readFile(latest, 'utf8')) as BenchRun) + '\n');
    return;
  }
  const wanted = (id: Id): boolean => !only || only.has(id);
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const machine = describeMachine();
  process.stderr.write(`attested-pack bench: ${machine.cpuModel}, ${machine.cores} cores, load average ${machine.loadAverageAtStart.join(' / ')}\n`);
  const benchmarks: BenchResult[] = [];
  const errors: BenchRun['errors'] = [];
  const step = async (id: Id, fn: () => Promise<BenchResult>): Promise<BenchResult | undefined> => {
    if (!wanted(id)) return undefined;
    process.stderr.write(`running ${id}…\n`);
    try {
      const r = await fn();
      benchmarks.push(r);
      process.stderr.write(formatBenchmark(r) + '\n\n');
      return r;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      errors.push({ id, message });
      process.stderr.write(`✘ ${id} failed: ${message}\n`);
      return undefined;
    }
  };

  await step('attestation', () => benchAttestation(SCALE.attestation));
  await step('sops', () => benchSops(SCALE.sops));
  await step('eif', () => benchEif(SCALE.eif));
  if (wanted('pack') || wanted('verify-receipt') || wanted('enclave-rss')) {
    let world: BenchWorld | undefined;
    try {
      world = await startBenchWorld();
      const w = world;
      let sample: PackSample | undefined;
      await step('pack', async () => {
        const r = await benchPack(w, SCALE.pack);
        sample = r.sample;
        return r.result;
      });
      if (wanted('verify-receipt')) {
        if (!sample) {
          const r = await benchPack(w, { ...SCALE.pack, latenciesMs: [0], concurrencies: [1], signingModes: ['kms'], packsPerCase: 1, warmupPacks: 0, cpuPacks: 1, cpuBatches: 1 }).catch(() => undefined);
          sample = r?.sample;
        }
        const s = sample;
        await step('verify-receipt', async () => {
          if (!s) throw new Error('no receipt: the pack benchmark did not produce one');
          return benchVerifyReceipt(w, s, SCALE.verifyReceipt);
        });
      }
      await step('enclave-rss', () => benchEnclaveRss(w, SCALE.enclaveRss));
    } catch (err) {
      errors.push({ id: 'simulation', message: err instanceof Error ? err.message : String(err) });
    } finally {
      await world?.close();
    }
  }

  const run: BenchRun = {
    schema: 'attested-pack/bench-results/v1',
    startedAt,
    finishedAt: new Date().toISOString(),
    durationMs: performance.now() - t0,
    machine: { ...machine, loadAverageAtEnd: os.loadavg().map((x) => Math.round(x * 100) / 100) },
    scale: { note: SCALE_NOTE, settings: SCALE as unknown as Record<string, unknown> },
    benchmarks,
    errors,
  };
  process.stdout.write(formatRun(run) + '\n');
  if (!only) {
    await mkdir(resultsDir, { recursive: true });
    await writeFileAtomic(latest, JSON.stringify(run, null, 2) + '\n');
    process.stdout.write(`\nwrote ${path.relative(process.cwd(), latest)}\n\n${formatReadmeSnippet(run)}\n`);
  } else {
    process.stdout.write('\n(--only: bench/results/latest.json left unchanged)\n');
  }
  if (errors.length > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
});
