/**
 * Writes sops trees as YAML byte-for-byte like sops: go-yaml v3 (sops ≥3.7, indent 4 by default)
 * or the yaml.v2 fork of sops ≤3.6. The rules (indentation, scalar styles, escapes) follow the
 * libyaml emitter both use; see reference/sops-format.md §4.1.
 */
import { goFormatFloatYaml } from '../go-format.js';
import { SopsBytes, SopsComment, SopsFloat, SopsInt, SopsMap, SopsTime, type SopsValue } from '../tree.js';
import { isBase60Float, v2IsDate, v2ResolvesToNonString, v3NeedsQuoting } from './yaml-resolve.js';

/** Emission choices: indentation step and emitter generation. */
export interface YamlEmitOptions {
  indent: number;
  flavor: 'v2' | 'v3';
}

interface Analysis {
  blockPlainAllowed: boolean;
  singleAllowed: boolean;
  blockAllowed: boolean;
  multiline: boolean;
}

function isPrintable(cp: number): boolean {
  return cp === 0x0a || (cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd && cp !== 0xfeff);
}

function isBreakCp(cp: number): boolean {
  return cp === 0x0a || cp === 0x0d || cp === 0x85 || cp === 0x2028 || cp === 0x2029;
}

// Printable ASCII without blanks, starting with a letter/digit/_/'/' and not ending in ':' —
// libyaml allows such a scalar in every style (the common case, e.g. every ENC[...] value).
const SAFE_PLAIN = /^[A-Za-z0-9_/](?:[!-~]*[^:\s])?$/;
const EVERY_STYLE: Analysis = { blockPlainAllowed: true, singleAllowed: true, blockAllowed: true, multiline: false };

/** libyaml `yaml_emitter_analyze_scalar`, block context. */
function analyze(s: string, v3: boolean): Analysis {
  if (s === '') return { blockPlainAllowed: true, singleAllowed: true, blockAllowed: false, multiline: false };
  if (SAFE_PLAIN.test(s) && !s.includes('#')) return EVERY_STYLE;
  const cps = Array.from(s, (c) => c.codePointAt(0) as number);
  let blockIndicators = false;
  let lineBreaks = false;
  let special = false;
  let tabs = false;
  let leadingSpace = false;
  let leadingBreak = false;
  let trailingSpace = false;
  let trailingBreak = false;
  let breakSpace = false;
  let spaceBreak = false;
  let precededByWs = true;
  let previousSpace = false;
  let previousBreak = false;
  if (s.startsWith('---') || s.startsWith('...')) blockIndicators = true;
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i];
    const next = cps[i + 1];
    const followedByWs = next === undefined || next === 0x20 || next === 0x09;
    const ch = String.fromCodePoint(c);
    if (i === 0) {
      if ('#,[]{}&*!|>\'"%@`'.includes(ch)) blockIndicators = true;
      else if ((ch === '?' || ch === ':') && followedByWs) blockIndicators = true;
      else if (ch === '-' && followedByWs) blockIndicators = true;
    } else {
      if (ch === ':' && followedByWs) blockIndicators = true;
      else if (ch === '#' && precededByWs) blockIndicators = true;
    }
    if (v3 && c === 0x09) tabs = true;
    else if (!isPrintable(c)) special = true;
    if (isBreakCp(c)) lineBreaks = true;
    if (c === 0x20) {
      if (i === 0) leadingSpace = true;
      if (i === cps.length - 1) trailingSpace = true;
      if (previousBreak) breakSpace = true;
      previousSpace = true;
      previousBreak = false;
    } else if (isBreakCp(c)) {
      if (i === 0) leadingBreak = true;
      if (i === cps.length - 1) trailingBreak = true;
      if (previousSpace) spaceBreak = true;
      previousBreak = true;
      previousSpace = false;
    } else {
      previousSpace = false;
      previousBreak = false;
    }
    precededByWs = c === 0x20 || c === 0x09 || isBreakCp(c) || c === 0;
  }
  let blockPlainAllowed = true;
  let singleAllowed = true;
  let blockAllowed = true;
  if (leadingSpace || leadingBreak || trailingSpace || trailingBreak) blockPlainAllowed = false;
  if (trailingSpace) blockAllowed = false;
  if (breakSpace) {
    blockPlainAllowed = false;
    singleAllowed = false;
  }
  if (spaceBreak || tabs || special) {
    blockPlainAllowed = false;
    singleAllowed = false;
  }
  if (spaceBreak || special) blockAllowed = false;
  if (lineBreaks) blockPlainAllowed = false;
  if (blockIndicators) blockPlainAllowed = false;
  return { blockPlainAllowed, singleAllowed, blockAllowed, multiline: lineBreaks };
}

