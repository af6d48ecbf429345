// The frame codec: 4-byte big-endian length + strict CBOR body, decoded from chunks split anywhere.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  encodeStrictCbor,
  FrameDecoder,
  FrameError,
  toEnvelope,
} from '../../vsock/index.js';

function header(length: number): Uint8Array {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(length, 0);
  return h;
}

function errorOf(f: () => unknown): FrameError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(FrameError);
    return err as FrameError;
  }
  throw new Error('expected a FrameError');
}

/** Splits bytes at the given cut points (sorted, deduplicated, within range). */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const p of points) {
    parts.push(bytes.subarray(at, p));
    at = p;
  }
  parts.push(bytes.subarray(at));
  return parts;
}

const envelope = fc.record({
  v: fc.constant(1),
  id: fc.nat(),
  type: fc.constantFrom('pack', 'attest', 'health', 'pack.ok', 'error'),
  body: fc.oneof(
    fc.constant(null),
    fc.record({ nonce: fc.uint8Array({ maxLength: 64 }), note: fc.string({ maxLength: 40 }) }),
    fc.array(fc.integer(), { maxLength: 20 }),
    fc.uint8Array({ maxLength: 600 }),
  ),
});

describe('encodeFrame', () => {
  it('prefixes the CBOR body with its length, big-endian', () => {
    const frame = encodeFrame({ a: 1 });
    const body = encodeStrictCbor({ a: 1 });
    expect(frame.readUInt32BE(0)).toBe(body.byteLength);
    expect(Buffer.from(frame.subarray(4)).equals(Buffer.from(body))).toBe(true);
  });

  it('refuses bodies above the maximum with FRAME_TOO_LARGE (default 16 MiB)', () => {
    expect(DEFAULT_MAX_FRAME_BYTES).toBe(16 * 1024 * 1024);
    const err = errorOf(() => encodeFrame(new Uint8Array(100), { maxFrameBytes: 64 }));
    expect(err.code).toBe('FRAME_TOO_LARGE');
    expect(err.details).toMatchObject({ max: 64 });
    expect(() => encodeFrame(new Uint8Array(60), { maxFrameBytes: 64 })).not.toThrow();
  });
});

