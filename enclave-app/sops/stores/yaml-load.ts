/**
 * Loads YAML (every document of a stream) into ordered sops trees, the way sops' YAML store
 * does with go-yaml v3: comments become entries, aliases are expanded, scalars are typed by
 * go-yaml's rules (read from the raw token, not the JS `yaml` package's own schema).
 */
import { parseAllDocuments, isAlias, isMap, isScalar, isSeq, type Document, type Node, type Pair } from 'yaml';
import { SopsError } from '../errors.js';
import { SopsBytes, SopsComment, SopsFloat, SopsInt, SopsMap, type SopsMapEntry, type SopsValue } from '../tree.js';
import { decodeUtf8 } from '../cipher.js';
import { resolvePlain } from './yaml-resolve.js';

const MAX_NODES = 1_000_000;
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

function commentLines(text: string | null | undefined, out: SopsComment[]): void {
  if (!text) return;
  for (const line of text.split('\n')) if (line !== '') out.push(new SopsComment(line));
}

interface LoadState {
  text: string;
  doc: Document;
  nodes: number;
}

function offsetOf(n: Node | null | undefined): number | undefined {
  return n?.range?.[0];
}

function scalarValue(st: LoadState, n: Node, isKey: boolean): SopsValue {
  if (!isScalar(n)) throw new Error('not a scalar');
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

function nodeToValue(st: LoadState, n: Node | null, depth: number, commentsHandled: boolean): SopsValue {
  if (++st.nodes > MAX_NODES || depth > MAX_DEPTH) {
    throw new SopsError('SOPS_PARSE_ERROR', 'YAML document is too large or too deeply nested (alias expansion)', {
      details: { format: 'yaml' },
    });
  }
  if (n === null) return null;
  if (isAlias(n)) {
    const target = n.resolve(st.doc);
    if (!target) throw parseError(st.text, 'BAD_ALIAS', offsetOf(n));
    return nodeToValue(st, target as Node, depth + 1, false);
  }
  if (isMap(n)) return mapToSops(st, n.items as Pair[], n, depth, commentsHandled);
  if (isSeq(n)) {
    const out: SopsValue[] = [];
    const cs: SopsComment[] = [];
    if (!commentsHandled) commentLines(n.commentBefore, cs);
    out.push(...cs);
    for (const item of n.items as Array<Node | null>) {
      const before: SopsComment[] = [];
      if (item && !isAlias(item)) {
        commentLines(item.commentBefore, before);
        if (isScalar(item)) commentLines(item.comment, before);
      }
      out.push(...before);
      out.push(nodeToValue(st, item, depth + 1, true));
    }
    const after: SopsComment[] = [];
    commentLines(n.comment, after);
    out.push(...after);
    return out;
  }
  if (isScalar(n)) return scalarValue(st, n, false);
  throw parseError(st.text, 'UNKNOWN_NODE', offsetOf(n));
}

function keyOf(st: LoadState, k: unknown): string {
  const node = k as Node | null;
  if (node === null || node === undefined) {
    throw new SopsError('SOPS_UNSUPPORTED', 'YAML mapping with an empty (null) key: sops only supports string keys');
  }
  if (isAlias(node)) return keyOf(st, node.resolve(st.doc));
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

function mapToSops(st: LoadState, items: Pair[], n: Node, depth: number, commentsHandled: boolean): SopsMap {
  const entries: SopsMapEntry[] = [];
  const cs: SopsComment[] = [];
  if (!commentsHandled) commentLines(n.commentBefore, cs);
  entries.push(...cs);
  const seen = new Set<string>();
  for (const pair of items) {
    const keyNode = pair.key as Node | null;
    const valueNode = pair.value as Node | null;
    const before: SopsComment[] = [];
    if (keyNode && !isAlias(keyNode)) {
      commentLines(keyNode.commentBefore, before);
      commentLines(keyNode.comment, before);
    }
    const scalarValueNode = valueNode === null || isScalar(valueNode) || isAlias(valueNode);
    if (valueNode && scalarValueNode && !isAlias(valueNode)) {
      commentLines(valueNode.commentBefore, before);
      commentLines(valueNode.comment, before);
    }
    entries.push(...before);
    const key = keyOf(st, keyNode);
    if (seen.has(key)) throw parseError(st.text, 'DUPLICATE_KEY', offsetOf(keyNode));
    seen.add(key);
    const value = nodeToValue(st, valueNode, depth + 1, scalarValueNode);
    entries.push({ key, value });
  }
  const after: SopsComment[] = [];
  commentLines(n.comment, after);
  entries.push(...after);
  return new SopsMap(entries);
}

/** Parses every document of a YAML stream into a branch. Never throws anything but SopsError. */
export function loadYaml(text: string): SopsMap[] {
  let docs: Document[];
  try {
    docs = parseAllDocuments(text, {
      schema: 'failsafe',
      uniqueKeys: true,
      merge: false,
      prettyErrors: false,
      strict: true,
      stringKeys: false,
    }) as unknown as Document[];
  } catch {
    throw new SopsError('SOPS_PARSE_ERROR', 'invalid YAML', { details: { format: 'yaml' } });
  }
  const branches: SopsMap[] = [];
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) throw parseError(text, err.code, err.pos?.[0]);
    const st: LoadState = { text, doc, nodes: 0 };
    const c = doc.contents as Node | null;
    try {
      let branch: SopsMap;
      if (c === null || (isScalar(c) && (c.type === 'PLAIN' || c.type === undefined) && resolvePlain(String(c.value ?? '')).tag === 'null' && !c.tag)) {
        branch = new SopsMap([]);
      } else if (isMap(c)) {
        branch = mapToSops(st, c.items as Pair[], c, 0, false);
      } else if (isAlias(c)) {
        const v = nodeToValue(st, c, 0, false);
        if (!(v instanceof SopsMap)) throw new SopsError('SOPS_UNSUPPORTED', 'YAML documents that are not mappings are not supported');
        branch = v;
      } else if (isSeq(c)) {
        throw new SopsError('SOPS_UNSUPPORTED', 'YAML documents that are sequences are not supported (sops needs a mapping at the top level)');
      } else {
        throw new SopsError('SOPS_UNSUPPORTED', 'YAML documents that are single values are not supported (sops needs a mapping at the top level)');
      }
      const head: SopsComment[] = [];
      commentLines(doc.commentBefore, head);
      const foot: SopsComment[] = [];
      commentLines(doc.comment, foot);
      branches.push(head.length || foot.length ? new SopsMap([...head, ...branch.entries, ...foot]) : branch);
    } catch (e) {
      if (e instanceof SopsError) throw e;
      throw new SopsError('SOPS_PARSE_ERROR', 'invalid YAML', { details: { format: 'yaml' } });
    }
  }
  return branches;
}
