/**
 * A small, strict CBOR (RFC 8949) reader and writer for attestation documents.
 *
 * Why not a general library: the verifier must see exactly what was signed. This reader
 * rejects what a lenient decoder silently accepts — trailing bytes, duplicate map keys
 * (cbor-x keeps the last one), indefinite lengths (the NSM never emits them), invalid UTF-8,
 * reserved encodings — and keeps integers apart from floats (integers decode as `bigint`,
 * floats as `number`), so `timestamp: 1.0` can never pass as an integer. Non-minimal integer
 * heads are accepted on purpose: genuine documents encode `timestamp` as a full uint64.
 *
 * The writer gives generators byte-exact control (`CborUint` with a fixed width, map entries
 * in insertion order), which the simulated NSM needs to reproduce the genuine layout.
 */

/** A decoded CBOR data item. Integers are `bigint`, floats are `number`. */
export type CborValue =
  | bigint
  | number
  | string
  | Uint8Array
  | boolean
  | null
  | CborValue[]
  | CborMap
  | CborTagged
  | CborSimple
  | CborUint;

/** A CBOR map with its entries in wire order (keys may be any item). */
export class CborMap {
  constructor(readonly entries: ReadonlyArray<readonly [CborValue, CborValue]>) {}

  /** The value of the entry whose key is the text string or integer `key`, if any. */
  get(key: string | bigint): CborValue | undefined {
    for (const [k, v] of this.entries) if (k === key) return v;
    return undefined;
  }

  /** True when an entry has the text string or integer `key`. */
  has(key: string | bigint): boolean {
    return this.entries.some(([k]) => k === key);
  }

  get size(): number {
    return this.entries.length;
  }
}

/** A tagged item (major type 6). */
export class CborTagged {
  constructor(
    readonly tag: bigint,
    readonly value: CborValue,
  ) {}
}

/** A simple value other than false/true/null (e.g. `undefined` = 23). */
export class CborSimple {
  constructor(readonly value: number) {}
}

/** Writer-only: an unsigned integer emitted with a fixed head width (1 = inline). */
export class CborUint {
  constructor(
    readonly value: bigint,
    readonly width: 0 | 1 | 2 | 4 | 8,
  ) {}
}

