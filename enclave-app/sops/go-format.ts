/**
 * Go's text forms of numbers, booleans and times, reproduced exactly: sops encrypts and hashes
 * `strconv`/`time` output, so a JS `String(n)` (which switches to exponents at 1e21) or a lenient
 * parser would change ciphertexts and MACs.
 */
import { INT64_MAX, INT64_MIN } from './tree.js';

interface Digits {
  neg: boolean;
  /** Shortest round-trip decimal digits, no leading/trailing zeros ("1234568"). */
  d: string;
  /** Position of the decimal point relative to `d` (value = 0.d × 10^dp). */
  dp: number;
}

/** Shortest round-trip digits of a finite, non-zero double (JS and Go agree on these). */
function digitsOf(n: number): Digits {
  const neg = n < 0;
  const e = Math.abs(n).toExponential(); // "1.234568e+9"
  const m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(e);
  if (!m) throw new RangeError('unexpected toExponential output');
  const d = (m[1] + (m[2] ?? '')).replace(/0+$/, '') || '0';
  return { neg, d, dp: Number(m[3]) + 1 };
}

function special(n: number, inf: string, negInf: string, nan: string): string | undefined {
  if (Number.isNaN(n)) return nan;
  if (n === Infinity) return inf;
  if (n === -Infinity) return negInf;
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  return undefined;
}

function fmtF(g: Digits): string {
  let s = g.dp > 0 ? g.d.slice(0, g.dp).padEnd(g.dp, '0') : '0';
  const prec = Math.max(g.d.length - g.dp, 0);
  if (prec > 0) {
    s += '.';
    for (let i = 1; i <= prec; i++) {
      const j = g.dp + i - 1;
      s += j >= 0 && j < g.d.length ? g.d[j] : '0';
    }
  }
  return (g.neg ? '-' : '') + s;
}

function fmtE(g: Digits): string {
  let s = g.d[0];
  if (g.d.length > 1) s += '.' + g.d.slice(1);
  const exp = g.dp - 1;
  const a = Math.abs(exp);
  s += 'e' + (exp < 0 ? '-' : '+') + (a < 10 ? '0' : '') + String(a);
  return (g.neg ? '-' : '') + s;
}

/** `strconv.FormatFloat(f, 'f', -1, 64)`: what sops encrypts and hashes for a float (never an exponent). */
export function goFormatFloatF(n: number): string {
  return special(n, '+Inf', '-Inf', 'NaN') ?? fmtF(digitsOf(n));
}

/** `strconv.FormatFloat(f, 'g', -1, 64)` with YAML's `.inf`/`.nan`: how go-yaml v3 prints a float. */
export function goFormatFloatYaml(n: number): string {
  const s = special(n, '.inf', '-.inf', '.nan');
  if (s !== undefined) return s;
  const g = digitsOf(n);
  const exp = g.dp - 1;
  return exp < -4 || exp >= 6 ? fmtE(g) : fmtF(g);
}

/** Go `encoding/json` float output (ES6-like; exponent below 1e-6 and from 1e21). Not defined for NaN/Inf. */
export function goFormatFloatJson(n: number): string | undefined {
  if (!Number.isFinite(n)) return undefined;
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const g = digitsOf(n);
  const abs = Math.abs(n);
  if (abs < 1e-6 || abs >= 1e21) {
    // fmtE then Go's clean-up of "e-07" to "e-7".
    return fmtE(g).replace(/e([+-])0(\d)$/, 'e$1$2');
  }
  return fmtF(g);
}

/** `strconv.FormatFloat(f, 'G', -1, 64)` plus sops' ".0" rule — the dotenv/INI text of a float. */
export function goFormatFloatValToString(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  const g = digitsOf(n);
  const exp = g.dp - 1;
  // Shortest 'G' switches to an exponent like 'g' does: exp < -4 || exp >= 6.
  let s = exp < -4 || exp >= 6 ? fmtE(g).toUpperCase() : fmtF(g);
  if (!s.includes('.') && !s.includes('E')) s = fmtF(g) + '.0';
  return s;
}

/** Go `strconv.ParseBool`. */
export function goParseBool(s: string): boolean | undefined {
  switch (s) {
    case '1':
    case 't':
    case 'T':
    case 'TRUE':
    case 'true':
    case 'True':
      return true;
    case '0':
    case 'f':
    case 'F':
    case 'FALSE':
    case 'false':
    case 'False':
      return false;
    default:
      return undefined;
  }
}

/** Go `strconv.Atoi` on a 64-bit platform: optional sign, decimal digits, int64 range. */
export function goAtoi(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  return v < INT64_MIN || v > INT64_MAX ? undefined : v;
}

/** Go `strconv.ParseInt(s, 0, 64)` / `ParseUint(s, 0, 64)`: base prefixes 0x/0o/0b and leading-0 octal. */
export function goParseIntBase0(s: string): { value: bigint; unsigned: boolean } | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return undefined;
  const sign = m[1];
  let body = m[2];
  let v: bigint;
  if (/^0[xX]/.test(body)) v = BigInt('0x' + body.slice(2));
  else if (/^0[oO]/.test(body)) v = BigInt('0o' + body.slice(2));
  else if (/^0[bB]/.test(body)) v = BigInt('0b' + body.slice(2));
  else if (body.length > 1 && body[0] === '0') {
    body = body.slice(1);
    v = BigInt('0o' + body);
  } else v = BigInt(body);
  if (sign === '-') v = -v;
  if (v >= INT64_MIN && v <= INT64_MAX) return { value: v, unsigned: false };
  if (sign === '' && v <= 2n ** 64n - 1n) return { value: v, unsigned: true };
  return undefined;
}

