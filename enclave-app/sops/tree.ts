/**
 * The ordered plaintext tree of a SOPS document.
 *
 * Order is part of the format (the MAC hashes values in document order), so maps are arrays
 * of entries, never JS objects (which would move integer-like keys such as "123" first).
 * Leaves keep the lexical type sops gives them, because the type decides the bytes that are
 * encrypted and hashed: `7` (int), `7.0` (float) and `"7"` (str) are three different files.
 *
 *   string      → sops `str` (valid UTF-8 text)
 *   SopsBytes   → raw bytes: `str` that is not UTF-8 (binary store), or the legacy `bytes` type
 *   SopsInt     → `int`, a signed 64-bit integer held as bigint (no precision loss)
 *   SopsFloat   → `float`, an IEEE double printed with Go's rules
 *   boolean     → `bool`
 *   SopsTime    → `time` (decrypt only; no store produces it on load)
 *   SopsComment → a comment line (text after `#`), an entry of a map or an element of a list
 *   null        → null: never encrypted, never hashed
 */

/** A comment line; in maps it is an entry of its own, in lists an element. */
export class SopsComment {
  constructor(readonly text: string) {}
}

/** A signed 64-bit integer (`type:int`). */
export class SopsInt {
  constructor(readonly value: bigint) {
    if (value < INT64_MIN || value > INT64_MAX) throw new RangeError('SopsInt must fit in a signed 64-bit integer');
  }
}

/** A 64-bit float (`type:float`). Kept apart from ints because sops hashes `1` and `1.0` differently by type. */
export class SopsFloat {
  constructor(readonly value: number) {}
}

/** Raw bytes: a `str` that is not valid UTF-8 (type `str`) or a legacy `bytes` value. */
export class SopsBytes {
  constructor(
    readonly bytes: Uint8Array,
    readonly type: 'str' | 'bytes' = 'str',
  ) {}
}

/** A timestamp (`type:time`), held as Go's RFC 3339 text with nanoseconds (MarshalText form). */
export class SopsTime {
  constructor(readonly text: string) {}
}

/** One key/value entry of a map. */
export interface SopsMapItem {
  key: string;
  value: SopsValue;
}

/** An entry of a map: a key/value pair or a comment line. */
export type SopsMapEntry = SopsMapItem | SopsComment;

/** An ordered mapping (duplicates are kept as they appear, like sops' JSON store). */
export class SopsMap {
  constructor(readonly entries: SopsMapEntry[] = []) {}

  /** The key/value entries, comments left out. */
  items(): SopsMapItem[] {
    const out: SopsMapItem[] = [];
    for (const e of this.entries) if (!(e instanceof SopsComment)) out.push(e);
    return out;
  }

  /** The value of the first entry with this key (undefined when absent). */
  get(key: string): SopsValue | undefined {
    for (const e of this.entries) if (!(e instanceof SopsComment) && e.key === key) return e.value;
    return undefined;
  }

  /** True when a key/value entry with this key exists. */
  has(key: string): boolean {
    for (const e of this.entries) if (!(e instanceof SopsComment) && e.key === key) return true;
    return false;
  }

  /** Keys in document order. */
  keys(): string[] {
    return this.items().map((i) => i.key);
  }
}

/** An ordered list; comment lines are elements too. */
export type SopsSeq = SopsValue[];

/** Any node of the tree. */
export type SopsValue =
  | SopsMap
  | SopsSeq
  | string
  | SopsBytes
  | SopsInt
  | SopsFloat
  | boolean
  | SopsTime
  | SopsComment
  | null;

/** A whole document set: one branch per YAML document (every other store has exactly one). */
export interface SopsTree {
  branches: SopsMap[];
}

/** Smallest value of sops' `int` (Go int64). */
export const INT64_MIN = -(2n ** 63n);
/** Largest value of sops' `int` (Go int64). */
export const INT64_MAX = 2n ** 63n - 1n;

/** Builds a map from `[key, value]` pairs (and bare comments) — a convenience for callers and tests. */
export function sopsMap(entries: ReadonlyArray<readonly [string, SopsValue] | SopsComment>): SopsMap {
  return new SopsMap(entries.map((e) => (e instanceof SopsComment ? e : { key: e[0], value: e[1] })));
}

/** True for a leaf (anything that is not a map or a list). */
export function isLeaf(v: SopsValue): boolean {
  return !(v instanceof SopsMap) && !Array.isArray(v);
}
