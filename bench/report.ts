/**
 * The printed table (compact, fixed-width, for the terminal) and the README snippet (markdown,
 * the latest figures and the machine), both rendered from the same results object.
 */
import type { MachineInfo } from './machine.js';
import type { BenchResult, GoalCheck } from './results-types.js';
import { fmt } from './stats.js';

/** What bench/results/latest.json holds. */
export interface BenchRun {
  schema: 'attested-pack/bench-results/v1';
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  machine: MachineInfo & { loadAverageAtEnd: number[] };
  /** Iteration counts used, and why they are what they are. */
  scale: { note: string; settings: Record<string, unknown> };
  benchmarks: BenchResult[];
  /** Benchmarks that could not run, with the reason. */
  errors: Array<{ id: string; message: string }>;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function lpad(s: string, n: number): string {
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

/** The terminal table of one benchmark. */
export function formatBenchmark(b: BenchResult): string {
  const lines = [`== ${b.title} (${fmt(b.durationMs / 1000)} s)`];
  const caseW = Math.min(48, Math.max(...b.rows.map((r) => r.case.length)));
  const subjW = Math.min(56, Math.max(...b.rows.map((r) => r.subject.length)));
  const withP99 = b.id === 'pack';
  lines.push(
    `  ${pad('case', caseW)}  ${pad('subject', subjW)}  ${lpad('min', 8)}  ${lpad('median', 8)}  ${lpad('max', 8)}${withP99 ? `  ${lpad('p99', 8)}` : ''}  unit    n`,
  );
  for (const r of b.rows) {
    const s = r.summary;
    lines.push(
      `  ${pad(r.case, caseW)}  ${pad(r.subject, subjW)}  ${lpad(fmt(s.min), 8)}  ${lpad(fmt(s.median), 8)}  ${lpad(fmt(s.max), 8)}${withP99 ? `  ${lpad(fmt(s.p99), 8)}` : ''}  ${pad(r.unit, 6)}  ${s.n}`,
    );
  }
  for (const c of b.comparisons) lines.push(`  ratio ${c.case}: ${c.ours} is ${fmt(c.ratio)}× ${c.against} (medians; > 1 = ours better)`);
  for (const g of b.goals) {
    lines.push(`  ${g.met ? '✔ met   ' : '✘ MISSED'} ${g.goal}: ${g.measured}`);
    if (g.shortfall) lines.push(`           why: ${g.shortfall}`);
  }
  for (const n of b.notes) lines.push(`  · ${n}`);
  return lines.join('\n');
}

/** The whole run for the terminal. */
export function formatRun(run: BenchRun): string {
  const m = run.machine;
  const head = [
    `attested-pack benchmarks — ${run.startedAt}`,
    `machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryMiB} MiB, node ${m.node}, ${m.platform} ${m.kernel}, ${m.openssl}`,
    `load average at start ${m.loadAverageAtStart.join(' / ')}, at end ${m.loadAverageAtEnd.join(' / ')} (1/5/15 min)`,
    `scale: ${run.scale.note}`,
    ...(loaded(run) ? [`warning: ${loadWarning(run)}`] : []),
  ];
  const body = run.benchmarks.map(formatBenchmark);
  const errors = run.errors.map((e) => `✘ ${e.id} did not run: ${e.message}`);
  const goals = run.benchmarks.flatMap((b) => b.goals);
  const met = goals.filter((g) => g.met).length;
  return [...head, '', ...body.flatMap((b) => [b, '']), ...errors, `goals: ${met} of ${goals.length} met; total ${fmt(run.durationMs / 1000)} s`].join('\n');
}

function loaded(run: BenchRun): boolean {
  return run.machine.loadAverageAtStart[0]! > run.machine.cores;
}

function loadWarning(run: BenchRun): string {
  const m = run.machine;
  return `the machine was busy with other work (load average ${m.loadAverageAtStart[0]} on ${m.cores} cores at start, ${m.loadAverageAtEnd[0]} at end): absolute times (pack latency, cold start) are inflated by waiting for a core; ratios of interleaved runs are less affected`;
}

/** The README snippet: the goals with the latest figures and the machine they came from. */
export function formatReadmeSnippet(run: BenchRun): string {
  const m = run.machine;
  const lines = [
    `Latest \`npm run bench\` (${run.startedAt.slice(0, 10)}; ${m.cpuModel}, ${m.cores} cores, ${Math.round(m.memoryMiB / 1024)} GiB, node ${m.node}; load average ${m.loadAverageAtStart[0]} at start):`,
    '',
    ...(loaded(run) ? [`> ${loadWarning(run)}.`, ''] : []),
    '| goal | measured | against | |',
    '|---|---|---|---|',
  ];
  const cell = (t: string): string => t.replace(/\|/g, '\\|');
  for (const b of run.benchmarks) {
    for (const g of b.goals) lines.push(`| ${cell(g.goal)} | ${cell(g.measured)} | ${against(b, g)} | ${g.met ? '✔ met' : '✘ missed'} |`);
  }
  lines.push('', 'Full figures (min/median/max, p99, ratios, why a goal is missed): `bench/results/latest.json`.');
  return lines.join('\n');
}

function against(b: BenchResult, g: GoalCheck): string {
  switch (b.id) {
    case 'attestation':
      return '@evervault/wasm-attestation-bindings';
    case 'sops':
      return g.goal.includes('floor') ? 'node:crypto AES-GCM alone' : 'sops-age, sops-decoder';
    case 'eif':
      return 'openssl dgst -sha384';
    case 'pack':
      return g.goal.includes('CPU') ? 'CPU budget (/proc, per process)' : 'floor (KMS round trips × latency)';
    case 'verify-receipt':
      return 'node -e 0';
    case 'enclave-rss':
      return '—';
  }
}
