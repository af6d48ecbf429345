// Strict CBOR: what the frame codec and the NSM codec accept from a peer. Hostile inputs are
// written by hand from RFC 8949's encoding rules (independent of cbor-x).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkStrictCbor, decodeStrictCbor, encodeStrictCbor, FrameError } from '../../vsock/index.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

function rejectCode(bytes: Uint8Array, pattern: RegExp, maxDepth?: number): void {
  let caught: unknown;
  try {
    decodeStrictCbor(bytes, maxDepth === undefined ? {} : { maxDepth });
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(FrameError);
  expect((caught as FrameError).code).toBe('FRAME_MALFORMED');
  expect((caught as FrameError).message).toMatch(pattern);
}

describe('decodeStrictCbor accepts the subset our messages use', () => {
  it('decodes RFC 8949 Appendix A examples in the subset', () => {
    expect(decodeStrictCbor(hex('00'))).toBe(0);
    expect(decodeStrictCbor(hex('1903e8'))).toBe(1000);
    expect(decodeStrictCbor(hex('3863'))).toBe(-100);
    expect(decodeStrictCbor(hex('f93c00'))).toBe(1);
    expect(decodeStrictCbor(hex('fb3ff199999999999a'))).toBe(1.1);
    expect(decodeStrictCbor(hex('f4'))).toBe(false);
    expect(decodeStrictCbor(hex('f5'))).toBe(true);
    expect(decodeStrictCbor(hex('f6'))).toBe(null);
    expect(decodeStrictCbor(hex('f7'))).toBe(undefined);
    expect(decodeStrictCbor(hex('6449455446'))).toBe('IETF');
    expect(decodeStrictCbor(hex('83010203'))).toEqual([1, 2, 3]);
    expect(decodeStrictCbor(hex('a26161016162820203'))).toEqual({ a: 1, b: [2, 3] });
    // 2^64 - 1 keeps its exact value
    expect(decodeStrictCbor(hex('1bffffffffffffffff'))).toBe(18446744073709551615n);
  });

  it('byte strings decode as plain Uint8Array (not Buffer), copied out of the input', () => {
    const input = hex('a1646461746143010203');
    const value = decodeStrictCbor(input) as { data: Uint8Array };
    expect(value.data).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(value.data)).toBe(false);
    expect([...value.data]).toEqual([1, 2, 3]);
    input.fill(0);
    expect([...value.data]).toEqual([1, 2, 3]);
    // A Buffer input gives the same plain Uint8Array.
    const fromBuffer = decodeStrictCbor(Buffer.from(hex('43010203'))) as Uint8Array;
    expect(Buffer.isBuffer(fromBuffer)).toBe(false);
  });

  it('round-trips Uint8Array and Buffer bodies as plain byte strings (major type 2, untagged)', () => {
    const encoded = encodeStrictCbor({ a: new Uint8Array([1, 2]), b: Buffer.from([3]) });
    // a2 61 61 42 0102 61 62 41 03 — map(2) "a" bstr(2) "b" bstr(1); cbor-x may use a wider map header.
    expect(Buffer.from(encoded).toString('hex')).toMatch(/^(a2|b90002)616142010261624103$/);
    const back = decodeStrictCbor(encoded) as { a: Uint8Array; b: Uint8Array };
    expect(back.a).toEqual(new Uint8Array([1, 2]));
    expect(back.b).toEqual(new Uint8Array([3]));
    expect(Buffer.isBuffer(back.b)).toBe(false);
  });
});

