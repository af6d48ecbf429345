/**
 * Minimal strict DER (X.690) reading and writing for X.509 certificates.
 *
 * Reading: definite lengths in minimal form, single-byte tags, no trailing bytes, every
 * constructed element fully consumed by its children. That is enough to refuse certificates
 * that are BER, truncated or padded (checklist 15) and to hand out the exact raw bytes of
 * fields (TBSCertificate, Names, SubjectPublicKeyInfo) that signatures and name chaining use.
 * Writing: just the TLV helpers the simulated PKI needs to build certificates.
 */

/** Why bytes are not acceptable DER. */
export class DerError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} (at byte ${offset})`);
    this.name = 'DerError';
  }
}

/** Universal and context tags used by X.509. */
export const TAG = Object.freeze({
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
});

/** One DER element: its tag byte, its whole encoding and its content. */
export interface DerNode {
  tag: number;
  constructed: boolean;
  /** The whole TLV, as a view into the input. */
  raw: Uint8Array;
  /** The content octets, as a view into the input. */
  content: Uint8Array;
  /** Offset of `raw` in the outermost input (for error messages). */
  offset: number;
}

function readOne(bytes: Uint8Array, pos: number, base: number): DerNode {
  const start = pos;
  if (pos >= bytes.length) throw new DerError('truncated (missing tag)', base + pos);
  const tag = bytes[pos++];
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not used in certificates', base + start);
  if (pos >= bytes.length) throw new DerError('truncated (missing length)', base + pos);
  const first = bytes[pos++];
  let length: number;
  if (first < 0x80) {
    length = first;
  } else if (first === 0x80) {
    throw new DerError('indefinite length is not DER', base + start);
  } else {
    const n = first & 0x7f;
    if (n > 4) throw new DerError('length too large', base + start);
    if (pos + n > bytes.length) throw new DerError('truncated (length bytes)', base + pos);
    if (bytes[pos] === 0) throw new DerError('length not in minimal form', base + start);
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + bytes[pos++];
    if (length < 0x80) throw new DerError('length not in minimal form', base + start);
  }
  if (pos + length > bytes.length) throw new DerError('truncated (content)', base + pos);
  return {
    tag,
    constructed: (tag & 0x20) !== 0,
    raw: bytes.subarray(start, pos + length),
    content: bytes.subarray(pos, pos + length),
    offset: base + start,
  };
}

/** Parses one element spanning all of `bytes`, checking every nested constructed element. */
export function parseDer(bytes: Uint8Array): DerNode {
  const node = readOne(bytes, 0, 0);
  if (node.raw.length !== bytes.length) {
    throw new DerError(`${bytes.length - node.raw.length} trailing byte(s)`, node.raw.length);
  }
  validateTree(node, 0);
  return node;
}

function validateTree(node: DerNode, depth: number): void {
  if (depth > 32) throw new DerError('nesting too deep', node.offset);
  if (!node.constructed) return;
  for (const child of children(node)) validateTree(child, depth + 1);
}

/** The child elements of a constructed element (which must be consumed exactly). */
export function children(node: DerNode): DerNode[] {
  if (!node.constructed) throw new DerError('expected a constructed element', node.offset);
  const out: DerNode[] = [];
  const base = node.offset + (node.raw.length - node.content.length);
  let pos = 0;
  while (pos < node.content.length) {
    const child = readOne(node.content, pos, base);
    out.push(child);
    pos += child.raw.length;
  }
  return out;
}

/** Requires a given tag, returning the node. */
export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node) throw new DerError(`missing ${what}`, -1);
  if (node.tag !== tag) {
    throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${node.tag.toString(16)}`, node.offset);
  }
  return node;
}

/** Decodes an OBJECT IDENTIFIER into dotted form. */
export function readOid(node: DerNode): string {
  expectTag(node, TAG.OID, 'OBJECT IDENTIFIER');
  const c = node.content;
  if (c.length === 0) throw new DerError('empty OBJECT IDENTIFIER', node.offset);
  const arcs: bigint[] = [];
  let value = 0n;
  let started = false;
  for (let i = 0; i < c.length; i++) {
    const b = c[i];
    if (!started && b === 0x80) throw new DerError('OBJECT IDENTIFIER arc not minimal', node.offset);
    started = true;
    value = (value << 7n) | BigInt(b & 0x7f);
    if ((b & 0x80) === 0) {
      arcs.push(value);
      value = 0n;
      started = false;
    }
  }
  if (started) throw new DerError('truncated OBJECT IDENTIFIER', node.offset);
  const first = arcs[0];
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].join('.');
}

/** Decodes a DER BOOLEAN (only 0x00 and 0xff are DER). */
export function readBoolean(node: DerNode): boolean {
  expectTag(node, TAG.BOOLEAN, 'BOOLEAN');
  if (node.content.length !== 1 || (node.content[0] !== 0 && node.content[0] !== 0xff)) {
    throw new DerError('BOOLEAN is not DER (must be one byte 00 or ff)', node.offset);
  }
  return node.content[0] === 0xff;
}

