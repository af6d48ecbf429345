/**
 * Loads YAML (every document of a stream) into ordered sops trees, the way sops' YAML store
 * does with go-yaml v3: comments become entries, aliases are expanded, scalars are typed by
 * go-yaml's rules (read from the raw token, not the JS `yaml` package's own schema).
 */
import { parseAllDocuments, isAlias, isMap, isScalar, isSeq, visit, type Alias, type Document, type Node, type Pair } from 'yaml';
import { SopsError } from '../errors.js';
import { SopsBytes, SopsComment, SopsFloat, SopsInt, SopsMap, type SopsMapEntry, type SopsValue } from '../tree.js';
import { decodeUtf8 } from '../cipher.js';
import { resolvePlain } from './yaml-resolve.js';

const MAX_NODES = 500_000;
const MAX_DEPTH = 500;

function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, col: offset - last };
}

function parseError(text: string, code: string, offset: number | undefined): SopsError {
  const pos = offset === undefined ? undefined : lineCol(text, offset);
  return new SopsError('SOPS_PARSE_ERROR', `invalid YAML${pos ? ` at line ${pos.line}, column ${pos.col}` : ''} (${code})`, {
    details: { format: 'yaml', ...(pos ?? {}), reason: code },
  });
}

interface LoadState {
  text: string;
  doc: Document;
  nodes: number;
  /** Source ranges of scalars: a `#` inside them is content, not a comment. */
  scalars: Array<[number, number]>;
  /** Anchored nodes by name, in document order (an alias refers to the last one before it). */
  anchors: Map<string, Node[]>;
}

function anchorsOf(doc: Document): Map<string, Node[]> {
  const anchors = new Map<string, Node[]>();
  visit(doc, (_key, node) => {
    const a = (node as { anchor?: unknown }).anchor;
    if (typeof a === 'string' && a !== '') {
      const list = anchors.get(a) ?? [];
      list.push(node as Node);
      anchors.set(a, list);
    }
  });
  return anchors;
}

/** Resolves an alias without re-walking the document (the package's resolve() is O(document) per call). */
function resolveAlias(st: LoadState, alias: Alias): Node | undefined {
  const at = alias.range?.[0] ?? Infinity;
  let found: Node | undefined;
  for (const n of st.anchors.get(alias.source) ?? []) if ((n.range?.[0] ?? 0) < at) found = n;
  return found;
}

/** A block collection as placed in the source, for assigning comment lines to it. */
interface Container {
  /** Column of its keys (mapping) or dashes (sequence). */
  col: number;
  start: number;
  /** Offset where the next sibling starts (comments at or after it belong elsewhere). */
  end: number;
  items: Array<{ start: number; child?: Container }>;
  /** Comments to insert, as [index of the item they precede, comment]. */
  inserts: Array<[number, SopsComment]>;
  target: SopsMapEntry[] | SopsValue[];
}

function offsetOf(n: Node | null | undefined): number | undefined {
  return n?.range?.[0];
}

function columnOf(text: string, offset: number): number {
  return offset - (text.lastIndexOf('\n', offset - 1) + 1);
}

