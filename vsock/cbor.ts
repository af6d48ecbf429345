/**
 * CBOR for messages that cross a trust boundary (frames, NSM requests and responses).
 *
 * Bytes from a peer are first checked by a small strict walker — definite lengths only, no tags,
 * only false/true/null/undefined and floats among simple values, map keys that are unique text
 * strings, bounded nesting, no trailing bytes, every length within the input — and only
 * then handed to cbor-x. The walker is what makes decoding safe against hostile input: cbor-x's
 * tag extensions (shared references, records, packed values, generic objects) never see peer
 * bytes, nesting cannot exhaust the stack, and no declared length can make us allocate.
 * Byte strings decode as plain `Uint8Array` (never Buffer), views into a private copy of the input.
 */
import { isUtf8 } from 'node:buffer';
import { Decoder, Encoder } from 'cbor-x';
import { FrameError } from './errors.js';

/** Limits applied when decoding untrusted CBOR. */
export interface CborLimits {
  /** Deepest allowed nesting of arrays and maps (the top-level item is depth 1). Default 32. */
  maxDepth?: number;
}

/** Default nesting limit: far deeper than any message of ours, far shallower than the stack. */
export const DEFAULT_MAX_CBOR_DEPTH = 32;

const encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  tagUint8Array: false,
  pack: false,
  bundleStrings: false,
  structuredClone: false,
});

const decoder = new Decoder({
  useRecords: false,
  mapsAsObjects: true,
  bundleStrings: false,
  structuredClone: false,
});

interface Container {
  /** Items still to read in this array/map (a map of n pairs holds 2n items). */
  remaining: number;
  /** Seen keys of a map (UTF-8 bytes as latin1), undefined for arrays. */
  keys: Set<string> | undefined;
}

function malformed(message: string): FrameError {
  return new FrameError('FRAME_MALFORMED', `malformed CBOR: ${message}`);
}

/**
 * A map key's bytes as a string usable in a Set (one char per byte), after checking they are
 * UTF-8. Short ASCII keys — all of ours — take the fast path without allocating a Buffer.
 */
function keyString(bytes: Uint8Array, start: number, length: number): string {
  if (length <= 32) {
    let key = '';
    let ascii = true;
    for (let i = start; i < start + length; i++) {
      const c = bytes[i];
      if (c >= 0x80) ascii = false;
      key += String.fromCharCode(c);
    }
    if (ascii) return key;
  }
  const view = bytes.subarray(start, start + length);
  if (!isUtf8(view)) throw malformed('text string is not valid UTF-8');
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('latin1');
}

/**
 * Checks that `bytes` is exactly one CBOR item of the accepted subset. Throws FRAME_MALFORMED
 * naming the first problem. Iterative: hostile nesting cannot overflow the stack.
 */
