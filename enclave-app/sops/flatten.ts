/**
 * Flat metadata for the dotenv and INI stores (stores/flatten.go): nested maps and lists become
 * keys joined with `__map_` and `__list_N`, e.g. `age__list_0__map_enc`.
 */

const MAP_SEP = '__map_';
const LIST_SEP = '__list_';

/** A nested value built from flat keys: strings at the leaves, Maps and arrays inside. */
export type FlatTreeValue = string | FlatTreeValue[] | Map<string, FlatTreeValue> | undefined;

type Token = { map: string } | { list: number };

function tokenize(path: string): Token[] {
  const tokens: Token[] = [];
  let state: 'normal' | 'map' | 'list' = 'normal';
  let start = 0;
  let i = 0;
  const finish = (): void => {
    if (state === 'normal') tokens.push({ map: path.slice(start, i) });
    else if (state === 'map') tokens.push({ map: path.slice(start + MAP_SEP.length, i) });
    else {
      const n = Number.parseInt(path.slice(start + LIST_SEP.length, i), 10);
      tokens.push({ list: Number.isFinite(n) && n >= 0 && n < 10_000 ? n : 0 });
    }
    start = i;
  };
  while (i < path.length) {
    if (path.startsWith(MAP_SEP, i)) {
      finish();
      state = 'map';
      i += MAP_SEP.length;
    } else if (path.startsWith(LIST_SEP, i)) {
      finish();
      state = 'list';
      i += LIST_SEP.length;
    } else i++;
  }
  finish();
  return tokens;
}

/** Rebuilds the nested metadata from flat `key → string` pairs (sops `Unflatten`). */
export function unflatten(flat: ReadonlyArray<readonly [string, string]>): Map<string, FlatTreeValue> {
  const root = new Map<string, FlatTreeValue>();
  for (const [key, value] of flat) {
    const tokens = tokenize(key);
    let cur: Map<string, FlatTreeValue> | FlatTreeValue[] = root;
    for (let t = 0; t < tokens.length; t++) {
      const tok = tokens[t];
      const next = tokens[t + 1];
      const make = (): FlatTreeValue => (next === undefined ? value : 'map' in next ? new Map() : []);
      if ('map' in tok) {
        if (!(cur instanceof Map)) break;
        let v: FlatTreeValue = cur.get(tok.map);
        if (next === undefined || v === undefined || typeof v === 'string') {
          v = make();
          cur.set(tok.map, v);
        }
        if (next === undefined) break;
        if (!(v instanceof Map) && !Array.isArray(v)) break;
        cur = v;
      } else {
        if (!Array.isArray(cur)) break;
        let v: FlatTreeValue = cur[tok.list];
        if (next === undefined || v === undefined || typeof v === 'string') {
          v = make();
          cur[tok.list] = v;
        }
        if (next === undefined) break;
        if (!(v instanceof Map) && !Array.isArray(v)) break;
        cur = v;
      }
    }
  }
  return root;
}

/** A nested value to flatten: strings (already stringified) in Maps and arrays. */
export type Flattenable = string | Flattenable[] | Map<string, Flattenable>;

/** Flattens nested metadata to `prefix + path → string` pairs (sops `Flatten`). */
export function flatten(value: Map<string, Flattenable>, prefix: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const walk = (v: Flattenable, key: string): void => {
    if (typeof v === 'string') out.push([key, v]);
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${key}${LIST_SEP}${i}`));
    else for (const [k, x] of v) walk(x, `${key}${MAP_SEP}${k}`);
  };
  for (const [k, v] of value) walk(v, prefix + k);
  return out;
}
