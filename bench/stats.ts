/**
 * Summaries of repeated measurements: min / median / max (and p99 for latency), computed the
 * same way for ours and every peer so the ratios compare like with like.
 */
import { performance } from 'node:perf_hooks';

/** The summary of one subject's samples (all in the row's unit). */
export interface Summary {
  n: number;
  min: number;
  median: number;
  max: number;
  /** Nearest-rank 99th percentile (with fewer than 100 samples this is the maximum). */
  p99: number;
}

/** Nearest-rank percentile of ascending samples (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Summarises samples; the median of an even count is the mean of the middle two. */
export function summarize(samples: readonly number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return { n: 0, min: Number.NaN, median: Number.NaN, max: Number.NaN, p99: Number.NaN };
  const median = n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
  return { n, min: s[0]!, median, max: s[n - 1]!, p99: percentile(s, 99) };
}

/** Milliseconds taken by one call of `fn`. */
export async function timeMs(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Rounds for display: 3 significant digits, no exponent. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}
