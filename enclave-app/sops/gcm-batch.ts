/**
 * Every AES-256-GCM value of a SOPS file opened in one go.
 *
 * The walk (walk.ts) lays the file's ciphertexts, IVs, tags and AADs out in one `GcmBatch`
 * (base64 decoded straight into it), then `openGcmBatch` authenticates and decrypts them all into
 * one plaintext buffer, in file order. Two backends do exactly the same AES-256-GCM operations:
 *  - `openssl`: the addon's aesGcmOpenBatch (vsock/native/aes_gcm.c) — OpenSSL's EVP, the library
 *    node:crypto itself uses, one cipher context and one key schedule per file, one call;
 *  - `node`: node:crypto, one Decipheriv per value (where the addon is not built).
 * Both stop at the first value that does not authenticate, zero the whole plaintext buffer and
 * report that value's index, so nothing unauthenticated is ever read. Neither is hand-written AES.
 */
import { createDecipheriv, createSecretKey } from 'node:crypto';
import { zeroize } from '../../common/bytes.js';
import { loadVsockAddon } from '../../vsock/addon.js';

/** Layout entries per value: dataOffset, dataLength, ivOffset, tagOffset, aadOffset, aadLength, dstOffset. */
export const GCM_LAYOUT_STRIDE = 7;
const TAG = 16;
/** Offsets and lengths are 32-bit (the layout is a Uint32Array). */
const MAX_OFFSET = 0xffffffff;

/** Which implementation opens a batch: `auto` takes the addon's OpenSSL path when it is loaded. */
export type GcmBackend = 'auto' | 'openssl' | 'node';

/** The ciphertexts of a file and where each one's plaintext goes, in one set of buffers. */
export class GcmBatch {
  src = Buffer.allocUnsafe(4096);
  srcLength = 0;
  aad = Buffer.allocUnsafe(1024);
  aadLength = 0;
  layout = new Uint32Array(64 * GCM_LAYOUT_STRIDE);
  count = 0;
  /** Total plaintext bytes (the size of the destination buffer). */
  dstLength = 0;

  constructor(readonly ivLength: number) {}

  private reserveSrc(n: number): number {
    const at = this.srcLength;
    if (at + n > this.src.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.src.length * 2, at + n));
      this.src.copy(grown, 0, 0, at);
      this.src = grown;
    }
    if (at + n > MAX_OFFSET) throw new RangeError('GcmBatch: more than 4 GiB of ciphertext in one file');
    this.srcLength = at + n;
    return at;
  }

  private push(dataOffset: number, dataLength: number, ivOffset: number, tagOffset: number, aad: string): number {
    // A string's UTF-8 form is at most 3 bytes per UTF-16 unit.
    if (this.aadLength + aad.length * 3 > this.aad.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.aad.length * 2, this.aadLength + aad.length * 3));
      this.aad.copy(grown, 0, 0, this.aadLength);
      this.aad = grown;
    }
    const aadOffset = this.aadLength;
    const aadLength = this.aad.write(aad, aadOffset, 'utf8');
    if (aadOffset + aadLength > MAX_OFFSET || this.dstLength + dataLength > MAX_OFFSET) throw new RangeError('GcmBatch: more than 4 GiB in one file');
    this.aadLength += aadLength;
    if ((this.count + 1) * GCM_LAYOUT_STRIDE > this.layout.length) {
      const grown = new Uint32Array(this.layout.length * 2);
      grown.set(this.layout);
      this.layout = grown;
    }
    const o = this.count * GCM_LAYOUT_STRIDE;
    const l = this.layout;
    l[o] = dataOffset;
    l[o + 1] = dataLength;
    l[o + 2] = ivOffset;
    l[o + 3] = tagOffset;
    l[o + 4] = aadOffset;
    l[o + 5] = aadLength;
    l[o + 6] = this.dstLength;
    this.dstLength += dataLength;
    return this.count++;
  }

  /**
   * Adds a value from its canonical base64 fields (the caller checked them: canonical text, an IV
   * of `ivLength` bytes, a 16-byte tag). Returns its index.
   */
  addBase64(data: string, iv: string, tag: string, aad: string): number {
    if (data.length % 4 !== 0) throw new RangeError('GcmBatch.addBase64: the data field is not whole base64 quanta');
    const pad = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
    const dataLength = (data.length / 4) * 3 - pad;
    const at = this.reserveSrc(dataLength + this.ivLength + TAG);
    const src = this.src;
    if (src.write(data, at, 'base64') !== dataLength || src.write(iv, at + dataLength, 'base64') !== this.ivLength || src.write(tag, at + dataLength + this.ivLength, 'base64') !== TAG) {
      this.srcLength = at; // as if never added
      throw new RangeError('GcmBatch.addBase64: a field does not decode to the length its text promises');
    }
    return this.push(at, dataLength, at + dataLength, at + dataLength + this.ivLength, aad);
  }

  /** Adds a value from decoded fields. Returns its index. */
  addBytes(data: Uint8Array, iv: Uint8Array, tag: Uint8Array, aad: string): number {
    if (iv.length !== this.ivLength || tag.length !== TAG) throw new RangeError('GcmBatch.addBytes: wrong IV or tag length');
    const at = this.reserveSrc(data.length + iv.length + TAG);
    this.src.set(data, at);
    this.src.set(iv, at + data.length);
    this.src.set(tag, at + data.length + iv.length);
    return this.push(at, data.length, at + data.length, at + data.length + iv.length, aad);
  }

  /** Where value `i`'s plaintext lies in the destination buffer: [start, end). */
  dstRange(i: number): [number, number] {
    const o = i * GCM_LAYOUT_STRIDE;
    return [this.layout[o + 6]!, this.layout[o + 6]! + this.layout[o + 1]!];
  }
}

