/**
 * bench/: benchmarks against peers (`npm run bench`), each a harness that takes its iteration
 * counts and returns a BenchResult — rows (min/median/max/p99), ratios, and the goals
 * judged, with the reason when one is missed. run.ts drives them; the smoke test runs each tiny.
 */
export { benchAttestation, loadGenuineDocuments, type AttestationBenchOptions } from './attestation.js';
export { benchSops, seededSecrets, type SopsBenchOptions } from './sops.js';
export { benchEif, type EifBenchOptions } from './eif.js';
export {
  benchPack,
  dependentRoundTrips,
  ALLOWANCE_MS,
  CONCURRENT_ALLOWANCE_MS,
  ENCLAVE_CPU_GOAL_MS,
  PROXY_CPU_GOAL_MS,
  type BenchSigningMode,
  type PackBenchOptions,
  type PackSample,
  type PackShape,
} from './pack.js';
export { shapedInputs, shapedManifest, type ShapedInputs } from './shaped-repo.js';
export { benchVerifyReceipt, COLD_START_GOAL_MS, type VerifyReceiptBenchOptions } from './verify-receipt.js';
export { benchEnclaveRss, RSS_GOAL_MIB, type EnclaveRssBenchOptions } from './enclave-rss.js';
export { startBenchWorld, type BenchWorld, type EnclaveChild } from './sim-world.js';
export { describeMachine, type MachineInfo } from './machine.js';
export { summarize, percentile, type Summary } from './stats.js';
export { SeededBytes, seededBytes, seededHex, ageIdentityFromSeed, bech32Encode } from './seeded.js';
export { formatRun, formatBenchmark, formatReadmeSnippet, type BenchRun } from './report.js';
export type { BenchResult, BenchRow, Comparison, GoalCheck } from './results-types.js';
