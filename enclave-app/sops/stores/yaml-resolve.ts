/**
 * go-yaml's implicit typing of plain scalars (resolve.go), needed twice: on load, to type
 * `7`, `0755`, `1.0`, `true` exactly as sops does; on emit, to quote strings that would
 * otherwise read back as something else (`"123"`, `"true"`, `"2024-01-01"`).
 */
import { goParseFloat, goParseIntBase0, isYamlTimestamp } from '../go-format.js';

/** The implicit type of a plain scalar in go-yaml v3. */
export type ResolvedScalar =
  | { tag: 'null' }
  | { tag: 'bool'; value: boolean }
  | { tag: 'int'; value: bigint; unsigned: boolean }
  | { tag: 'float'; value: number }
  | { tag: 'timestamp' }
  | { tag: 'str' };

const MAP: Record<string, ResolvedScalar> = {
  '': { tag: 'null' },
  '~': { tag: 'null' },
  null: { tag: 'null' },
  Null: { tag: 'null' },
  NULL: { tag: 'null' },
  true: { tag: 'bool', value: true },
  True: { tag: 'bool', value: true },
  TRUE: { tag: 'bool', value: true },
  false: { tag: 'bool', value: false },
  False: { tag: 'bool', value: false },
  FALSE: { tag: 'bool', value: false },
  '.nan': { tag: 'float', value: NaN },
  '.NaN': { tag: 'float', value: NaN },
  '.NAN': { tag: 'float', value: NaN },
  '.inf': { tag: 'float', value: Infinity },
  '.Inf': { tag: 'float', value: Infinity },
  '.INF': { tag: 'float', value: Infinity },
  '+.inf': { tag: 'float', value: Infinity },
  '+.Inf': { tag: 'float', value: Infinity },
  '+.INF': { tag: 'float', value: Infinity },
  '-.inf': { tag: 'float', value: -Infinity },
  '-.Inf': { tag: 'float', value: -Infinity },
  '-.INF': { tag: 'float', value: -Infinity },
};

const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;

function hint(s: string): string {
  if (s === '') return 'N';
  const c = s[0];
  if (c === '+' || c === '-') return 'S';
  if (c >= '0' && c <= '9') return 'D';
  if ('yYnNtTfFoO~'.includes(c)) return 'M';
  if (c === '.') return '.';
  return '';
}

/** go-yaml v3 `resolve("", s)` for a plain scalar. */
export function resolvePlain(s: string): ResolvedScalar {
  const h = hint(s);
  if (h === '') return { tag: 'str' };
  if (Object.prototype.hasOwnProperty.call(MAP, s)) return MAP[s];
  if (h === '.') {
    const f = goParseFloat(s);
    return f === undefined ? { tag: 'str' } : { tag: 'float', value: f };
  }
  if (h === 'D' || h === 'S') {
    if (isYamlTimestamp(s)) return { tag: 'timestamp' };
    const plain = s.replaceAll('_', '');
    const i = goParseIntBase0(plain);
    if (i) return { tag: 'int', value: i.value, unsigned: i.unsigned };
    if (YAML_STYLE_FLOAT.test(plain)) {
      const f = goParseFloat(plain);
      if (f !== undefined) return { tag: 'float', value: f };
    }
  }
  return { tag: 'str' };
}

const OLD_BOOLS = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON', 'n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF']);
const BASE60_FLOAT = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/;

/** yaml.v3 `isBase60Float`. */
export function isBase60Float(s: string): boolean {
  if (s === '') return false;
  const c = s[0];
  if (!(c === '+' || c === '-' || (c >= '0' && c <= '9')) || !s.includes(':')) return false;
  return BASE60_FLOAT.test(s);
}

/** True when go-yaml v3 would have to quote this string so it reads back as a string. */
export function v3NeedsQuoting(s: string): boolean {
  return resolvePlain(s).tag !== 'str' || isBase60Float(s) || OLD_BOOLS.has(s);
}

/** yaml.v2's resolver (sops ≤3.6 fork): no timestamps, YAML 1.1 booleans, `0b`/`0x`/octal ints. */
export function v2ResolvesToNonString(s: string): boolean {
  if (OLD_BOOLS.has(s)) return true;
  const r = resolvePlain(s);
  if (r.tag === 'timestamp') return false;
  return r.tag !== 'str';
}

const V2_DATE =
  /[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?([Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](\.[0-9]*)?(([ \t]*)Z|[-+][0-9][0-9]?(:[0-9][0-9])?)?/;

/** The sops yaml.v2 fork single-quotes any string containing a date (its `isDate`, unanchored). */
export function v2IsDate(s: string): boolean {
  return V2_DATE.test(s);
}