type NativeOpen = (key: Uint8Array, src: Uint8Array, layout: Uint32Array, aad: Uint8Array, dst: Uint8Array, ivLength: number) => number;

/**
 * The addon's batch opener, or null where the addon is not built or this Node has no OpenSSL
 * symbols. Asked once per file (loadVsockAddon caches the addon per ATTESTED_PACK_VSOCK_ADDON).
 */
function nativeOpen(): NativeOpen | null {
  try {
    const open = loadVsockAddon().aesGcmOpenBatch;
    return typeof open === 'function' ? open : null;
  } catch {
    return null;
  }
}

/** The backend `auto` resolves to in this process. */
export function gcmBackend(): 'openssl' | 'node' {
  return nativeOpen() === null ? 'node' : 'openssl';
}

function openWithNode(dataKey: Uint8Array, b: GcmBatch, dst: Buffer): number {
  const copy = Buffer.from(dataKey);
  const key = createSecretKey(copy);
  zeroize(copy);
  const { src, aad, layout } = b;
  for (let i = 0; i < b.count; i++) {
    const o = i * GCM_LAYOUT_STRIDE;
    const dataAt = layout[o]!;
    const ivAt = layout[o + 2]!;
    const tagAt = layout[o + 3]!;
    const aadAt = layout[o + 4]!;
    let head: Buffer | undefined;
    try {
      const d = createDecipheriv('aes-256-gcm', key, src.subarray(ivAt, ivAt + b.ivLength), { authTagLength: TAG });
      d.setAAD(aad.subarray(aadAt, aadAt + layout[o + 5]!));
      d.setAuthTag(src.subarray(tagAt, tagAt + TAG));
      head = d.update(src.subarray(dataAt, dataAt + layout[o + 1]!));
      head.copy(dst, layout[o + 6]!);
      d.final();
    } catch {
      zeroize(dst);
      return i;
    } finally {
      zeroize(head);
    }
  }
  return -1;
}

/**
 * Authenticates and decrypts every value of the batch into `dst` (`dstLength` bytes), in order.
 * Returns -1 when all authenticated, else the index of the first that did not (dst is then zeroed).
 */
export function openGcmBatch(dataKey: Uint8Array, b: GcmBatch, dst: Buffer, backend: GcmBackend = 'auto'): number {
  if (dst.length !== b.dstLength) throw new RangeError('openGcmBatch: the destination must be dstLength bytes');
  if (b.count === 0) return -1;
  const open = backend === 'node' ? null : nativeOpen();
  if (open === null) {
    if (backend === 'openssl') throw new RangeError('openGcmBatch: the OpenSSL backend needs the addon (vsock/native), which is not loaded');
    return openWithNode(dataKey, b, dst);
  }
  return open(dataKey, b.src, b.layout.subarray(0, b.count * GCM_LAYOUT_STRIDE), b.aad, dst, b.ivLength);
}