function scalarValue(st: LoadState, n: Node, isKey: boolean): SopsValue {
  if (!isScalar(n)) throw new Error('not a scalar');
  if (n.range) st.scalars.push([n.range[0], n.range[1]]);
  const raw = n.value;
  const text = typeof raw === 'string' ? raw : raw === null || raw === undefined ? '' : String(raw);
  const tag = n.tag;
  const plain = n.type === 'PLAIN' || n.type === undefined;
  const shortTag = tag?.startsWith('tag:yaml.org,2002:') ? '!!' + tag.slice('tag:yaml.org,2002:'.length) : tag;
  if (shortTag === '!!binary') {
    const b64 = text.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) throw parseError(st.text, 'BAD_BINARY', offsetOf(n));
    const bytes = Buffer.from(b64, 'base64');
    const s = decodeUtf8(bytes);
    return s === undefined ? new SopsBytes(Uint8Array.from(bytes), 'str') : s;
  }
  if (shortTag === '!!timestamp') {
    throw new SopsError('SOPS_UNSUPPORTED', 'explicit !!timestamp values are not supported (sops cannot walk them either)');
  }
  // go-yaml resolves untagged plain scalars and the core tags; other tags and quoted scalars are strings.
  const resolvable = shortTag === undefined || ['!!str', '!!int', '!!float', '!!bool', '!!null'].includes(shortTag);
  if (!resolvable || shortTag === '!!str' || (!plain && shortTag === undefined)) return text;
  const r = resolvePlain(text);
  const wanted = shortTag?.slice(2);
  if (wanted !== undefined) {
    const ok = r.tag === wanted || (wanted === 'float' && r.tag === 'int');
    if (!ok) throw parseError(st.text, `TAG_MISMATCH_${wanted.toUpperCase()}`, offsetOf(n));
  }
  switch (r.tag) {
    case 'null':
      return null;
    case 'bool':
      return r.value;
    case 'int':
      if (wanted === 'float') return new SopsFloat(Number(r.value));
      if (r.unsigned) {
        throw new SopsError('SOPS_UNSUPPORTED', `integer ${isKey ? 'key' : 'value'} beyond the signed 64-bit range (sops cannot handle uint64)`, {
          details: { ...lineCol(st.text, offsetOf(n) ?? 0) },
        });
      }
      return new SopsInt(r.value);
    case 'float':
      return new SopsFloat(r.value);
    case 'timestamp':
    case 'str':
      return text;
  }
}

function guard(st: LoadState, depth: number): void {
  if (++st.nodes > MAX_NODES || depth > MAX_DEPTH) {
    throw new SopsError('SOPS_PARSE_ERROR', 'YAML document is too large or too deeply nested (alias expansion)', {
      details: { format: 'yaml' },
    });
  }
}

/** Converts a node; block collections reachable without aliases register a Container (for comments). */
function nodeToValue(st: LoadState, n: Node | null, depth: number, end: number, expanded: boolean): { value: SopsValue; container?: Container } {
  guard(st, depth);
  if (n === null) return { value: null };
  if (isAlias(n)) {
    const target = resolveAlias(st, n);
    if (!target) throw parseError(st.text, 'BAD_ALIAS', offsetOf(n));
    return { value: nodeToValue(st, target as Node, depth + 1, end, true).value };
  }
  const block = !expanded && !(n as { flow?: boolean }).flow && n.range !== undefined;
  if (isMap(n)) {
    const entries: SopsMapEntry[] = [];
    const c: Container | undefined = block ? { col: columnOf(st.text, n.range![0]), start: n.range![0], end, items: [], inserts: [], target: entries } : undefined;
    const seen = new Set<string>();
    const pairs = n.items as Pair[];
    for (let i = 0; i < pairs.length; i++) {
      const keyNode = pairs[i].key as Node | null;
      const next = (pairs[i + 1]?.key as Node | null | undefined)?.range?.[0] ?? end;
      const key = keyOf(st, keyNode);
      if (seen.has(key)) throw parseError(st.text, 'DUPLICATE_KEY', offsetOf(keyNode));
      seen.add(key);
      const v = nodeToValue(st, pairs[i].value as Node | null, depth + 1, next, expanded);
      entries.push({ key, value: v.value });
      c?.items.push({ start: offsetOf(keyNode) ?? c.start, ...(v.container ? { child: v.container } : {}) });
    }
    return { value: new SopsMap(entries), ...(c ? { container: c } : {}) };
  }
  if (isSeq(n)) {
    const out: SopsValue[] = [];
    const c: Container | undefined = block ? { col: columnOf(st.text, n.range![0]), start: n.range![0], end, items: [], inserts: [], target: out } : undefined;
    const items = n.items as Array<Node | null>;
    for (let i = 0; i < items.length; i++) {
      const next = items.slice(i + 1).find((x) => x?.range)?.range?.[0] ?? end;
      const v = nodeToValue(st, items[i], depth + 1, next, expanded);
      out.push(v.value);
      if (c) {
        const nodeStart = items[i]?.range?.[0];
        const start = nodeStart === undefined ? (c.items[c.items.length - 1]?.start ?? c.start) : dashOffset(st.text, nodeStart, c.col);
        c.items.push({ start, ...(v.container ? { child: v.container } : {}) });
      }
    }
    return { value: out, ...(c ? { container: c } : {}) };
  }
  if (isScalar(n)) return { value: scalarValue(st, n, false) };
  throw parseError(st.text, 'UNKNOWN_NODE', offsetOf(n));
}

