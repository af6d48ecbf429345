/**
 * The shape of what every benchmark returns and what bench/results/latest.json holds, so the
 * table printer, the JSON file and the smoke test agree on one structure.
 */
import type { Summary } from './stats.js';

/** One measured subject (ours or a peer) on one case. */
export interface BenchRow {
  /** The input, e.g. `10,000 keys (age)` or `latency 20 ms, concurrency 4`. */
  case: string;
  /** Who ran: `ours: decryptSops` or `peer: sops-age`. */
  subject: string;
  peer: boolean;
  /** Unit of the summary: `ms`, `docs/s` or `MiB`. */
  unit: 'ms' | 'docs/s' | 'MiB';
  /** Summary over the repeated runs (n = runs). */
  summary: Summary;
  /** What one run is (e.g. `one decryption of the whole file`). */
  per?: string;
}

/** Ours against a peer (or a floor) on one case: `ratio` > 1 means ours is better. */
export interface Comparison {
  case: string;
  ours: string;
  against: string;
  /** How many times better ours is on medians (speed: theirs/ours time, or ours/theirs rate). */
  ratio: number;
}

/** One row of the goal table, judged. */
export interface GoalCheck {
  goal: string;
  /** What was measured, in words with numbers. */
  measured: string;
  met: boolean;
  /** When missed: by how much and why. */
  shortfall?: string;
}

/** Everything one benchmark produced. */
export interface BenchResult {
  id: 'attestation' | 'sops' | 'eif' | 'pack' | 'verify-receipt' | 'enclave-rss';
  title: string;
  rows: BenchRow[];
  comparisons: Comparison[];
  goals: GoalCheck[];
  /** How the benchmark was run (iterations, configuration) and caveats. */
  notes: string[];
  durationMs: number;
}
