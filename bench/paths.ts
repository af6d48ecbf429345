/** Where the benchmarks find the repository, the shared vectors and the results folder. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the folder holding package.json). */
export const repoRoot = fileURLToPath(new URL('../', import.meta.url));
/** ../shared/vectors, read-only material shared by all helpers. */
export const vectorsDir = path.resolve(repoRoot, '../shared/vectors');
/** bench/results, where latest.json is written. */
export const resultsDir = path.join(repoRoot, 'bench', 'results');