describe('decodeStrictCbor rejects hostile or ambiguous input', () => {
  it('rejects every tag, including cbor-x extensions (generic object 27, shared refs 28/29, records, Map 259)', () => {
    rejectCode(hex('d81b 83 654572726f72 6161 f6'), /tags/); // 27(["Error","a",null])
    rejectCode(hex('d81c 81 d81d 00'), /tags/); // 28([29(0)]) – self-referencing structure
    rejectCode(hex('d90103 a1 01 02'), /tags/); // 259({1: 2})
    rejectCode(hex('d9dfff 83 00 81 6161 01'), /tags/); // record definition
    rejectCode(hex('c2 41 01'), /tags/); // bignum
    rejectCode(hex('a1 6161 c1 00'), /tags/); // nested
  });

  it('rejects indefinite lengths, reserved values and unassigned simple values', () => {
    rejectCode(hex('9f 01 ff'), /indefinite/);
    rejectCode(hex('5f 41 01 ff'), /indefinite/);
    rejectCode(hex('bf 6161 01 ff'), /indefinite/);
    rejectCode(hex('1c'), /reserved/);
    rejectCode(hex('ff'), /indefinite/); // a lone "break"
    rejectCode(hex('f0'), /simple value/);
    rejectCode(hex('f8 ff'), /simple value/);
  });

  it('rejects duplicate keys, even with different length encodings, and __proto__', () => {
    rejectCode(hex('a2 6161 01 6161 02'), /duplicate/);
    rejectCode(hex('a2 6161 01 7801 61 02'), /duplicate/);
    rejectCode(hex('a1 695f5f70726f746f5f5f a0'), /__proto__/);
    expect(decodeStrictCbor(hex('a2 6161 01 6162 02'))).toEqual({ a: 1, b: 2 });
  });

  it('rejects non-text map keys', () => {
    rejectCode(hex('a1 01 02'), /keys must be text/);
    rejectCode(hex('a1 41 61 02'), /keys must be text/);
    rejectCode(hex('a1 80 02'), /keys must be text/);
  });

  it('rejects invalid UTF-8, truncation, trailing bytes and lying lengths without allocating', () => {
    rejectCode(hex('62 c328'), /UTF-8/);
    rejectCode(hex('63 6161'), /past the end/);
    rejectCode(hex('1a 0000'), /past the end/);
    rejectCode(hex('01 02'), /trailing/);
    rejectCode(hex(''), /past the end/);
    // byte string of 2^64-1 bytes, array of 2^32-1 items, map of 2^63 pairs
    rejectCode(hex('5b ffffffffffffffff 00'), /past the end/);
    rejectCode(hex('9a ffffffff 00'), /more items/);
    rejectCode(hex('bb 8000000000000000 00'), /more items/);
  });

  it('bounds nesting depth (iteratively: 100,000 levels do not overflow the stack)', () => {
    const deep = new Uint8Array(100_001).fill(0x81);
    deep[100_000] = 0x00;
    rejectCode(deep, /nesting deeper than 32/);
    const ok = hex('8181818100'); // depth 5
    expect(decodeStrictCbor(ok, { maxDepth: 5 })).toEqual([[[[0]]]]);
    rejectCode(ok, /nesting deeper than 4/, 4);
  });

  it('never throws anything but FrameError on random bytes (fast-check, seed 42)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        try {
          decodeStrictCbor(bytes);
        } catch (err) {
          if (!(err instanceof FrameError)) throw err;
        }
      }),
      { seed: 42, numRuns: 3000 },
    );
  });

  it('never throws anything but FrameError on mutated valid encodings (fast-check, seed 42)', () => {
    const sample = encodeStrictCbor({ v: 1, id: 7, type: 'pack', body: { files: [{ path: 'a', content: new Uint8Array(40) }], n: -3.5 } });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(sample.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), (edits) => {
        const bytes = sample.slice();
        for (const [at, value] of edits) bytes[at] = value;
        try {
          decodeStrictCbor(bytes);
        } catch (err) {
          if (!(err instanceof FrameError)) throw err;
        }
      }),
      { seed: 42, numRuns: 3000 },
    );
  });
});

describe('encodeStrictCbor only produces what peers accept', () => {
  it('round-trips JSON-like values with byte strings (fast-check, seed 42)', () => {
    const leaf = fc.oneof(
      fc.integer(),
      // cbor-x writes -0 as the integer 0; nothing of ours depends on the sign of zero.
      fc.double({ noNaN: true }).filter((d) => !Object.is(d, -0)),
      fc.string(),
      fc.boolean(),
      fc.constant(null),
      fc.uint8Array({ maxLength: 64 }),
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node'), { maxLength: 5 }), fc.dictionary(fc.string().filter((k) => k !== '__proto__'), tie('node'), { maxKeys: 5 })),
    })).node;
    fc.assert(
      fc.property(value, (v) => {
        const back = decodeStrictCbor(encodeStrictCbor(v));
        expect(back).toEqual(v);
      }),
      { seed: 42, numRuns: 1000 },
    );
  });

  it('refuses Map, Date, oversized BigInt, cycles and over-deep values with FRAME_UNENCODABLE', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    let deep: unknown = 0;
    for (let i = 0; i < 40; i++) deep = [deep];
    for (const v of [new Map([['a', 1]]), new Date(0), 2n ** 80n, cyclic, deep]) {
      let caught: unknown;
      try {
        encodeStrictCbor(v);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(FrameError);
      expect((caught as FrameError).code).toBe('FRAME_UNENCODABLE');
      expect((caught as FrameError).category).toBe('internal');
    }
  });

  it('output is independent of later encodes (cbor-x reuses its buffer internally)', () => {
    const a = encodeStrictCbor({ x: 1 });
    const copy = Buffer.from(a).toString('hex');
    for (let i = 0; i < 100; i++) encodeStrictCbor({ y: 'z'.repeat(i) });
    expect(Buffer.from(a).toString('hex')).toBe(copy);
    checkStrictCbor(a);
  });
});