/** Why bytes are not acceptable CBOR; `offset` points at the offending byte. */
export class CborError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} (at byte ${offset})`);
    this.name = 'CborError';
  }
}

const MAX_DEPTH = 32;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes exactly one CBOR item spanning all of `bytes`; throws `CborError` on anything
 * malformed, truncated, trailing, duplicated or indefinite-length.
 */
export function decodeCbor(bytes: Uint8Array): CborValue {
  const reader = new Reader(bytes);
  if (bytes.length === 0) throw new CborError('empty input', 0);
  const value = reader.item(0);
  if (reader.pos !== bytes.length) throw new CborError(`${bytes.length - reader.pos} trailing byte(s)`, reader.pos);
  return value;
}

class Reader {
  pos = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private need(n: number): void {
    if (this.pos + n > this.bytes.length) throw new CborError('truncated input', this.pos);
  }

  /** Reads the argument of a head; returns bigint so 64-bit values stay exact. */
  private argument(info: number, at: number): bigint {
    if (info < 24) return BigInt(info);
    switch (info) {
      case 24:
        this.need(1);
        return BigInt(this.bytes[this.pos++]);
      case 25: {
        this.need(2);
        const v = this.view.getUint16(this.pos);
        this.pos += 2;
        return BigInt(v);
      }
      case 26: {
        this.need(4);
        const v = this.view.getUint32(this.pos);
        this.pos += 4;
        return BigInt(v);
      }
      case 27: {
        this.need(8);
        const v = this.view.getBigUint64(this.pos);
        this.pos += 8;
        return v;
      }
      case 31:
        throw new CborError('indefinite-length items are not accepted', at);
      default:
        throw new CborError(`reserved additional information ${info}`, at);
    }
  }

  /** A length/count argument that must fit what is left of the input. */
  private length(info: number, at: number, minItemBytes: number): number {
    const n = this.argument(info, at);
    const remaining = BigInt(this.bytes.length - this.pos);
    if (n * BigInt(minItemBytes) > remaining) throw new CborError('length exceeds the input (truncated)', at);
    return Number(n);
  }

  item(depth: number): CborValue {
    if (depth > MAX_DEPTH) throw new CborError(`nesting deeper than ${MAX_DEPTH}`, this.pos);
    const at = this.pos;
    this.need(1);
    const initial = this.bytes[this.pos++];
    const major = initial >> 5;
    const info = initial & 0x1f;
    switch (major) {
      case 0:
        return this.argument(info, at);
      case 1:
        return -1n - this.argument(info, at);
      case 2: {
        const n = this.length(info, at, 1);
        // Always a fresh, plain Uint8Array (Buffer#slice would return a view into the input).
        const out = new Uint8Array(n);
        out.set(this.bytes.subarray(this.pos, this.pos + n));
        this.pos += n;
        return out;
      }
      case 3: {
        const n = this.length(info, at, 1);
        const raw = this.bytes.subarray(this.pos, this.pos + n);
        this.pos += n;
        try {
          return utf8.decode(raw);
        } catch {
          throw new CborError('text string is not valid UTF-8', at);
        }
      }
      case 4: {
        const n = this.length(info, at, 1);
        const out: CborValue[] = [];
        for (let i = 0; i < n; i++) out.push(this.item(depth + 1));
        return out;
      }
      case 5: {
        const n = this.length(info, at, 2);
        const entries: Array<readonly [CborValue, CborValue]> = [];
        const seen = new Set<string>();
        for (let i = 0; i < n; i++) {
          const keyStart = this.pos;
          const key = this.item(depth + 1);
          const identity = keyIdentity(key, this.bytes.subarray(keyStart, this.pos));
          if (seen.has(identity)) throw new CborError('duplicate map key', keyStart);
          seen.add(identity);
          entries.push([key, this.item(depth + 1)] as const);
        }
        return new CborMap(entries);
      }
      case 6: {
        const tag = this.argument(info, at);
        return new CborTagged(tag, this.item(depth + 1));
      }
      default:
        return this.simpleOrFloat(info, at);
    }
  }

  private simpleOrFloat(info: number, at: number): CborValue {
    if (info < 24) {
      if (info === 20) return false;
      if (info === 21) return true;
      if (info === 22) return null;
      return new CborSimple(info);
    }
    switch (info) {
      case 24: {
        this.need(1);
        const v = this.bytes[this.pos++];
        // RFC 8949 §3.3: simple values below 32 must use the one-byte form.
        if (v < 32) throw new CborError('simple value in two-byte form below 32', at);
        return new CborSimple(v);
      }
      case 25: {
        this.need(2);
        const v = halfToNumber(this.view.getUint16(this.pos));
        this.pos += 2;
        return v;
      }
      case 26: {
        this.need(4);
        const v = this.view.getFloat32(this.pos);
        this.pos += 4;
        return v;
      }
      case 27: {
        this.need(8);
        const v = this.view.getFloat64(this.pos);
        this.pos += 8;
        return v;
      }
      case 31:
        throw new CborError('unexpected "break"', at);
      default:
        throw new CborError(`reserved additional information ${info}`, at);
    }
  }
}

/** Key identity for duplicate detection: semantic for integers and text, raw bytes otherwise. */
function keyIdentity(key: CborValue, raw: Uint8Array): string {
  if (typeof key === 'bigint') return `i:${key}`;
  if (typeof key === 'string') return `s:${key}`;
  return `r:${Buffer.from(raw).toString('hex')}`;
}

function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

// ---------------------------------------------------------------------------------------------
// Writer

/** Encodes a CBOR head (major type + argument) in its shortest form, or a forced width. */
export function encodeHead(major: number, value: bigint | number, width?: 0 | 1 | 2 | 4 | 8): Uint8Array {
  const v = BigInt(value);
  if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError('CBOR argument out of range');
  const w = width ?? (v < 24n ? 0 : v <= 0xffn ? 1 : v <= 0xffffn ? 2 : v <= 0xffffffffn ? 4 : 8);
  const m = major << 5;
  if (w === 0) {
    if (v >= 24n) throw new RangeError('value does not fit inline');
    return Uint8Array.of(m | Number(v));
  }
  const out = new Uint8Array(1 + w);
  const dv = new DataView(out.buffer);
  if (w === 1) {
    if (v > 0xffn) throw new RangeError('value does not fit in 1 byte');
    out[0] = m | 24;
    out[1] = Number(v);
  } else if (w === 2) {
    if (v > 0xffffn) throw new RangeError('value does not fit in 2 bytes');
    out[0] = m | 25;
    dv.setUint16(1, Number(v));
  } else if (w === 4) {
    if (v > 0xffffffffn) throw new RangeError('value does not fit in 4 bytes');
    out[0] = m | 26;
    dv.setUint32(1, Number(v));
  } else {
    out[0] = m | 27;
    dv.setBigUint64(1, v);
  }
  return out;
}

/**
 * Encodes a value: bigint → integer (shortest head), number → float64, `CborUint` → fixed
 * width, `CborMap` → entries in the given order, `Uint8Array` → bstr, string → tstr.
 */
export function encodeCbor(value: CborValue): Uint8Array {
  const parts: Uint8Array[] = [];
  write(value, parts);
  return Buffer.concat(parts);
}

function write(value: CborValue, out: Uint8Array[]): void {
  if (typeof value === 'bigint') {
    out.push(value >= 0n ? encodeHead(0, value) : encodeHead(1, -1n - value));
  } else if (typeof value === 'number') {
    const b = new Uint8Array(9);
    b[0] = 0xfb;
    new DataView(b.buffer).setFloat64(1, value);
    out.push(b);
  } else if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    out.push(encodeHead(3, bytes.length), bytes);
  } else if (value instanceof Uint8Array) {
    out.push(encodeHead(2, value.length), value);
  } else if (value === false) {
    out.push(Uint8Array.of(0xf4));
  } else if (value === true) {
    out.push(Uint8Array.of(0xf5));
  } else if (value === null) {
    out.push(Uint8Array.of(0xf6));
  } else if (Array.isArray(value)) {
    out.push(encodeHead(4, value.length));
    for (const v of value) write(v, out);
  } else if (value instanceof CborMap) {
    out.push(encodeHead(5, value.entries.length));
    for (const [k, v] of value.entries) {
      write(k, out);
      write(v, out);
    }
  } else if (value instanceof CborTagged) {
    out.push(encodeHead(6, value.tag));
    write(value.value, out);
  } else if (value instanceof CborUint) {
    out.push(encodeHead(0, value.value, value.width));
  } else {
    out.push(value.value < 24 ? Uint8Array.of(0xe0 | value.value) : Uint8Array.of(0xf8, value.value));
  }
}