/** Decodes a DER INTEGER (minimal two's complement) as a bigint. */
export function readInteger(node: DerNode): bigint {
  expectTag(node, TAG.INTEGER, 'INTEGER');
  const c = node.content;
  if (c.length === 0) throw new DerError('empty INTEGER', node.offset);
  if (c.length > 1 && ((c[0] === 0 && (c[1] & 0x80) === 0) || (c[0] === 0xff && (c[1] & 0x80) !== 0))) {
    throw new DerError('INTEGER not in minimal form', node.offset);
  }
  let v = 0n;
  for (const b of c) v = (v << 8n) | BigInt(b);
  if (c[0] & 0x80) v -= 1n << BigInt(8 * c.length);
  return v;
}

/** Decodes a BIT STRING into its unused-bit count and bytes. */
export function readBitString(node: DerNode): { unusedBits: number; bytes: Uint8Array } {
  expectTag(node, TAG.BIT_STRING, 'BIT STRING');
  const c = node.content;
  if (c.length === 0 || c[0] > 7 || (c.length === 1 && c[0] !== 0)) throw new DerError('malformed BIT STRING', node.offset);
  const unusedBits = c[0];
  const bytes = c.subarray(1);
  if (unusedBits > 0 && (bytes[bytes.length - 1] & ((1 << unusedBits) - 1)) !== 0) {
    throw new DerError('BIT STRING unused bits are not zero', node.offset);
  }
  return { unusedBits, bytes };
}

/** Decodes UTCTime / GeneralizedTime in the DER form RFC 5280 requires (seconds, `Z`). */
export function readTime(node: DerNode): number {
  const s = Buffer.from(node.content).toString('latin1');
  let m: RegExpMatchArray | null;
  let year: number;
  if (node.tag === TAG.UTC_TIME) {
    m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m) throw new DerError('UTCTime not in YYMMDDHHMMSSZ form', node.offset);
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (node.tag === TAG.GENERALIZED_TIME) {
    m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m) throw new DerError('GeneralizedTime not in YYYYMMDDHHMMSSZ form', node.offset);
    year = Number(m[1]);
  } else {
    throw new DerError('expected UTCTime or GeneralizedTime', node.offset);
  }
  const [mo, d, h, mi, se] = [m[2], m[3], m[4], m[5], m[6]].map(Number);
  const t = Date.UTC(year, mo - 1, d, h, mi, se);
  const back = new Date(t);
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || se > 59) {
    throw new DerError('invalid calendar time', node.offset);
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Encodes one TLV with a definite, minimal length. */
export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(content);
  const n = body.length;
  let len: number[];
  if (n < 0x80) len = [n];
  else if (n < 0x100) len = [0x81, n];
  else if (n < 0x10000) len = [0x82, n >> 8, n & 0xff];
  else len = [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Uint8Array.of(tag, ...len), body]);
}

/** SEQUENCE of the given encoded elements. */
export const seq = (...items: Uint8Array[]): Uint8Array => tlv(TAG.SEQUENCE, ...items);

/** Encodes a dotted OID. */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const out: number[] = [];
  const push = (v: bigint): void => {
    const groups: number[] = [Number(v & 0x7fn)];
    v >>= 7n;
    while (v > 0n) {
      groups.unshift(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(...groups);
  };
  push(arcs[0] * 40n + arcs[1]);
  for (const a of arcs.slice(2)) push(a);
  return tlv(TAG.OID, Uint8Array.from(out));
}

/** Encodes a non-negative INTEGER from big-endian magnitude bytes. */
export function uintBytes(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  return tlv(TAG.INTEGER, m[0] & 0x80 ? Buffer.concat([Uint8Array.of(0), m]) : m);
}

/** Encodes a small non-negative INTEGER. */
export function smallInt(n: number): Uint8Array {
  const bytes: number[] = [];
  let v = n;
  do {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  return uintBytes(Uint8Array.from(bytes));
}

/** Encodes a BOOLEAN. */
export const bool = (v: boolean): Uint8Array => tlv(TAG.BOOLEAN, Uint8Array.of(v ? 0xff : 0));

/** Encodes a BIT STRING with no unused bits. */
export const bitString = (bytes: Uint8Array): Uint8Array => tlv(TAG.BIT_STRING, Uint8Array.of(0), bytes);

/** Encodes a time as UTCTime (1950..2049) or GeneralizedTime, as RFC 5280 requires. */
export function time(ms: number): Uint8Array {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  const y = d.getUTCFullYear();
  const p = (n: number): string => String(n).padStart(2, '0');
  const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(TAG.UTC_TIME, Buffer.from(`${p(y % 100)}${rest}`, 'latin1'));
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(`${String(y).padStart(4, '0')}${rest}`, 'latin1'));
}