describe('FrameDecoder', () => {
  it('decodes frames split at every possible point, byte by byte included', () => {
    const values = [{ v: 1, id: 1, type: 'pack', body: { x: new Uint8Array([1, 2, 3]) } }, 'second', [1, 2]];
    const stream = Buffer.concat(values.map((v) => encodeFrame(v)));
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new FrameDecoder();
      const out = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      expect(out).toEqual(values);
      expect(d.idle).toBe(true);
    }
    const d = new FrameDecoder();
    const out: unknown[] = [];
    for (const byte of stream) out.push(...d.push(Uint8Array.of(byte)));
    expect(out).toEqual(values);
  });

  it('rejects an announced length above the maximum before buffering any body byte', () => {
    for (const length of [2 ** 32 - 1, DEFAULT_MAX_FRAME_BYTES + 1]) {
      const d = new FrameDecoder();
      const err = errorOf(() => d.push(header(length)));
      expect(err.code).toBe('FRAME_TOO_LARGE');
      expect(d.bufferedBytes).toBeLessThanOrEqual(4);
    }
    const small = new FrameDecoder({ maxFrameBytes: 10 });
    expect(errorOf(() => small.push(header(11))).code).toBe('FRAME_TOO_LARGE');
  });

  it('buffers only bytes that arrived, not the announced length', () => {
    const d = new FrameDecoder();
    d.push(header(DEFAULT_MAX_FRAME_BYTES));
    d.push(new Uint8Array(10));
    expect(d.bufferedBytes).toBe(14);
  });

  it('reports a stream that ends inside a frame as FRAME_TRUNCATED, and a clean end as fine', () => {
    const frame = encodeFrame({ hello: 'world' });
    for (const cut of [1, 3, 4, 5, frame.length - 1]) {
      const d = new FrameDecoder();
      d.push(frame.subarray(0, cut));
      expect(errorOf(() => d.end()).code).toBe('FRAME_TRUNCATED');
    }
    const d = new FrameDecoder();
    d.push(frame);
    expect(() => d.end()).not.toThrow();
  });

  it('rejects empty and corrupt bodies with FRAME_MALFORMED and stays failed', () => {
    expect(errorOf(() => new FrameDecoder().push(header(0))).code).toBe('FRAME_MALFORMED');
    const corrupt = Buffer.concat([header(2), Buffer.from([0xd8, 0x1b])]);
    const d = new FrameDecoder();
    const first = errorOf(() => d.push(corrupt));
    expect(first.code).toBe('FRAME_MALFORMED');
    // After a bad frame the boundary is lost: later input fails the same way.
    expect(errorOf(() => d.push(encodeFrame('fine')))).toBe(first);
    expect(errorOf(() => d.end())).toBe(first);
  });

  it('a bad frame fails the whole chunk it arrived in (the connection is dropped anyway)', () => {
    const good = encodeFrame('ok');
    const d = new FrameDecoder();
    const err = errorOf(() => d.push(Buffer.concat([good, header(2 ** 32 - 1)])));
    expect(err.code).toBe('FRAME_TOO_LARGE');
  });

  it('decodes any sequence of envelopes under any chunking (fast-check, seed 42, 2,000 runs)', () => {
    fc.assert(
      fc.property(fc.array(envelope, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (values, cuts) => {
        const stream = Buffer.concat(values.map((v) => encodeFrame(v)));
        const d = new FrameDecoder();
        const out: unknown[] = [];
        for (const part of split(stream, cuts)) out.push(...d.push(part));
        d.end();
        expect(out.map(toEnvelope)).toEqual(values);
      }),
      { seed: 42, numRuns: 2000 },
    );
  });

  it('truncated streams always end in FRAME_TRUNCATED, never in a value or a crash (fast-check, seed 42, 2,000 runs)', () => {
    fc.assert(
      fc.property(fc.array(envelope, { minLength: 1, maxLength: 4 }), fc.nat(), fc.array(fc.nat(), { maxLength: 6 }), (values, cutAt, cuts) => {
        const stream = Buffer.concat(values.map((v) => encodeFrame(v)));
        const boundaries = new Set<number>([0]);
        let at = 0;
        for (const v of values) boundaries.add((at += encodeFrame(v).length));
        const cut = cutAt % stream.length;
        const d = new FrameDecoder();
        let decoded = 0;
        for (const part of split(stream.subarray(0, cut), cuts)) decoded += d.push(part).length;
        if (boundaries.has(cut)) {
          expect(() => d.end()).not.toThrow();
        } else {
          expect(errorOf(() => d.end()).code).toBe('FRAME_TRUNCATED');
        }
        expect(decoded).toBeLessThan(values.length);
      }),
      { seed: 42, numRuns: 2000 },
    );
  });

  it('arbitrary byte streams with lengths up to 2^32-1 only ever yield values or FrameError, with bounded buffering (fast-check, seed 42, 3,000 runs)', () => {
    const chunk = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.integer({ min: 0, max: 2 ** 32 - 1 }).map(header),
      fc.constantFrom(header(2 ** 32 - 1), header(DEFAULT_MAX_FRAME_BYTES), header(DEFAULT_MAX_FRAME_BYTES + 1), header(0)),
      envelope.map((e) => encodeFrame(e)),
    );
    fc.assert(
      fc.property(fc.array(chunk, { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 10 }), (chunks, cuts) => {
        const d = new FrameDecoder({ maxFrameBytes: 4096 });
        try {
          for (const part of split(Buffer.concat(chunks), cuts)) {
            d.push(part);
            expect(d.bufferedBytes).toBeLessThanOrEqual(4 + 4096);
          }
          d.end();
        } catch (err) {
          if (!(err instanceof FrameError)) throw err;
          expect(['FRAME_TOO_LARGE', 'FRAME_MALFORMED', 'FRAME_TRUNCATED']).toContain(err.code);
        }
      }),
      { seed: 42, numRuns: 3000 },
    );
  });
});

describe('toEnvelope', () => {
  it('accepts {v, id, type, body} and names the bad field otherwise', () => {
    expect(toEnvelope({ v: 1, id: 2, type: 'pack', body: null })).toEqual({ v: 1, id: 2, type: 'pack', body: null });
    const bad: Array<[unknown, RegExp]> = [
      [null, /not a \{v, id, type, body\} map/],
      [[1, 2], /not a/],
      [new Uint8Array(2), /not a/],
      [{ v: -1, id: 1, type: 't', body: 1 }, /"v"/],
      [{ v: 1, id: 1.5, type: 't', body: 1 }, /"id"/],
      [{ v: 1, id: 2 ** 60, type: 't', body: 1 }, /"id"/],
      [{ v: 1, id: 1, type: '', body: 1 }, /"type"/],
      [{ v: 1, id: 1, type: 'x'.repeat(65), body: 1 }, /"type"/],
      [{ v: 1, id: 1, type: 't' }, /"body"/],
    ];
    for (const [value, pattern] of bad) {
      const err = errorOf(() => toEnvelope(value));
      expect(err.code).toBe('FRAME_MALFORMED');
      expect(err.message).toMatch(pattern);
    }
  });
});
