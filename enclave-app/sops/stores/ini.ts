/**
 * INI as sops reads and writes it through gopkg.in/ini.v1: sections are top-level keys, every
 * value is a string, a comment before a section or key belongs to it (sops stores key comments
 * after the key), `"""` values span lines, and output aligns `=` per section.
 */
import { SopsError } from '../errors.js';
import { goFormatRfc3339, goParseRfc3339 } from '../go-format.js';
import { SopsBytes, SopsComment, SopsFloat, SopsInt, SopsMap, SopsTime, type SopsMapEntry, type SopsValue } from '../tree.js';

/** The name ini.v1 gives keys that appear before any section header. */
export const INI_DEFAULT_SECTION = 'DEFAULT';

interface IniKey {
  name: string;
  value: string;
  comment: string;
}

interface IniSection {
  name: string;
  comment: string;
  keys: IniKey[];
}

function fail(line: number, reason: string): SopsError {
  return new SopsError('SOPS_PARSE_ERROR', `invalid INI at line ${line}: ${reason}`, {
    details: { format: 'ini', line, col: 1, reason },
  });
}

function stripCommentChar(c: string): string {
  if (c.startsWith(';')) return c.replace(/^[; ]+/, '');
  if (c.startsWith('#')) return c.replace(/^[# ]+/, '');
  return c;
}

function surrounded(s: string, q: string): boolean {
  return s.length >= 2 && s[0] === q && s[s.length - 1] === q && !s.slice(1, -1).includes(q);
}

/** Parses INI text into sections (ini.v1 default options). */
export function parseIniSections(text: string): IniSection[] {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const sections: IniSection[] = [{ name: INI_DEFAULT_SECTION, comment: '', keys: [] }];
  let cur = sections[0];
  const names = new Set<string>([INI_DEFAULT_SECTION]);
  let comment: string[] = [];
  for (let n = 0; n < lines.length; n++) {
    const t = lines[n].trimStart();
    if (t === '') continue;
    if (t[0] === '#' || t[0] === ';') {
      comment.push(t.trimEnd());
      continue;
    }
    if (t[0] === '[') {
      const close = t.lastIndexOf(']');
      if (close <= 0) throw fail(n + 1, 'unclosed section header');
      const name = t.slice(1, close).trim();
      if (name === '') throw fail(n + 1, 'empty section name');
      if (names.has(name)) {
        if (name !== INI_DEFAULT_SECTION || cur !== sections[0] || sections[0].keys.length > 0) throw fail(n + 1, 'duplicate section');
        cur.comment = comment.join('\n');
      } else {
        names.add(name);
        cur = { name, comment: comment.join('\n'), keys: [] };
        sections.push(cur);
      }
      comment = [];
      continue;
    }
    // Key name: quoted with ` or ", or up to the first delimiter.
    let name: string;
    let rest: string;
    if (t[0] === '"' || t[0] === '`') {
      const q = t.startsWith('"""') ? '"""' : t[0];
      const end = t.indexOf(q, q.length);
      if (end === -1) throw fail(n + 1, 'unclosed quoted key');
      name = t.slice(q.length, end);
      rest = t.slice(end + q.length).trimStart();
      if (rest[0] !== '=' && rest[0] !== ':') throw fail(n + 1, "no '=' after the key");
      rest = rest.slice(1);
    } else {
      const d = t.search(/[=:]/);
      if (d === -1) throw fail(n + 1, "no '=' found");
      name = t.slice(0, d).trim();
      rest = t.slice(d + 1);
    }
    if (name === '') throw fail(n + 1, 'empty key name');
    let line = rest.trimStart();
    let value: string;
    if (line.length > 3 && line.startsWith('"""')) {
      const body = line.slice(3);
      const pos = body.lastIndexOf('"""');
      if (pos !== -1) value = body.slice(0, pos);
      else {
        const parts = [body];
        let closed = false;
        while (++n < lines.length) {
          const l = lines[n];
          const p = l.indexOf('"""');
          if (p !== -1) {
            parts.push(l.slice(0, p));
            closed = true;
            break;
          }
          parts.push(l);
        }
        if (!closed) throw fail(n, 'unclosed """ value');
        value = parts.join('\n');
      }
    } else if (line.startsWith('`')) {
      const pos = line.lastIndexOf('`');
      if (pos <= 0) throw fail(n + 1, 'unclosed ` value');
      value = line.slice(1, pos);
    } else if (line === '') value = '';
    else {
      line = line.trim();
      while (line.endsWith('\\') && n + 1 < lines.length) {
        line = line.slice(0, -1) + lines[++n].trim();
      }
      const c = line.search(/[#;]/);
      if (c !== -1) {
        comment.push(line.slice(c));
        line = line.slice(0, c).trim();
      }
      if (surrounded(line, "'") || surrounded(line, '"')) line = line.slice(1, -1);
      value = line;
    }
    if (cur.keys.some((k) => k.name === name)) throw fail(n + 1, 'duplicate key');
    cur.keys.push({ name, value, comment: comment.join('\n') });
    comment = [];
  }
  return sections;
}

/** Parses INI into one branch: section name → mapping of string values (comments kept as sops does). */
export function parseIni(text: string): SopsMap {
  const entries: SopsMapEntry[] = [];
  for (const s of parseIniSections(text)) {
    const items: SopsMapEntry[] = [];
    if (s.comment) items.push(new SopsComment(stripCommentChar(s.comment)));
    for (const k of s.keys) {
      items.push({ key: k.name, value: k.value });
      if (k.comment) items.push(new SopsComment(stripCommentChar(k.comment)));
    }
    if (s.name === INI_DEFAULT_SECTION && items.length === 0) continue;
    entries.push({ key: s.name, value: new SopsMap(items) });
  }
  return new SopsMap(entries);
}

function valueText(v: SopsValue, where: string): string {
  if (typeof v === 'string') return v;
  if (v instanceof SopsBytes) return Buffer.from(v.bytes).toString('utf8');
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v instanceof SopsInt) return v.value.toString();
  if (v instanceof SopsFloat) return v.value.toFixed(6);
  if (v instanceof SopsTime) {
    const t = goParseRfc3339(v.text);
    return t ? goFormatRfc3339(t) : v.text;
  }
  if (v === null) return '';
  throw new SopsError('SOPS_UNSUPPORTED', `INI values must be scalars (${where})`);
}

function commentLines(c: string): string[] {
  return c.split('\n').map((l) => (l[0] === '#' || l[0] === ';' ? l[0] + ' ' + l.slice(1).trim() : '; ' + l.trim()));
}

/** Writes a branch of sections as ini.v1 does (PrettyFormat: `=` aligned per section, blank line between sections). */
export function emitIni(branch: SopsMap): string {
  const blocks: string[] = [];
  let first = true;
  for (const e of branch.entries) {
    if (e instanceof SopsComment) continue;
    if (!(e.value instanceof SopsMap)) {
      throw new SopsError('SOPS_UNSUPPORTED', `INI top-level values must be sections (mappings); ${JSON.stringify(e.key)} is not`);
    }
    const entries = e.value.entries;
    let sectionComment = '';
    let start = 0;
    if (entries[0] instanceof SopsComment) {
      sectionComment = entries[0].text;
      start = 1;
    }
    const keys: IniKey[] = [];
    for (let i = start; i < entries.length; i++) {
      const x = entries[i];
      if (x instanceof SopsComment) {
        const last = keys[keys.length - 1];
        if (last) last.comment = last.comment ? last.comment + '\n' + x.text : x.text;
        continue;
      }
      keys.push({ name: x.key, value: valueText(x.value, `${e.key}.${x.key}`), comment: '' });
    }
    const isDefault = first && e.key === INI_DEFAULT_SECTION;
    first = false;
    if (isDefault && keys.length === 0 && !sectionComment) continue;
    const lines: string[] = [];
    if (sectionComment) lines.push(...commentLines(sectionComment));
    if (!isDefault) lines.push(`[${e.key}]`);
    const quotedName = (k: string): string =>
      k.includes('"') || /[=:]/.test(k) ? '`' + k + '`' : k.includes('`') ? '"""' + k + '"""' : k;
    const align = Math.max(0, ...keys.map((k) => Buffer.byteLength(quotedName(k.name), 'utf8')));
    for (const k of keys) {
      if (k.comment) lines.push(...commentLines(k.comment));
      const name = quotedName(k.name);
      let v = k.value;
      if (/[\n`]/.test(v)) v = '"""' + v + '"""';
      else if (/[#;]/.test(v)) v = '`' + v + '`';
      else if (v.trim().length !== v.length) v = '"' + v + '"';
      lines.push(name + ' '.repeat(align - Buffer.byteLength(name, 'utf8')) + ' = ' + v);
    }
    blocks.push(lines.join('\n') + '\n');
  }
  return blocks.join('\n');
}
