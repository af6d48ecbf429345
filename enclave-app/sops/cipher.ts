/**
 * The `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` value format (sops aes/cipher.go): AES-256-GCM
 * with a 32-byte IV, the tree path as AAD, and a type tag that says how to read the plaintext.
 * One `ValueCipher` is built per file so the AES key object is derived once, not per value.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { zeroize } from '../../common/bytes.js';
import { SopsError, describePath } from './errors.js';
import type { GcmBatch } from './gcm-batch.js';
import {
  goAtoi,
  goFormatFloatF,
  goFormatRfc3339Nano,
  goParseBool,
  goParseFloat,
  goParseRfc3339,
} from './go-format.js';
import { SopsBytes, SopsComment, SopsFloat, SopsInt, SopsMap, SopsTime, type SopsValue } from './tree.js';

/** sops' IV length (aes/cipher.go nonceSize). */
export const IV_LENGTH = 32;
/** GCM tag length. */
export const TAG_LENGTH = 16;
/** Data key length (AES-256). */
export const DATA_KEY_LENGTH = 32;

/** The `type:` values sops writes. */
export type SopsValueType = 'str' | 'int' | 'float' | 'bool' | 'bytes' | 'time' | 'comment';

const VALUE_TYPES: ReadonlySet<string> = new Set(['str', 'int', 'float', 'bool', 'bytes', 'time', 'comment']);

// Go's regexp: greedy, anchored at the start only; `.` does not match a newline.
const ENC_PATTERN = /^ENC\[AES256_GCM,data:([^\n]+),iv:([^\n]+),tag:([^\n]+),type:([^\n]+)\]/;
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The four fields of an `ENC[...]` string, base64-decoded. */
export interface EncryptedValue {
  data: Buffer;
  iv: Buffer;
  tag: Buffer;
  type: SopsValueType;
}

/** True when a string has the `ENC[AES256_GCM,` shape (used for comments, which may be plaintext). */
export function looksEncrypted(s: string): boolean {
  return ENC_PATTERN.test(s);
}

function b64(field: string, value: string, path: readonly string[]): Buffer {
  const bytes = Buffer.from(value, 'base64');
  // Canonical encodings only: sops always writes them, so a non-canonical one was altered. Node's
  // encoder only emits [A-Za-z0-9+/] with '=' padding, so a value that survives the round trip is
  // valid canonical base64; the pattern is only consulted to say which way a bad one is wrong.
  if (bytes.toString('base64') === value) return bytes;
  const invalid = !B64.test(value);
  throw new SopsError('SOPS_BAD_VALUE', `encrypted value at ${describePath(path)} has ${invalid ? 'invalid' : 'non-canonical'} base64 in its ${field}`, {
    details: { path: [...path], field },
  });
}

// The shape sops writes: canonical base64 characters, a 32-byte IV, a 16-byte tag, a known type and
// nothing after the bracket — what the pattern below says, checked by `splitCanonical` without a
// regular expression (a third of the time; test/enclave-app/sops/fast-paths.test.ts holds the
// two to the same answers). Strings of this shape split exactly as ENC_PATTERN splits them (no field
// can hold a ',' or ':'); anything else goes the general way below, with its precise errors.
//   ^ENC\[AES256_GCM,data:([A-Za-z0-9+/]+={0,2}),iv:([A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=),
//    tag:([A-Za-z0-9+/]{21}[AQgw]==),type:(str|int|float|bool|bytes|time|comment)\]$
//   and the data field canonical (whole quanta, zero padding bits).
const ENC_PREFIX = 'ENC[AES256_GCM,data:';
const B64_VALUES = new Int8Array(128).fill(-1);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'].entries()) B64_VALUES[c.charCodeAt(0)] = i;

/**
 * For canonical base64 text at s[from, to) — whole quanta, [A-Za-z0-9+/] then at most two '=',
 * zero padding bits — the number of '=' (0, 1 or 2); otherwise -1.
 */
function canonicalPad(s: string, from: number, to: number): number {
  const n = to - from;
  if (n < 4 || n % 4 !== 0) return -1;
  const pad = s.charCodeAt(to - 1) !== 0x3d ? 0 : s.charCodeAt(to - 2) !== 0x3d ? 1 : 2;
  for (let i = from; i < to - pad; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || B64_VALUES[c]! < 0) return -1;
  }
  if (pad > 0 && (B64_VALUES[s.charCodeAt(to - pad - 1)]! & (pad === 2 ? 0x0f : 0x03)) !== 0) return -1;
  return pad;
}