/**
 * The offset of the `-` of a block-sequence item whose node starts at `nodeStart`: on the same
 * line, or on the nearest line above that is not blank or a comment.
 */
function dashOffset(text: string, nodeStart: number, col: number): number {
  let lineStart = text.lastIndexOf('\n', nodeStart - 1) + 1;
  if (text[lineStart + col] === '-' && lineStart + col < nodeStart) return lineStart + col;
  while (lineStart > 0) {
    const prevStart = text.lastIndexOf('\n', lineStart - 2) + 1;
    const line = text.slice(prevStart, lineStart - 1);
    const t = line.trim();
    if (t === '' || t.startsWith('#')) {
      lineStart = prevStart;
      continue;
    }
    return line[col] === '-' ? prevStart + col : nodeStart;
  }
  return nodeStart;
}

function keyOf(st: LoadState, k: unknown): string {
  const node = k as Node | null;
  if (node === null || node === undefined) {
    throw new SopsError('SOPS_UNSUPPORTED', 'YAML mapping with an empty (null) key: sops only supports string keys');
  }
  if (isAlias(node)) return keyOf(st, resolveAlias(st, node));
  if (!isScalar(node)) {
    throw new SopsError('SOPS_UNSUPPORTED', `YAML mapping with a non-scalar key at line ${lineCol(st.text, offsetOf(node) ?? 0).line}: sops only supports string keys`);
  }
  const v = scalarValue(st, node, true);
  if (typeof v !== 'string') {
    throw new SopsError('SOPS_UNSUPPORTED', `YAML key at line ${lineCol(st.text, offsetOf(node) ?? 0).line} is not a string (quote it): sops only supports string keys`, {
      details: { ...lineCol(st.text, offsetOf(node) ?? 0) },
    });
  }
  return v;
}

interface CommentLine {
  offset: number;
  col: number;
  text: string;
  /** Content precedes the `#` on its line. */
  inline: boolean;
}

/** Finds comment lines in [from, to): a `#` at a line start or after blanks, outside every scalar. */
function scanComments(text: string, from: number, to: number, scalars: ReadonlyArray<[number, number]>): CommentLine[] {
  const out: CommentLine[] = [];
  const inScalar = (o: number): boolean => scalars.some(([a, b]) => o >= a && o < b);
  let lineStart = from === 0 ? 0 : text.lastIndexOf('\n', from - 1) + 1;
  while (lineStart < to) {
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd === -1) lineEnd = text.length;
    for (let j = lineStart; j < lineEnd; j++) {
      if (text[j] !== '#') continue;
      if (j > lineStart && text[j - 1] !== ' ' && text[j - 1] !== '\t') continue;
      if (j < from || inScalar(j)) continue;
      const body = text.slice(j + 1, lineEnd);
      out.push({
        offset: j,
        col: j - lineStart,
        text: body.endsWith('\r') ? body.slice(0, -1) : body,
        inline: text.slice(lineStart, j).trim() !== '',
      });
      break;
    }
    lineStart = lineEnd + 1;
  }
  return out;
}

/**
 * Gives each comment line to a block collection the way go-yaml associates comments: the
 * deepest collection whose span holds it and whose column it does not fall left of; inline
 * comments go before the item on their line (sops ≤3.12 stores line comments before the item).
 */
function placeComment(root: Container, c: CommentLine): void {
  let cur = root;
  for (;;) {
    let next: Container | undefined;
    for (const item of cur.items) {
      const ch = item.child;
      if (!ch || c.offset >= ch.end) continue;
      if (c.inline ? c.offset > ch.start : c.offset > item.start && c.col >= ch.col) next = ch;
    }
    if (!next) break;
    cur = next;
  }
  let index = cur.items.filter((i) => i.start < c.offset).length;
  if (c.inline && index > 0) index--;
  cur.inserts.push([index, new SopsComment(c.text)]);
}