const ESCAPES: Record<number, string> = {
  0x00: '0',
  0x07: 'a',
  0x08: 'b',
  0x09: 't',
  0x0a: 'n',
  0x0b: 'v',
  0x0c: 'f',
  0x0d: 'r',
  0x1b: 'e',
  0x22: '"',
  0x5c: '\\',
  0x85: 'N',
  0xa0: '_',
  0x2028: 'L',
  0x2029: 'P',
};

function doubleQuoted(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (!isPrintable(c) || c === 0xfeff || isBreakCp(c) || c === 0x22 || c === 0x5c) {
      const e = ESCAPES[c];
      if (e !== undefined) out += '\\' + e;
      else if (c <= 0xff) out += '\\x' + c.toString(16).toUpperCase().padStart(2, '0');
      else if (c <= 0xffff) out += '\\u' + c.toString(16).toUpperCase().padStart(4, '0');
      else out += '\\U' + c.toString(16).toUpperCase().padStart(8, '0');
    } else out += ch;
  }
  return out + '"';
}

type Rendered = { inline: string } | { literal: string; header: string };

/** Chooses the style of a string (yaml.v3 `stringv` / v2 fork `stringv` + libyaml's checks). */
function renderString(s: string, isKey: boolean, opts: YamlEmitOptions): Rendered {
  const v3 = opts.flavor === 'v3';
  let style: 'plain' | 'single' | 'double' | 'literal';
  if (v3) {
    if (s.includes('\n')) style = 'literal';
    else if (v3NeedsQuoting(s)) style = 'double';
    else style = 'plain';
  } else {
    if (v2ResolvesToNonString(s) || isBase60Float(s)) style = 'double';
    else if (s.includes('\n')) style = 'literal';
    else if (v2IsDate(s)) style = 'single';
    else style = 'plain';
  }
  const a = analyze(s, v3);
  if (isKey && a.multiline) style = 'double';
  if (style === 'plain' && (!a.blockPlainAllowed || (s === '' && isKey))) style = 'single';
  if (style === 'single' && !a.singleAllowed) style = 'double';
  if (style === 'literal' && (!a.blockAllowed || isKey || /[\r\u0085\u2028\u2029]/.test(s))) style = 'double';
  switch (style) {
    case 'plain':
      return { inline: s };
    case 'single':
      return { inline: "'" + s.replaceAll("'", "''") + "'" };
    case 'double':
      return { inline: doubleQuoted(s) };
    case 'literal': {
      let header = '|';
      if (s.startsWith(' ') || s.startsWith('\n')) header += String(opts.indent);
      if (!s.endsWith('\n')) header += '-';
      else if (s.length === 1 || s.endsWith('\n\n')) header += '+';
      return { literal: s, header };
    }
  }
}

function base64Lines(bytes: Uint8Array): string[] {
  const b64 = Buffer.from(bytes).toString('base64');
  if (b64.length <= 70) return [b64];
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 70) lines.push(b64.slice(i, i + 70));
  return lines;
}

function renderLeaf(v: SopsValue, opts: YamlEmitOptions): Rendered {
  if (v === null) return { inline: 'null' };
  if (typeof v === 'string') return renderString(v, false, opts);
  if (typeof v === 'boolean') return { inline: v ? 'true' : 'false' };
  if (v instanceof SopsInt) return { inline: v.value.toString() };
  if (v instanceof SopsFloat) return { inline: goFormatFloatYaml(v.value) };
  if (v instanceof SopsTime) return { inline: v.text };
  if (v instanceof SopsBytes) {
    const lines = base64Lines(v.bytes);
    if (lines.length === 1) return { inline: '!!binary ' + lines[0] };
    return { literal: lines.join('\n') + '\n', header: '!!binary |' };
  }
  if (v instanceof SopsComment) return renderString(v.text, false, opts);
  throw new TypeError('not a leaf');
}

class Writer {
  readonly lines: string[] = [];
  /** Set while the next content line must start on a `- ` line (a collection inside a list item). */
  lead: { text: string; col: number } | undefined;

  constructor(readonly opts: YamlEmitOptions) {}

  private get I(): number {
    return this.opts.indent;
  }

  private get v3(): boolean {
    return this.opts.flavor === 'v3';
  }

  private start(col: number): string {
    if (this.lead) {
      const t = this.lead.text;
      this.lead = undefined;
      return t;
    }
    return ' '.repeat(col);
  }

  private comment(text: string, col: number): void {
    this.lines.push(' '.repeat(this.lead ? this.lead.col : col) + '#' + text);
  }

  private literalLines(text: string, col: number): void {
    const body = text.endsWith('\n') ? text.slice(0, -1) : text;
    for (const l of body.split('\n')) this.lines.push(l === '' ? '' : ' '.repeat(col) + l);
  }

  /** The indent of a block collection or literal that is the value of a key at `keyCol`. */
  private childCol(keyCol: number): number {
    return this.v3 ? this.I * Math.floor((keyCol + this.I) / this.I) : keyCol + this.I;
  }

