/**
 * The few CBOR items an EIF signature section uses (RFC 8949, definite lengths only):
 * unsigned/negative integers, byte and text strings, arrays and maps. Encoding is canonical for
 * these inputs and byte-identical to serde_cbor/ciborium's output for PcrInfo and PcrSignature
 * (vectors.json `cbor_signature_section`). The decoder is strict and bounded; it throws plain
 * `CborError`s that callers wrap into their typed error.
 */

/** A decoded CBOR value (the subset above; tag 18 is unwrapped by the caller). */
export type CborValue = number | Uint8Array | string | CborValue[] | CborMap | CborTagged;
/** A map keeps its entries in wire order (keys may be text or integers). */
export interface CborMap {
  readonly kind: 'map';
  readonly entries: Array<[CborValue, CborValue]>;
}
/** A tagged item (only tag 18, COSE_Sign1, is expected). */
export interface CborTagged {
  readonly kind: 'tag';
  readonly tag: number;
  readonly value: CborValue;
}

/** Raised by the decoder for malformed input. */
export class CborError extends Error {}

function head(major: number, n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new CborError(`cannot encode length ${n}`);
  const m = major << 5;
  if (n < 24) return Buffer.from([m | n]);
  if (n < 0x100) return Buffer.from([m | 24, n]);
  if (n < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = m | 25;
    b.writeUInt16BE(n, 1);
    return b;
  }
  if (n < 0x100000000) {
    const b = Buffer.alloc(5);
    b[0] = m | 26;
    b.writeUInt32BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(9);
  b[0] = m | 27;
  b.writeBigUInt64BE(BigInt(n), 1);
  return b;
}

/** Encodes an integer (major type 0 or 1). */
export function encodeInt(n: number): Buffer {
  return n >= 0 ? head(0, n) : head(1, -1 - n);
}
/** Encodes a byte string (major type 2). */
export function encodeBytes(b: Uint8Array): Buffer {
  return Buffer.concat([head(2, b.byteLength), b]);
}
/** Encodes a UTF-8 text string (major type 3). */
export function encodeText(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([head(3, b.byteLength), b]);
}
/** Encodes an array of already-encoded items (major type 4). */
export function encodeArray(items: Uint8Array[]): Buffer {
  return Buffer.concat([head(4, items.length), ...items]);
}
/** Encodes a map from already-encoded key/value pairs, in the given order (major type 5). */
export function encodeMap(pairs: Array<[Uint8Array, Uint8Array]>): Buffer {
  return Buffer.concat([head(5, pairs.length), ...pairs.flat()]);
}
/** serde's default for `Vec<u8>`: an array of unsigned integers, one per byte (not a byte string). */
export function encodeByteArrayAsUints(b: Uint8Array): Buffer {
  return encodeArray(Array.from(b, (x) => encodeInt(x)));
}

const MAX_DEPTH = 16;

/** Decodes exactly one item spanning the whole input. */
export function decodeCbor(bytes: Uint8Array): CborValue {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [v, end] = decodeAt(buf, 0, 0);
  if (end !== buf.length) throw new CborError(`${buf.length - end} trailing bytes after the CBOR item`);
  return v;
}

function need(buf: Buffer, pos: number, n: number): void {
  if (n < 0 || pos + n > buf.length) throw new CborError('CBOR item runs past the end of its input');
}

function readArg(buf: Buffer, pos: number, info: number): [number, number] {
  if (info < 24) return [info, pos];
  if (info === 24) {
    need(buf, pos, 1);
    return [buf[pos]!, pos + 1];
  }
  if (info === 25) {
    need(buf, pos, 2);
    return [buf.readUInt16BE(pos), pos + 2];
  }
  if (info === 26) {
    need(buf, pos, 4);
    return [buf.readUInt32BE(pos), pos + 4];
  }
  if (info === 27) {
    need(buf, pos, 8);
    const big = buf.readBigUInt64BE(pos);
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new CborError('CBOR integer too large');
    return [Number(big), pos + 8];
  }
  throw new CborError(`unsupported CBOR additional information ${info} (indefinite lengths are not allowed)`);
}

function decodeAt(buf: Buffer, pos: number, depth: number): [CborValue, number] {
  if (depth > MAX_DEPTH) throw new CborError('CBOR nesting too deep');
  need(buf, pos, 1);
  const ib = buf[pos]!;
  const major = ib >> 5;
  const [arg, p] = readArg(buf, pos + 1, ib & 0x1f);
  switch (major) {
    case 0:
      return [arg, p];
    case 1:
      return [-1 - arg, p];
    case 2:
      need(buf, p, arg);
      return [new Uint8Array(buf.subarray(p, p + arg)), p + arg];
    case 3: {
      need(buf, p, arg);
      const text = new TextDecoder('utf-8', { fatal: true });
      try {
        return [text.decode(buf.subarray(p, p + arg)), p + arg];
      } catch {
        throw new CborError('CBOR text string is not valid UTF-8');
      }
    }
    case 4: {
      // Each element takes at least one byte: reject absurd counts before allocating.
      need(buf, p, arg);
      const out: CborValue[] = [];
      let q = p;
      for (let i = 0; i < arg; i++) {
        const [v, next] = decodeAt(buf, q, depth + 1);
        out.push(v);
        q = next;
      }
      return [out, q];
    }
    case 5: {
      need(buf, p, arg * 2);
      const entries: Array<[CborValue, CborValue]> = [];
      let q = p;
      for (let i = 0; i < arg; i++) {
        const [k, afterKey] = decodeAt(buf, q, depth + 1);
        const [v, afterValue] = decodeAt(buf, afterKey, depth + 1);
        entries.push([k, v]);
        q = afterValue;
      }
      return [{ kind: 'map', entries }, q];
    }
    case 6: {
      const [v, q] = decodeAt(buf, p, depth + 1);
      return [{ kind: 'tag', tag: arg, value: v }, q];
    }
    default:
      throw new CborError('CBOR floats and simple values are not expected here');
  }
}

/** True for a decoded map. */
export function isCborMap(v: CborValue): v is CborMap {
  return typeof v === 'object' && !(v instanceof Uint8Array) && !Array.isArray(v) && v.kind === 'map';
}

/** Looks up a text key in a decoded map. */
export function mapGet(m: CborMap, key: string): CborValue | undefined {
  for (const [k, v] of m.entries) if (k === key) return v;
  return undefined;
}

/** Converts serde's array-of-uints byte vector back to bytes; rejects anything else. */
export function uintArrayToBytes(v: CborValue | undefined, what: string): Uint8Array {
  if (!Array.isArray(v)) throw new CborError(`${what} must be an array of byte values`);
  const out = new Uint8Array(v.length);
  v.forEach((x, i) => {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 255) {
      throw new CborError(`${what}[${i}] is not a byte value`);
    }
    out[i] = x;
  });
  return out;
}