function applyInserts(c: Container): void {
  for (const item of c.items) if (item.child) applyInserts(item.child);
  if (c.inserts.length === 0) return;
  const items = c.target.slice();
  const merged: Array<SopsMapEntry | SopsValue> = [];
  for (let i = 0; i <= items.length; i++) {
    for (const [at, comment] of c.inserts) if (at === i) merged.push(comment);
    if (i < items.length) merged.push(items[i]);
  }
  c.target.length = 0;
  (c.target as Array<SopsMapEntry | SopsValue>).push(...merged);
}

/** Start offsets of the documents' spans: 0, then each `---` line that opens the next document. */
function documentSpans(text: string, docs: Document[]): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let from = 0;
  for (let i = 0; i < docs.length; i++) {
    let to = text.length;
    const next = docs[i + 1];
    if (next) {
      const contentStart = next.range?.[0] ?? text.length;
      const prevEnd = docs[i].range?.[1] ?? from;
      const re = /^---(?=[ \t\r\n]|$)/gm;
      re.lastIndex = prevEnd;
      let m: RegExpExecArray | null;
      let marker = contentStart;
      while ((m = re.exec(text)) && m.index <= contentStart) marker = m.index;
      to = Math.min(marker, contentStart);
    }
    spans.push([from, to]);
    from = to;
  }
  return spans;
}

/** Parses every document of a YAML stream into a branch. Never throws anything but SopsError. */
export function loadYaml(text: string): SopsMap[] {
  let docs: Document[];
  try {
    docs = parseAllDocuments(text, {
      schema: 'failsafe',
      uniqueKeys: false, // duplicates are detected below in O(n), the package's check is quadratic
      merge: false,
      prettyErrors: false,
      strict: true,
      stringKeys: false,
    }) as unknown as Document[];
  } catch {
    throw new SopsError('SOPS_PARSE_ERROR', 'invalid YAML', { details: { format: 'yaml' } });
  }
  const branches: SopsMap[] = [];
  const spans = documentSpans(text, docs);
  docs.forEach((doc, di) => {
    const err = doc.errors[0];
    if (err) throw parseError(text, err.code, err.pos?.[0]);
    const [from, to] = spans[di];
    const st: LoadState = { text, doc, nodes: 0, scalars: [], anchors: anchorsOf(doc) };
    const c = doc.contents as Node | null;
    try {
      let branch: SopsMap;
      let root: Container;
      if (c === null || (isScalar(c) && (c.type === 'PLAIN' || c.type === undefined) && resolvePlain(String(c.value ?? '')).tag === 'null' && !c.tag)) {
        branch = new SopsMap([]);
        root = { col: 0, start: from, end: to, items: [], inserts: [], target: branch.entries };
      } else if (isMap(c) || isAlias(c)) {
        const v = nodeToValue(st, c, 0, to, false);
        if (!(v.value instanceof SopsMap)) throw new SopsError('SOPS_UNSUPPORTED', 'YAML documents that are not mappings are not supported');
        branch = v.value;
        root = v.container ?? { col: 0, start: from, end: to, items: [], inserts: [], target: branch.entries };
      } else if (isSeq(c)) {
        throw new SopsError('SOPS_UNSUPPORTED', 'YAML documents that are sequences are not supported (sops needs a mapping at the top level)');
      } else {
        throw new SopsError('SOPS_UNSUPPORTED', 'YAML documents that are single values are not supported (sops needs a mapping at the top level)');
      }
      root.col = 0;
      for (const line of scanComments(text, from, to, st.scalars)) placeComment(root, line);
      applyInserts(root);
      branches.push(branch);
    } catch (e) {
      if (e instanceof SopsError) throw e;
      throw new SopsError('SOPS_PARSE_ERROR', 'invalid YAML', { details: { format: 'yaml' } });
    }
  });
  return branches;
}