  private isEmptyCollection(v: SopsValue): string | undefined {
    if (v instanceof SopsMap && v.items().length === 0) return '{}';
    if (Array.isArray(v) && v.every((x) => x instanceof SopsComment)) return '[]';
    return undefined;
  }

  mapping(m: SopsMap, col: number): void {
    for (const e of m.entries) {
      if (e instanceof SopsComment) {
        this.comment(e.text, col);
        continue;
      }
      const key = renderString(e.key, true, this.opts) as { inline: string };
      const simple = !e.key.includes('\n') && Buffer.byteLength(e.key, 'utf8') <= 128;
      const v = e.value;
      const empty = this.isEmptyCollection(v);
      const prefix = this.start(col) + (simple ? key.inline : '? ' + key.inline);
      const sep = simple ? ':' : '\n' + ' '.repeat(col) + ':';
      if (empty !== undefined) {
        this.lines.push(`${prefix}${sep} ${empty}`);
        this.collectionComments(v, col);
      } else if (v instanceof SopsMap) {
        if (simple) {
          this.lines.push(prefix + ':');
          this.mapping(v, this.childCol(col));
        } else {
          this.lines.push(prefix);
          const c = this.childCol(col);
          this.lead = { text: ' '.repeat(col) + ':' + ' '.repeat(Math.max(c - col - 1, 1)), col };
          this.mapping(v, c);
        }
      } else if (Array.isArray(v)) {
        this.lines.push(prefix + sep);
        this.sequence(v, this.v3 ? this.childCol(col) : col);
      } else {
        const r = renderLeaf(v, this.opts);
        if ('inline' in r) this.lines.push(`${prefix}${sep} ${r.inline}`);
        else {
          this.lines.push(`${prefix}${sep} ${r.header}`);
          this.literalLines(r.literal, this.childCol(col));
        }
      }
    }
  }

  /** Comments of an empty collection have nowhere better to go than after its line. */
  private collectionComments(v: SopsValue, col: number): void {
    const list = v instanceof SopsMap ? v.entries : Array.isArray(v) ? v : [];
    for (const c of list) if (c instanceof SopsComment) this.comment(c.text, col);
  }

  sequence(s: readonly SopsValue[], col: number): void {
    const itemCol = this.v3 ? col + 2 : col + this.I;
    const dash = (): string => this.start(col) + '-';
    for (const v of s) {
      if (v instanceof SopsComment) {
        this.comment(v.text, col);
        continue;
      }
      const empty = this.isEmptyCollection(v);
      if (empty !== undefined) {
        this.lines.push(`${dash()} ${empty}`);
        this.collectionComments(v, col);
      } else if (v instanceof SopsMap || Array.isArray(v)) {
        const first = v instanceof SopsMap ? v.entries[0] : v[0];
        if (first instanceof SopsComment) {
          // Leading comments of a nested collection: the dash stands alone so they stay inside it.
          this.lines.push(dash());
        } else this.lead = { text: dash() + ' '.repeat(itemCol - col - 1), col };
        if (v instanceof SopsMap) this.mapping(v, itemCol);
        else this.sequence(v, itemCol);
        this.lead = undefined;
      } else {
        const r = renderLeaf(v, this.opts);
        if ('inline' in r) this.lines.push(`${dash()} ${r.inline}`);
        else {
          this.lines.push(`${dash()} ${r.header}`);
          this.literalLines(r.literal, itemCol);
        }
      }
    }
  }
}

/** Emits one or more documents (`---` between them), each a mapping, as sops' YAML store does. */
export function emitYaml(branches: readonly SopsMap[], opts: YamlEmitOptions): string {
  const docs: string[] = [];
  for (const b of branches) {
    const w = new Writer(opts);
    if (b.items().length === 0) {
      for (const e of b.entries) if (e instanceof SopsComment) w.lines.push('#' + e.text);
      w.lines.push('{}');
    } else w.mapping(b, 0);
    docs.push(w.lines.join('\n') + '\n');
  }
  return docs.join('---\n');
}

/** Emits a single value as `sops decrypt --extract` does for non-string, non-mapping results. */
export function emitYamlValue(v: SopsValue, opts: YamlEmitOptions): string {
  const w = new Writer(opts);
  if (v instanceof SopsMap) return emitYaml([v], opts);
  if (Array.isArray(v)) {
    if (v.every((x) => x instanceof SopsComment)) return '[]\n';
    w.sequence(v, 0);
    return w.lines.join('\n') + '\n';
  }
  const r = renderLeaf(v, opts);
  if ('inline' in r) return r.inline + '\n';
  return r.header + '\n' + r.literal.replace(/^(?=.)/gm, ' '.repeat(opts.indent));
}