/**
 * Go `strconv.ParseFloat(s, 64)`: decimal and hex-float syntax, `inf`/`infinity`/`nan` in any
 * case; out-of-range values are an error (undefined), like Go's ErrRange.
 */
export function goParseFloat(s: string): number | undefined {
  const sp = /^([+-]?)(inf|infinity)$/i.exec(s);
  if (sp) return sp[1] === '-' ? -Infinity : Infinity;
  if (/^nan$/i.test(s)) return NaN;
  if (/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(s)) {
    const v = Number(s);
    return Number.isFinite(v) ? v : undefined;
  }
  const hx = /^([+-]?)0[xX]((?:[0-9a-fA-F]_?)*[0-9a-fA-F]?)(?:\.([0-9a-fA-F]*))?[pP]([+-]?[0-9]+)$/.exec(s);
  if (hx && (hx[2] !== '' || (hx[3] ?? '') !== '')) {
    const intPart = hx[2].replace(/_/g, '');
    const frac = hx[3] ?? '';
    const mant = BigInt('0x' + ((intPart + frac) || '0'));
    const v = Number(mant) * 2 ** (Number(hx[4]) - 4 * frac.length);
    if (!Number.isFinite(v)) return undefined;
    return hx[1] === '-' ? -v : v;
  }
  return undefined;
}

/** A parsed RFC 3339 time, keeping the wall clock and offset as written (like Go's time.Time). */
export interface GoTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** Fractional-second digits as written (without the dot), "" when none. */
  frac: string;
  /** Offset from UTC in minutes. */
  offsetMinutes: number;
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Go `time.Parse(time.RFC3339, s)` (fractional seconds accepted, as Go does). */
export function goParseRfc3339(s: string): GoTime | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(Z|([+-])(\d{2}):(\d{2}))$/.exec(s);
  if (!m) return undefined;
  const t: GoTime = {
    year: Number(m[1]),
    month: Number(m[2]),
    day: Number(m[3]),
    hour: Number(m[4]),
    minute: Number(m[5]),
    second: Number(m[6]),
    frac: m[7] ?? '',
    offsetMinutes: m[8] === 'Z' ? 0 : (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11])),
  };
  if (t.month < 1 || t.month > 12 || t.day < 1 || t.day > daysIn(t.year, t.month)) return undefined;
  if (t.hour > 23 || t.minute > 59 || t.second > 59) return undefined;
  if (m[10] !== undefined && (Number(m[10]) > 23 || Number(m[11]) > 59)) return undefined;
  return t;
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

function offsetText(t: GoTime): string {
  if (t.offsetMinutes === 0) return 'Z';
  const a = Math.abs(t.offsetMinutes);
  return (t.offsetMinutes < 0 ? '-' : '+') + pad(Math.floor(a / 60), 2) + ':' + pad(a % 60, 2);
}

/** Go `t.Format(time.RFC3339)`: whole seconds, `Z` for a zero offset. */
export function goFormatRfc3339(t: GoTime): string {
  return (
    `${pad(t.year, 4)}-${pad(t.month, 2)}-${pad(t.day, 2)}T${pad(t.hour, 2)}:${pad(t.minute, 2)}:${pad(t.second, 2)}` +
    offsetText(t)
  );
}

/** Go `t.MarshalText()` (RFC 3339 with nanoseconds, trailing zeros dropped). */
export function goFormatRfc3339Nano(t: GoTime): string {
  const frac = t.frac.padEnd(9, '0').replace(/0+$/, '');
  return (
    `${pad(t.year, 4)}-${pad(t.month, 2)}-${pad(t.day, 2)}T${pad(t.hour, 2)}:${pad(t.minute, 2)}:${pad(t.second, 2)}` +
    (frac ? '.' + frac : '') +
    offsetText(t)
  );
}

/** Formats a JS Date as sops writes `lastmodified`/`created_at`: UTC, whole seconds, `Z`. */
export function formatSopsTimestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * yaml.v3's timestamp recogniser (used to decide quoting): YYYY- prefix, then one of the layouts
 * `2006-1-2T15:4:5.999999999Z07:00`, the same with `t`, `2006-1-2 15:4:5.999999999`, `2006-1-2`.
 */
export function isYamlTimestamp(s: string): boolean {
  if (!/^\d{4}-/.test(s)) return false;
  const m =
    /^(\d{4})-(\d{1,2})-(\d{1,2})(?:(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))|(?: (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?))?$/.exec(
      s,
    );
  if (!m) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return false;
  const h = m[4] ?? m[7];
  const mi = m[5] ?? m[8];
  const se = m[6] ?? m[9];
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || Number(se) > 59)) return false;
  return true;
}