/** The data, IV, tag and type fields of an `ENC[...]` string of exactly the shape sops writes, else undefined. */
export function splitCanonical(s: string): [data: string, iv: string, tag: string, type: SopsValueType] | undefined {
  if (!s.startsWith(ENC_PREFIX) || s.charCodeAt(s.length - 1) !== 0x5d) return undefined;
  const typeAt = s.lastIndexOf(',type:');
  if (typeAt < 0) return undefined;
  const type = s.slice(typeAt + 6, s.length - 1);
  if (!VALUE_TYPES.has(type)) return undefined;
  const tagAt = typeAt - 24; // ",tag:" + 24 characters (16 bytes) before ",type:"
  const ivAt = tagAt - 5 - 44; // ",iv:" + 44 characters (32 bytes) before ",tag:"
  const dataEnd = ivAt - 4;
  if (dataEnd < ENC_PREFIX.length || !s.startsWith(',tag:', tagAt - 5) || !s.startsWith(',iv:', dataEnd)) return undefined;
  if (canonicalPad(s, ENC_PREFIX.length, dataEnd) < 0 || canonicalPad(s, ivAt, tagAt - 5) !== 1 || canonicalPad(s, tagAt, typeAt) !== 2) return undefined;
  return [s.slice(ENC_PREFIX.length, dataEnd), s.slice(ivAt, tagAt - 5), s.slice(tagAt, typeAt), type as SopsValueType];
}

/** Parses an `ENC[...]` string strictly (32-byte IV, 16-byte tag, known type). */
export function parseEncryptedValue(s: string, path: readonly string[]): EncryptedValue {
  const fast = splitCanonical(s);
  if (fast !== undefined) {
    // Only canonical 32- and 16-byte encodings of the IV and tag get here.
    return { data: Buffer.from(fast[0], 'base64'), iv: Buffer.from(fast[1], 'base64'), tag: Buffer.from(fast[2], 'base64'), type: fast[3] };
  }
  const m = ENC_PATTERN.exec(s);
  if (!m) {
    throw new SopsError('SOPS_BAD_VALUE', `value at ${describePath(path)} should be encrypted but does not match sops' ENC[AES256_GCM,...] format`, {
      hint: 'the file was edited by hand or the value is plaintext; re-encrypt it with sops',
      details: { path: [...path] },
    });
  }
  const type = m[4];
  if (!VALUE_TYPES.has(type)) {
    throw new SopsError('SOPS_BAD_VALUE', `encrypted value at ${describePath(path)} has an unknown type ${JSON.stringify(type.slice(0, 32))}`, {
      details: { path: [...path] },
    });
  }
  const data = b64('data', m[1], path);
  const iv = b64('iv', m[2], path);
  const tag = b64('tag', m[3], path);
  if (iv.length !== IV_LENGTH) {
    throw new SopsError('SOPS_BAD_VALUE', `encrypted value at ${describePath(path)} has a ${iv.length}-byte IV; sops always writes ${IV_LENGTH}`, {
      details: { path: [...path], ivLength: iv.length },
    });
  }
  if (tag.length !== TAG_LENGTH) {
    throw new SopsError('SOPS_BAD_VALUE', `encrypted value at ${describePath(path)} has a ${tag.length}-byte tag; AES-GCM tags are ${TAG_LENGTH}`, {
      details: { path: [...path], tagLength: tag.length },
    });
  }
  return { data, iv, tag, type: type as SopsValueType };
}

/**
 * Adds an `ENC[...]` string to a batch and returns its type tag: values of the shape sops writes
 * are base64-decoded straight into the batch; anything else is parsed strictly first (same errors
 * as parseEncryptedValue).
 */
