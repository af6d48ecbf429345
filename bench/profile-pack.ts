/**
 * Where a pack's CPU goes: runs the pack benchmark's CPU case (KMS latency 0, concurrency 1) with
 * `--cpu-prof` on the enclave child and the host-proxy child, then prints each process's heaviest
 * functions (self time, and inclusive time of the pack's own steps). Start-up is in the profile
 * too; with a few hundred packs it is a small share.
 *
 *   npx tsx bench/profile-pack.ts [--packs 300] [--signing sealed|kms] [--files 2 --keys 10] [--interval µs] [--out DIR]
 *
 * The sampling profiler measures wall time on the JavaScript thread: on a busy machine a sample
 * that lands in a syscall while the process waits for a core is charged to that syscall (writev,
 * writeBuffer), so read it next to the CPU times the benchmark prints from /proc.
 */
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { benchPack, type BenchSigningMode } from './pack.js';
import { startBenchWorld } from './sim-world.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

/** The largest .cpuprofile in `dir` (the main thread's; workers write smaller ones). */
async function mainProfile(dir: string): Promise<CpuProfile> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  const sized = await Promise.all(files.map(async (f) => ({ f, size: (await stat(path.join(dir, f))).size })));
  const biggest = sized.sort((a, b) => b.size - a.size)[0];
  if (!biggest) throw new Error(`no .cpuprofile in ${dir}`);
  return JSON.parse(await readFile(path.join(dir, biggest.f), 'utf8')) as CpuProfile;
}

/** Self and inclusive milliseconds per function, divided by `packs`. */
function summarizeProfile(p: CpuProfile, packs: number, top: number): string[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n: ProfileNode): string => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber}`;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  p.samples.forEach((id, i) => {
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(id)!;
    if (node.callFrame.functionName === '(idle)') return;
    busy += dt;
    self.set(name(node), (self.get(name(node)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = name(byId.get(cur)!);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  });
  const rows = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, ms]) => `  ${(ms / packs).toFixed(3).padStart(8)} ms/pack  ${k}`);
  return [`busy ${(busy / packs).toFixed(2)} ms per pack (sampled wall time, start-up included)`, 'self:', ...rows(self), 'inclusive:', ...rows(inclusive)];
}

const packs = Number(flag('packs', '300'));
const signing = flag('signing', 'sealed') as BenchSigningMode;
const shape = { files: Number(flag('files', '2')), keysPerFile: Number(flag('keys', '10')) };
const out = flag('out', await mkdtemp(path.join(tmpdir(), 'ap-pack-profile-')));
// Sampling interval in microseconds (Node's default is 1000); finer shows the short per-pack steps.
const interval = ['--cpu-prof-interval', flag('interval', '1000')];
const world = await startBenchWorld();
try {
  const r = await benchPack(world, {
    latenciesMs: [0],
    concurrencies: [1],
    signingModes: [signing],
    packsPerCase: 1,
    warmupPacks: 3,
    shapes: [shape],
    cpuPacks: packs,
    cpuBatches: 5,
    enclaveNodeArgs: ['--cpu-prof', ...interval, '--cpu-prof-dir', path.join(out, 'enclave')],
    proxyNodeArgs: ['--cpu-prof', ...interval, '--cpu-prof-dir', path.join(out, 'proxy')],
  });
  for (const row of r.result.rows.filter((x) => x.case.startsWith('CPU'))) process.stdout.write(`${row.subject}: median ${row.summary.median.toFixed(2)} ms CPU per pack (/proc)\n`);
  for (const n of r.result.notes.filter((x) => x.includes('kernel'))) process.stdout.write(`${n}\n`);
  const total = packs + 3 + 2; // timed, warm-up and the audit/latency packs of the run
  for (const who of ['enclave', 'proxy'] as const) {
    process.stdout.write(`\n== ${who} (${path.join(out, who)})\n${summarizeProfile(await mainProfile(path.join(out, who)), total, Number(flag('top', '30'))).join('\n')}\n`);
  }
} finally {
  await world.close();
}
