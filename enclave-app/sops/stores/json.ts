/**
 * JSON as sops reads and writes it: an ordered token-stream parse (no JS objects, so "10" stays
 * after "9" and duplicates survive), numbers typed by sops version, and output that is Go's
 * compact encoding re-indented by `json.Indent` (tab by default).
 */
import { SopsError } from '../errors.js';
import { goFormatFloatJson, goFormatRfc3339Nano, goParseRfc3339 } from '../go-format.js';
import { SopsBytes, SopsComment, SopsFloat, SopsInt, SopsMap, SopsTime, INT64_MAX, INT64_MIN, type SopsMapEntry, type SopsValue } from '../tree.js';

/** How JSON numbers become tree values: 'float' (sops ≤3.13.1: every number a float64) or 'int-or-float' (3.13.2+). */
export type JsonNumberMode = 'float' | 'int-or-float';

const MAX_DEPTH = 1000;
/** JSON's one-character escapes and what they stand for. */
const SIMPLE_ESCAPES: ReadonlyMap<string, string> = new Map([
  ['"', '"'],
  ['\\', '\\'],
  ['/', '/'],
  ['b', '\b'],
  ['f', '\f'],
  ['n', '\n'],
  ['r', '\r'],
  ['t', '\t'],
]);

/**
 * What the fast string path cannot take: an escape, a control character (an error) or a surrogate
 * (Go's U+FFFD rule) — U+0000–U+001F, '\\' and U+D800–U+DFFF, written as the complement of the
 * rest, which V8 scans about 3× faster than the same set written directly.
 */
const NEEDS_SLOW_STRING = /[^\x20-\x5b\x5d-\ud7ff\ue000-\uffff]/;

class Parser {
  i = 0;
  constructor(
    readonly s: string,
    readonly numbers: JsonNumberMode,
  ) {}

  fail(reason: string): SopsError {
    let line = 1;
    let last = -1;
    for (let k = 0; k < this.i && k < this.s.length; k++) {
      if (this.s.charCodeAt(k) === 10) {
        line++;
        last = k;
      }
    }
    const col = this.i - last;
    return new SopsError('SOPS_PARSE_ERROR', `invalid JSON at line ${line}, column ${col}: ${reason}`, {
      details: { format: 'json', line, col, reason },
    });
  }

  ws(): void {
    for (;;) {
      const c = this.s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.i++;
      else return;
    }
  }

  value(depth: number): SopsValue {
    if (depth > MAX_DEPTH) throw this.fail('nesting too deep');
    this.ws();
    const c = this.s[this.i];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return this.string();
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    if (this.s.startsWith('true', this.i)) {
      this.i += 4;
      return true;
    }
    if (this.s.startsWith('false', this.i)) {
      this.i += 5;
      return false;
    }
    if (this.s.startsWith('null', this.i)) {
      this.i += 4;
      return null;
    }
    throw this.fail(c === undefined ? 'unexpected end of input' : 'unexpected character');
  }

  object(depth: number): SopsMap {
    this.i++; // {
    const entries: SopsMapEntry[] = [];
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return new SopsMap(entries);
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') throw this.fail('expected a string key');
      const key = this.string();
      this.ws();
      if (this.s[this.i] !== ':') throw this.fail("expected ':' after a key");
      this.i++;
      const value = this.value(depth + 1);
      entries.push({ key, value });
      this.ws();
      const c = this.s[this.i];
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === '}') {
        this.i++;
        return new SopsMap(entries);
      }
      throw this.fail("expected ',' or '}'");
    }
  }

  array(depth: number): SopsValue[] {
    this.i++; // [
    const out: SopsValue[] = [];
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i];
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === ']') {
        this.i++;
        return out;
      }
      throw this.fail("expected ',' or ']'");
    }
  }

  string(): string {
    // Fast path: up to the next quote there is no escape, control character or surrogate (almost
    // every key and ENC[...] value), so the text between the quotes is the string itself.
    const end = this.s.indexOf('"', this.i + 1);
    if (end !== -1) {
      const text = this.s.slice(this.i + 1, end);
      if (!NEEDS_SLOW_STRING.test(text)) {
        this.i = end + 1;
        return text;
      }
    }
    this.i++; // opening quote
    let out = '';
    let start = this.i;
    // Only a string holding a surrogate (raw or escaped) can need the U+FFFD pass below.
    let surrogate = false;
    for (;;) {
      const c = this.s.charCodeAt(this.i);
      if (Number.isNaN(c)) throw this.fail('unterminated string');
      if (c === 0x22) {
        out += this.s.slice(start, this.i);
        this.i++;
        // Go replaces unpaired surrogates with U+FFFD.
        return surrogate ? out.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd') : out;
      }
      if (c >= 0xd800 && c <= 0xdfff) surrogate = true;
      if (c < 0x20) throw this.fail('control character in string');
      if (c === 0x5c) {
        out += this.s.slice(start, this.i);
        const e = this.s[this.i + 1];
        const simple = e === undefined ? undefined : SIMPLE_ESCAPES.get(e);
        if (simple !== undefined) {
          out += simple;
          this.i += 2;
        } else if (e === 'u') {
          const hex = this.s.slice(this.i + 2, this.i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw this.fail('invalid \\u escape');
          const code = parseInt(hex, 16);
          if (code >= 0xd800 && code <= 0xdfff) surrogate = true;
          out += String.fromCharCode(code);
          this.i += 6;
        } else throw this.fail('invalid escape');
        start = this.i;
        continue;
      }
      this.i++;
    }
  }

  number(): SopsValue {
    const m = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    m.lastIndex = this.i;
    const r = m.exec(this.s);
    if (!r) throw this.fail('invalid number');
    const text = r[0];
    this.i += text.length;
    if (this.numbers === 'int-or-float' && /^-?[0-9]+$/.test(text)) {
      const v = BigInt(text);
      if (v >= INT64_MIN && v <= INT64_MAX) return new SopsInt(v);
    }
    const f = Number(text);
    if (!Number.isFinite(f)) throw this.fail('number out of range');
    return new SopsFloat(f);
  }
}