export function addEncryptedValue(batch: GcmBatch, s: string, aad: string, path: readonly string[]): SopsValueType {
  const fast = splitCanonical(s);
  if (fast !== undefined) {
    batch.addBase64(fast[0], fast[1], fast[2], aad);
    return fast[3];
  }
  const ev = parseEncryptedValue(s, path);
  batch.addBytes(ev.data, ev.iv, ev.tag, aad);
  return ev.type;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes UTF-8 strictly; undefined for invalid sequences (then the value stays bytes). */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  // Fast path (native validation and decoding); TextDecoder drops a leading BOM, so bytes that
  // start with one keep going through it to give the same string as before.
  const bom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  if (!bom) return isUtf8(bytes) ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8') : undefined;
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** The bytes sops encrypts and hashes for a leaf (`sops.ToBytes` + aes/cipher.go serialisation). */
export function valueToBytes(v: SopsValue): { type: SopsValueType; bytes: Buffer } {
  if (typeof v === 'string') return { type: 'str', bytes: Buffer.from(v, 'utf8') };
  if (typeof v === 'boolean') return { type: 'bool', bytes: Buffer.from(v ? 'True' : 'False') };
  if (v instanceof SopsInt) return { type: 'int', bytes: Buffer.from(v.value.toString()) };
  if (v instanceof SopsFloat) return { type: 'float', bytes: Buffer.from(goFormatFloatF(v.value)) };
  if (v instanceof SopsBytes) return { type: v.type, bytes: Buffer.from(v.bytes) };
  if (v instanceof SopsTime) {
    const t = goParseRfc3339(v.text);
    if (!t) throw new SopsError('SOPS_ENCRYPT_FAILED', 'a time value is not RFC 3339');
    return { type: 'time', bytes: Buffer.from(goFormatRfc3339Nano(t)) };
  }
  if (v instanceof SopsComment) return { type: 'comment', bytes: Buffer.from(v.text, 'utf8') };
  throw new TypeError('not a leaf');
}

/** The error for a value whose GCM tag does not fit (one wording for the single and batch paths). */
export function authenticationFailed(path: readonly string[]): SopsError {
  return new SopsError('SOPS_BAD_VALUE', `encrypted value at ${describePath(path)} failed authentication (wrong key, wrong path or tampered)`, {
    details: { path: [...path] },
  });
}

/** Encrypts and decrypts leaves with one data key. Call `destroy()` when done (drops the key object). */
export class ValueCipher {
  #key: KeyObject | undefined;

  constructor(dataKey: Uint8Array) {
    if (dataKey.length !== DATA_KEY_LENGTH) {
      throw new SopsError('SOPS_NO_KEY', `the recovered data key is ${dataKey.length} bytes; sops data keys are ${DATA_KEY_LENGTH}`);
    }
    const copy = Buffer.from(dataKey);
    this.#key = createSecretKey(copy);
    zeroize(copy);
  }

  private key(): KeyObject {
    if (!this.#key) throw new SopsError('SOPS_NO_KEY', 'the data key was already released');
    return this.#key;
  }

  /** Releases the key object; later calls fail. */
  destroy(): void {
    this.#key = undefined;
  }

  /** Authenticates and decrypts; the caller owns (and must zero) the returned plaintext. */
  open(ev: EncryptedValue, aad: string, path: readonly string[]): Buffer {
    try {
      const d = createDecipheriv('aes-256-gcm', this.key(), ev.iv, { authTagLength: TAG_LENGTH });
      d.setAAD(Buffer.from(aad, 'utf8'));
      d.setAuthTag(ev.tag);
      const head = d.update(ev.data);
      const tail = d.final();
      if (tail.length === 0) return head;
      const out = Buffer.concat([head, tail]);
      zeroize(head, tail);
      return out;
    } catch (err) {
      if (err instanceof SopsError) throw err;
      throw authenticationFailed(path);
    }
  }

  /** Decrypts an `ENC[...]` string to its typed value; `""` stays `""` as in sops. */
  decrypt(s: string, aad: string, path: readonly string[]): SopsValue {
    if (s === '') return '';
    const ev = parseEncryptedValue(s, path);
    const pt = this.open(ev, aad, path);
    try {
      return decodeTyped(ev.type, pt, path);
    } finally {
      zeroize(pt);
    }
  }

  /** Encrypts bytes of a given type; empty input gives `""` (sops never encrypts empty values). */
  seal(type: SopsValueType, plaintext: Uint8Array, aad: string, iv: Uint8Array): string {
    if (plaintext.length === 0) return '';
    if (iv.length !== IV_LENGTH) {
      throw new SopsError('SOPS_ENCRYPT_FAILED', `IVs must be ${IV_LENGTH} bytes, got ${iv.length}`);
    }
    const c = createCipheriv('aes-256-gcm', this.key(), iv, { authTagLength: TAG_LENGTH });
    c.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([c.update(plaintext), c.final()]);
    const tag = c.getAuthTag();
    return `ENC[AES256_GCM,data:${ct.toString('base64')},iv:${Buffer.from(iv).toString('base64')},tag:${tag.toString('base64')},type:${type}]`;
  }
}

/** Reads decrypted bytes as the typed value (aes/cipher.go Decrypt's switch on type). */
export function decodeTyped(type: SopsValueType, pt: Buffer, path: readonly string[]): SopsValue {
  const bad = (what: string): SopsError =>
    new SopsError('SOPS_BAD_VALUE', `encrypted value at ${describePath(path)} is not a valid ${what}`, {
      details: { path: [...path], type },
    });
  switch (type) {
    case 'str': {
      const s = decodeUtf8(pt);
      return s === undefined ? new SopsBytes(Uint8Array.from(pt), 'str') : s;
    }
    case 'bytes':
      return new SopsBytes(Uint8Array.from(pt), 'bytes');
    case 'comment': {
      const s = decodeUtf8(pt);
      if (s === undefined) throw bad('UTF-8 comment');
      return new SopsComment(s);
    }
    case 'int': {
      const v = goAtoi(pt.toString('latin1'));
      if (v === undefined) throw bad('64-bit integer');
      return new SopsInt(v);
    }
    case 'float': {
      const v = goParseFloat(pt.toString('latin1'));
      if (v === undefined) throw bad('float');
      return new SopsFloat(v);
    }
    case 'bool': {
      const v = goParseBool(pt.toString('latin1'));
      if (v === undefined) throw bad('boolean');
      return v;
    }
    case 'time': {
      const t = goParseRfc3339(pt.toString('latin1'));
      if (t === undefined) throw bad('RFC 3339 time');
      return new SopsTime(goFormatRfc3339Nano(t));
    }
  }
}

/** Type guard: a plain map (used by walkers). */
export function isMap(v: SopsValue): v is SopsMap {
  return v instanceof SopsMap;
}
