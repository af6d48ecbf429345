/**
 * `npm run docs`: regenerates docs/reference.md from the code (scripts/reference/).
 * `npm run docs -- --check` exits 1 when the committed file is stale, without writing.
 */
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { REFERENCE_PATH, renderReference, repoRoot } from './reference/index.js';

const target = join(repoRoot, REFERENCE_PATH);
const text = await renderReference();
if (process.argv.includes('--check')) {
  const current = await readFile(target, 'utf8').catch(() => '');
  if (current !== text) {
    process.stderr.write(`error [DOCS_STALE]: ${REFERENCE_PATH} is not what the code generates\nhint: run \`npm run docs\` and commit the result\n`);
    process.exitCode = 1;
  }
} else {
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, text);
  process.stdout.write(`wrote ${REFERENCE_PATH}\n`);
}
