/**
 * The frame codec of the host↔enclave link: a 4-byte big-endian body length, then a strict CBOR
 * body (vsock/cbor.ts). Bodies are `{v, id, type, body}` envelopes.
 *
 * The decoder takes chunks split anywhere, checks each announced length against the maximum
 * before buffering a byte of the body, buffers only what has actually arrived, and fails for good
 * on the first bad frame: the caller closes the connection, because after a bad length there is no
 * way to find the next frame boundary.
 */
import { decodeStrictCborOwned, encodeStrictCborTransient, type CborLimits } from './cbor.js';
import { FrameError } from './errors.js';

/** Default maximum body size (16 MiB), the same as MAX_FRAME_BYTES in enclave-app/protocol.ts. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Bytes of the length prefix. */
export const FRAME_HEADER_BYTES = 4;

/** Options shared by the frame encoder and decoder. */
export interface FrameOptions extends CborLimits {
  /** Largest body accepted or sent, in bytes. Default 16 MiB. */
  maxFrameBytes?: number;
}

/** One frame body: protocol version, request id, message type and payload. */
export interface Envelope<T extends string = string, B = unknown> {
  v: number;
  id: number;
  type: T;
  body: B;
}

function maxOf(options: FrameOptions): number {
  const max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  if (!Number.isInteger(max) || max < 1 || max > 0xffffffff) {
    throw new RangeError('maxFrameBytes must be an integer from 1 to 4294967295');
  }
  return max;
}

/** Encodes one value as a frame (length prefix + CBOR body). Throws FRAME_TOO_LARGE / FRAME_UNENCODABLE. */
export function encodeFrame(value: unknown, options: FrameOptions = {}): Buffer {
  const max = maxOf(options);
  // cbor-x's output is only valid until the next encode: it is copied into the frame right away.
  const body = encodeStrictCborTransient(value, options);
  if (body.byteLength > max) {
    throw new FrameError('FRAME_TOO_LARGE', `frame body of ${body.byteLength} bytes exceeds the ${max}-byte limit`, {
      details: { bytes: body.byteLength, max },
      hint: 'send less per request (fewer or smaller files)',
    });
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.byteLength);
  frame.writeUInt32BE(body.byteLength, 0);
  frame.set(body, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Incremental frame decoder: `push(chunk)` returns the values of every frame completed by that
 * chunk. After it throws once it stays failed (every later call throws the same error).
 */
export class FrameDecoder {
  readonly #max: number;
  readonly #limits: CborLimits;
  readonly #header = Buffer.alloc(FRAME_HEADER_BYTES);
  #headerHave = 0;
  /** Body length of the frame being read, or -1 while reading a header. */
  #bodyLength = -1;
  #chunks: Uint8Array[] = [];
  #bodyHave = 0;
  #failed: FrameError | undefined;

  constructor(options: FrameOptions = {}) {
    this.#max = maxOf(options);
    this.#limits = options.maxDepth === undefined ? {} : { maxDepth: options.maxDepth };
  }

  /** Bytes held for the frame in progress (never more than 4 + the maximum). */
  get bufferedBytes(): number {
    return this.#headerHave + this.#bodyHave;
  }

  /** True between frames (nothing partial is buffered). */
  get idle(): boolean {
    return this.#headerHave === 0 && this.#bodyLength === -1;
  }

  /** Feeds bytes; returns the decoded frame values, in order. Throws FrameError on a bad frame. */
  push(chunk: Uint8Array): unknown[] {
    if (this.#failed) throw this.#failed;
    const out: unknown[] = [];
    if (chunk.byteLength === 0) return out;
    // One private copy per chunk (callers may reuse their buffers); frames that lie wholly
    // inside it are decoded in place, frames spanning chunks are assembled from parts.
    const data = new Uint8Array(chunk.byteLength);
    data.set(chunk);
    let offset = 0;
    try {
      while (offset < data.byteLength) {
        if (this.#bodyLength < 0) {
          const take = Math.min(FRAME_HEADER_BYTES - this.#headerHave, data.byteLength - offset);
          this.#header.set(data.subarray(offset, offset + take), this.#headerHave);
          this.#headerHave += take;
          offset += take;
          if (this.#headerHave < FRAME_HEADER_BYTES) break;
          const length = this.#header.readUInt32BE(0);
          if (length > this.#max) {
            throw new FrameError('FRAME_TOO_LARGE', `peer announced a ${length}-byte frame, above the ${this.#max}-byte limit`, {
              details: { bytes: length, max: this.#max },
            });
          }
          if (length === 0) throw new FrameError('FRAME_MALFORMED', 'empty frame body');
          this.#bodyLength = length;
          this.#bodyHave = 0;
          this.#chunks = [];
        }
        const take = Math.min(this.#bodyLength - this.#bodyHave, data.byteLength - offset);
        const part = data.subarray(offset, offset + take);
        offset += take;
        if (this.#bodyHave === 0 && take === this.#bodyLength) {
          this.#headerHave = 0;
          this.#bodyLength = -1;
          out.push(decodeStrictCborOwned(part, this.#limits));
          continue;
        }
        this.#chunks.push(part);
        this.#bodyHave += take;
        if (this.#bodyHave === this.#bodyLength) {
          const body = concat(this.#chunks, this.#bodyLength);
          this.#headerHave = 0;
          this.#bodyLength = -1;
          this.#bodyHave = 0;
          this.#chunks = [];
          out.push(decodeStrictCborOwned(body, this.#limits));
        }
      }
    } catch (err) {
      this.#fail(err);
    }
    return out;
  }

  /** Declares the end of the stream: throws FRAME_TRUNCATED if a frame was cut short. */
  end(): void {
    if (this.#failed) throw this.#failed;
    if (!this.idle) {
      const err = new FrameError('FRAME_TRUNCATED', `stream ended inside a frame (${this.bufferedBytes} bytes buffered)`);
      this.#fail(err);
    }
  }

  #fail(err: unknown): never {
    this.#failed =
      err instanceof FrameError ? err : new FrameError('FRAME_MALFORMED', 'frame could not be decoded', { cause: err });
    this.#chunks = [];
    this.#bodyHave = 0;
    throw this.#failed;
  }
}

function concat(chunks: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** Checks a decoded frame value is an envelope; throws FRAME_MALFORMED naming the bad field. */
export function toEnvelope(value: unknown): Envelope {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new FrameError('FRAME_MALFORMED', 'frame body is not a {v, id, type, body} map');
  }
  const { v, id, type } = value as Record<string, unknown>;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new FrameError('FRAME_MALFORMED', 'envelope field "v" must be a non-negative integer');
  }
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
    throw new FrameError('FRAME_MALFORMED', 'envelope field "id" must be a non-negative integer');
  }
  if (typeof type !== 'string' || type.length === 0 || type.length > 64) {
    throw new FrameError('FRAME_MALFORMED', 'envelope field "type" must be a string of 1 to 64 characters');
  }
  if (!('body' in value)) throw new FrameError('FRAME_MALFORMED', 'envelope field "body" is missing');
  return { v, id, type, body: (value as { body: unknown }).body };
}