export function checkStrictCbor(bytes: Uint8Array, limits: CborLimits = {}): void {
  const maxDepth = limits.maxDepth ?? DEFAULT_MAX_CBOR_DEPTH;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.byteLength;
  let pos = 0;
  const stack: Container[] = [{ remaining: 1, keys: undefined }];

  const need = (n: number): void => {
    if (n > end - pos) throw malformed('an item runs past the end of the input');
  };

  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.remaining === 0) {
      stack.pop();
      continue;
    }
    top.remaining -= 1;
    // In a map of 2n items the keys are the items read when `remaining` becomes odd.
    const isKey = top.keys !== undefined && top.remaining % 2 === 1;

    need(1);
    const initial = bytes[pos++];
    const major = initial >> 5;
    const info = initial & 0x1f;

    let arg: number;
    if (info < 24) arg = info;
    else if (info === 24) {
      need(1);
      arg = bytes[pos];
      pos += 1;
    } else if (info === 25) {
      need(2);
      arg = view.getUint16(pos);
      pos += 2;
    } else if (info === 26) {
      need(4);
      arg = view.getUint32(pos);
      pos += 4;
    } else if (info === 27) {
      need(8);
      const big = view.getBigUint64(pos);
      pos += 8;
      // Lengths this large can never fit; integers keep their exact value in cbor-x (BigInt).
      arg = big > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER + 1 : Number(big);
    } else if (info === 31) {
      throw malformed('indefinite-length items are not accepted');
    } else {
      throw malformed(`reserved additional information ${info}`);
    }

    if (isKey && major !== 3) throw malformed('map keys must be text strings');

    switch (major) {
      case 0:
      case 1:
        break;
      case 2:
      case 3: {
        need(arg);
        if (isKey && top.keys !== undefined) {
          // Compare key contents, not encodings: "a" has more than one valid length header.
          const key = keyString(bytes, pos, arg);
          if (key === '__proto__') throw malformed('map key "__proto__" is not accepted');
          if (top.keys.has(key)) throw malformed('duplicate map key');
          top.keys.add(key);
        } else if (major === 3 && !isUtf8(bytes.subarray(pos, pos + arg))) {
          throw malformed('text string is not valid UTF-8');
        }
        pos += arg;
        break;
      }
      case 4:
      case 5: {
        const items = major === 5 ? arg * 2 : arg;
        // Every item takes at least one byte: a count beyond the remaining input is a lie.
        if (items > end - pos) throw malformed('a container announces more items than the input holds');
        if (stack.length >= maxDepth) throw malformed(`nesting deeper than ${maxDepth}`);
        stack.push({ remaining: items, keys: major === 5 ? new Set() : undefined });
        break;
      }
      case 6:
        throw malformed('CBOR tags are not accepted');
      case 7:
        if (info >= 20 && info <= 23) break; // false, true, null, undefined
        if (info === 25 || info === 26 || info === 27) break; // half, single, double float
        throw malformed(`simple value ${info === 24 ? arg : info} is not accepted`);
    }
  }
  if (pos !== end) throw malformed(`${end - pos} trailing byte(s) after the item`);
}

/**
 * Decodes one untrusted CBOR item after `checkStrictCbor`. Never throws anything but
 * FrameError (FRAME_MALFORMED). The input is copied, so later changes to it do not show through.
 */
export function decodeStrictCbor(bytes: Uint8Array, limits: CborLimits = {}): unknown {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return decodeStrictCborOwned(copy, limits);
}

/**
 * Like `decodeStrictCbor` without the copy: for callers that hand over a fresh plain Uint8Array
 * they never touch again (byte strings in the result are views into it).
 */
export function decodeStrictCborOwned(bytes: Uint8Array, limits: CborLimits = {}): unknown {
  checkStrictCbor(bytes, limits);
  // A plain Uint8Array source makes cbor-x return plain Uint8Array views for byte strings.
  const source = Buffer.isBuffer(bytes) ? new Uint8Array(bytes) : bytes;
  try {
    return decoder.decode(source);
  } catch (err) {
    throw new FrameError('FRAME_MALFORMED', 'malformed CBOR: the decoder rejected the input', { cause: err });
  }
}

/**
 * Encodes a value in the subset `decodeStrictCbor` accepts (objects, arrays, strings, numbers,
 * booleans, null/undefined, Uint8Array as byte strings). Throws FRAME_UNENCODABLE for anything
 * else (Map, Date, BigInt beyond 64 bits, cycles…), so we never send what a peer must reject.
 * Returns a fresh Uint8Array the caller owns.
 */
export function encodeStrictCbor(value: unknown, limits: CborLimits = {}): Uint8Array {
  const view = encodeStrictCborTransient(value, limits);
  const out = new Uint8Array(view.byteLength);
  out.set(view);
  return out;
}

/**
 * Like `encodeStrictCbor` but returns cbor-x's own output buffer, valid only until the next
 * encode: for callers that copy it at once (the frame encoder), saving an allocation.
 */
export function encodeStrictCborTransient(value: unknown, limits: CborLimits = {}): Uint8Array {
  let encoded: Uint8Array;
  try {
    encoded = encoder.encode(value);
  } catch (err) {
    throw new FrameError('FRAME_UNENCODABLE', 'value cannot be encoded as CBOR', { cause: err, category: 'internal' });
  }
  try {
    checkStrictCbor(encoded, limits);
  } catch (err) {
    throw new FrameError('FRAME_UNENCODABLE', `value is outside the accepted CBOR subset (${(err as Error).message})`, {
      cause: err,
      category: 'internal',
    });
  }
  return encoded;
}
