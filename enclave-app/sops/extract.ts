/**
 * `sops decrypt --extract '["a"][0]["b"]'`: the path syntax and the lookup in the first
 * document (cmd/sops/decrypt.go, sops Tree.Truncate).
 */
import { SopsError } from './errors.js';
import { SopsMap, type SopsValue } from './tree.js';

/** One step of an extract path: a map key or a list index. */
export type ExtractStep = string | number;

/** Parses `["key"]`, `['key']` and `[0]` steps; anything else is SOPS_BAD_PATH. */
export function parseExtractPath(path: string): ExtractStep[] {
  const steps: ExtractStep[] = [];
  const re = /\[(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(\d+))\]/y;
  let i = 0;
  while (i < path.length) {
    re.lastIndex = i;
    const m = re.exec(path);
    if (!m) {
      throw new SopsError('SOPS_BAD_PATH', `invalid --extract path at character ${i + 1}; use ["key"][0]["nested"]`);
    }
    if (m[3] !== undefined) {
      const n = Number(m[3]);
      if (!Number.isSafeInteger(n)) throw new SopsError('SOPS_BAD_PATH', 'list index out of range in --extract path');
      steps.push(n);
    } else steps.push((m[1] ?? m[2]).replace(/\\(.)/g, '$1'));
    i = re.lastIndex;
  }
  if (steps.length === 0) throw new SopsError('SOPS_BAD_PATH', 'empty --extract path');
  return steps;
}

/** Follows the path from a document; list indices count every element, as sops does. */
export function extractValue(doc: SopsMap, steps: readonly ExtractStep[]): SopsValue {
  let cur: SopsValue = doc;
  for (const [n, step] of steps.entries()) {
    if (typeof step === 'string' && cur instanceof SopsMap && cur.has(step)) cur = cur.get(step) as SopsValue;
    else if (typeof step === 'number' && Array.isArray(cur) && step < cur.length) cur = cur[step];
    else {
      throw new SopsError('SOPS_BAD_PATH', `--extract path not found at step ${n + 1}`, { details: { step: n + 1 } });
    }
  }
  return cur;
}