/** Parses a JSON document whose top level must be an object (sops' rule). */
export function parseJson(text: string, numbers: JsonNumberMode): SopsMap {
  const p = new Parser(text, numbers);
  p.ws();
  const v = p.value(0);
  if (!(v instanceof SopsMap)) {
    throw new SopsError('SOPS_UNSUPPORTED', 'sops only supports JSON files with a top-level object', {
      hint: 'wrap the value in an object, e.g. {"data": ...}',
    });
  }
  p.ws();
  if (p.i !== text.length) throw p.fail('unexpected data after the top-level object');
  return v;
}

/** Go `json.Marshal` of a string: HTML-safe escapes, U+2028/9 escaped, invalid UTF-16 replaced. */
export function goJsonQuote(s: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | undefined;
    if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) {
      esc =
        c === 0x22 ? '\\"' : c === 0x5c ? '\\\\' : c === 0x0a ? '\\n' : c === 0x0d ? '\\r' : c === 0x09 ? '\\t' : c === 0x08 ? '\\b' : c === 0x0c ? '\\f' : '\\u' + c.toString(16).padStart(4, '0');
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const hi = c <= 0xdbff;
      const next = s.charCodeAt(i + 1);
      if (hi && next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      esc = '\ufffd';
    }
    if (esc !== undefined) {
      out += s.slice(start, i) + esc;
      start = i + 1;
    }
  }
  return out + s.slice(start) + '"';
}

function leaf(v: SopsValue): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return goJsonQuote(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v instanceof SopsInt) return v.value.toString();
  if (v instanceof SopsFloat) {
    const f = goFormatFloatJson(v.value);
    if (f === undefined) throw new SopsError('SOPS_UNSUPPORTED', 'JSON cannot represent NaN or infinite floats');
    return f;
  }
  if (v instanceof SopsBytes) {
    // Go: invalid UTF-8 in a string is replaced; a []byte is marshalled as base64.
    return v.type === 'bytes' ? goJsonQuote(Buffer.from(v.bytes).toString('base64')) : goJsonQuote(Buffer.from(v.bytes).toString('utf8'));
  }
  if (v instanceof SopsTime) {
    const t = goParseRfc3339(v.text);
    return goJsonQuote(t ? goFormatRfc3339Nano(t) : v.text);
  }
  throw new TypeError('comment is not a JSON value');
}

/** Go's compact encoding passed through `json.Indent(dst, src, "", indent)`. Comments are dropped. */
export function emitJsonValue(v: SopsValue, indent: string, depth = 0): string {
  const pad = (d: number): string => indent.repeat(d);
  if (v instanceof SopsMap) {
    const items = v.items();
    if (items.length === 0) return '{}';
    return (
      '{\n' +
      items.map((e) => pad(depth + 1) + goJsonQuote(e.key) + ': ' + emitJsonValue(e.value, indent, depth + 1)).join(',\n') +
      '\n' +
      pad(depth) +
      '}'
    );
  }
  if (Array.isArray(v)) {
    const items = v.filter((x) => !(x instanceof SopsComment));
    if (items.length === 0) return '[]';
    return '[\n' + items.map((x) => pad(depth + 1) + emitJsonValue(x, indent, depth + 1)).join(',\n') + '\n' + pad(depth) + ']';
  }
  return leaf(v);
}

/** The indent string for sops' `indent` setting: -1 (default) is a tab, N ≥ 0 is N spaces. */
export function jsonIndentString(indent: number | undefined): string {
  return indent === undefined || indent < 0 ? '\t' : ' '.repeat(indent);
}
