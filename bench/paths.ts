/** Where the benchmarks find the repository, the test vectors and the results folder. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the folder holding package.json). */
export const repoRoot = fileURLToPath(new URL('../', import.meta.url));
/** test/vectors: interop vectors copied byte for byte, with provenance in test/vectors/PROVENANCE.md. */
export const vectorsDir = path.resolve(repoRoot, 'test/vectors');
/** bench/results, where latest.json is written. */
export const resultsDir = path.join(repoRoot, 'bench', 'results');
