/**
 * Adapts a decrypted SOPS tree to the values Clef's merge sees. Clef runs `sops decrypt` and
 * `YAML.parse`s the output, so: ints are numbers (via bigint, without precision loss until
 * Clef's own String()), floats numbers, timestamps their text, nested maps objects, lists arrays,
 * comments nothing.
 */
import { SopsBytes, SopsComment, SopsFloat, SopsInt, SopsMap, SopsTime, type SopsDecrypted, type SopsValue } from '../sops/index.js';
import type { NamespaceValues, ScopedCell, SopsValueLike } from '../clef/index.js';
import { PackError } from './errors.js';

/** The top-level entries of one decrypted cell, in file order. */
export function toNamespaceValues(cell: ScopedCell, decrypted: SopsDecrypted): NamespaceValues {
  if (decrypted.branches.length !== 1) {
    throw new PackError('PACK_UNSUPPORTED', `${cell.path} holds ${decrypted.branches.length} YAML documents; Clef cells hold exactly one`, {
      details: { path: cell.path },
      hint: 'split the file or keep one document per namespace × environment cell',
    });
  }
  const entries: Array<readonly [string, SopsValueLike]> = [];
  for (const item of decrypted.branches[0]!.items()) entries.push([item.key, toValueLike(item.value)]);
  return { namespace: cell.namespace, entries };
}

function toValueLike(v: SopsValue): SopsValueLike {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (v instanceof SopsInt) return v.value;
  if (v instanceof SopsFloat) return v.value;
  if (v instanceof SopsTime) return v.text;
  // A view, not a copy: no second plaintext buffer lands in Node's shared pool.
  if (v instanceof SopsBytes) return Buffer.from(v.bytes.buffer, v.bytes.byteOffset, v.bytes.byteLength).toString('utf8');
  if (v instanceof SopsComment) return undefined;
  if (v instanceof SopsMap) {
    const obj: Record<string, SopsValueLike> = {};
    for (const item of v.items()) obj[item.key] = toValueLike(item.value);
    return obj;
  }
  return v.filter((e) => !(e instanceof SopsComment)).map(toValueLike);
}
