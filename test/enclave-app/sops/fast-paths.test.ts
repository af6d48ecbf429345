/**
 * The per-value fast paths of the decrypt hot loop give exactly the answers of the strict slow
 * paths they replace: UTF-8 decoding against a fatal WHATWG TextDecoder (independent), and the
 * base64 fields of ENC[...] values against the canonical-base64 rules (accept / invalid /
 * non-canonical), and JSON strings against Go's rule that unpaired surrogates become U+FFFD.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeUtf8, parseEncryptedValue, splitCanonical } from '../../../enclave-app/sops/cipher.js';
import { parseJson } from '../../../enclave-app/sops/stores/json.js';

const reference = new TextDecoder('utf-8', { fatal: true });
const referenceDecode = (b: Uint8Array): string | undefined => {
  try {
    return reference.decode(b);
  } catch {
    return undefined;
  }
};

describe('decodeUtf8', () => {
  it('agrees with a fatal TextDecoder on arbitrary bytes, BOM-prefixed bytes and valid text', () => {
    const bytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.uint8Array({ maxLength: 40 }).map((b) => Uint8Array.from([0xef, 0xbb, 0xbf, ...b])),
      fc.string({ unit: 'binary', maxLength: 20 }).map((s) => new Uint8Array(Buffer.from(s, 'utf8'))),
      fc.string({ unit: 'binary', maxLength: 20 }).map((s) => new Uint8Array(Buffer.from('\uFEFF' + s, 'utf8'))),
    );
    fc.assert(
      fc.property(bytesArb, (b) => {
        expect(decodeUtf8(b)).toBe(referenceDecode(b));
      }),
      { seed: 42, numRuns: 2000 },
    );
  });

  it('rejects overlong forms, surrogates and truncated sequences; drops a leading BOM like TextDecoder', () => {
    for (const bad of [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xff], [0xef, 0xbb, 0xbf, 0x80]]) {
      expect(decodeUtf8(Uint8Array.from(bad))).toBeUndefined();
    }
    expect(decodeUtf8(Uint8Array.from([0xef, 0xbb, 0xbf, 0x61]))).toBe('a');
    expect(decodeUtf8(Uint8Array.from([0x61, 0xef, 0xbb, 0xbf]))).toBe('a\uFEFF');
    expect(decodeUtf8(new Uint8Array(0))).toBe('');
    // A view into a larger buffer decodes only its own bytes.
    const big = Buffer.from('xxhéllo-yy', 'utf8');
    expect(decodeUtf8(big.subarray(2, 8))).toBe('héllo');
  });
});

describe('ENC[...] base64 fields', () => {
  const iv = Buffer.alloc(32, 1).toString('base64');
  const tag = Buffer.alloc(16, 2).toString('base64');
  const enc = (data: string, ivField = iv, tagField = tag) => `ENC[AES256_GCM,data:${data},iv:${ivField},tag:${tagField},type:str]`;
  const codeAndMessage = (s: string): string => {
    try {
      parseEncryptedValue(s, ['k']);
      return 'ok';
    } catch (err) {
      return `${(err as { code: string }).code}: ${(err as Error).message}`;
    }
  };

  it('accepts canonical base64 and decodes it', () => {
    const v = parseEncryptedValue(enc('aGVsbG8='), ['k']);
    expect(v.data.toString()).toBe('hello');
    expect(v.iv).toEqual(Buffer.alloc(32, 1));
    expect(v.tag).toEqual(Buffer.alloc(16, 2));
  });

  it('says "invalid" for characters or lengths base64 does not allow, "non-canonical" for altered padding bits', () => {
    for (const data of ['aGVsbG8', 'aGVs bG8=', 'aGVsbG8-', 'aGVsbG8_', 'aGVsbG8=\t', '====', 'a===']) {
      expect(codeAndMessage(enc(data))).toMatch(/^SOPS_BAD_VALUE: .* has invalid base64 in its data$/);
    }
    expect(codeAndMessage(enc('aGVsbG9='))).toMatch(/^SOPS_BAD_VALUE: .* has non-canonical base64 in its data$/);
    expect(codeAndMessage(enc('aGVsbG8=', iv.replace(/=$/, '')))).toMatch(/invalid base64 in its iv$/);
    const tagLast = tag.length - 3; // "…Ag==": flip a padding bit of the last character
    const badTag = tag.slice(0, tagLast) + String.fromCharCode(tag.charCodeAt(tagLast) ^ 1) + '==';
    expect(codeAndMessage(enc('aGVsbG8=', iv, badTag))).toMatch(/non-canonical base64 in its tag$/);
  });
});

describe('ENC[...] fast shape check against the general parser', () => {
  // The general path as it was before the shape check, kept here as the reference.
  const GENERAL = /^ENC\[AES256_GCM,data:([^\n]+),iv:([^\n]+),tag:([^\n]+),type:([^\n]+)\]/;
  const TYPES = new Set(['str', 'int', 'float', 'bool', 'bytes', 'time', 'comment']);
  const reference = (s: string): string => {
    const m = GENERAL.exec(s);
    if (!m || !TYPES.has(m[4]!)) return 'error';
    const fields = [m[1]!, m[2]!, m[3]!].map((f) => {
      const b = Buffer.from(f, 'base64');
      return b.toString('base64') === f ? b : undefined;
    });
    if (fields.some((f) => f === undefined) || fields[1]!.length !== 32 || fields[2]!.length !== 16) return 'error';
    return `${fields.map((f) => f!.toString('hex')).join('/')}/${m[4]}`;
  };
  const ours = (s: string): string => {
    try {
      const v = parseEncryptedValue(s, ['k']);
      return `${v.data.toString('hex')}/${v.iv.toString('hex')}/${v.tag.toString('hex')}/${v.type}`;
    } catch {
      return 'error';
    }
  };
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ ,:]x';

  it('accepts and decodes exactly what the general parser accepts, on sops-shaped strings and single-character edits of them', () => {
    const arb = fc
      .record({
        data: fc.uint8Array({ maxLength: 40 }),
        iv: fc.uint8Array({ minLength: 31, maxLength: 33 }),
        tag: fc.uint8Array({ minLength: 15, maxLength: 17 }),
        type: fc.constantFrom('str', 'int', 'bytes', 'comment', 'strx', 'STR'),
        tail: fc.constantFrom('', 'x', ']', ']x', '\n'),
        edit: fc.option(fc.record({ at: fc.nat(), char: fc.constantFrom(...B64) })),
      })
      .map(({ data, iv, tag, type, tail, edit }) => {
        let s = `ENC[AES256_GCM,data:${Buffer.from(data).toString('base64')},iv:${Buffer.from(iv).toString('base64')},tag:${Buffer.from(tag).toString('base64')},type:${type}]${tail}`;
        if (edit) {
          const at = 15 + (edit.at % (s.length - 15));
          s = s.slice(0, at) + edit.char + s.slice(at + 1);
        }
        return s;
      });
    fc.assert(
      fc.property(arb, (s) => {
        expect(ours(s)).toBe(reference(s));
      }),
      { seed: 20, numRuns: 5000 },
    );
  });
});

describe('splitCanonical: the shape check without a regular expression', () => {
  // The pattern it replaces, with the canonical-padding test of the data field, as the reference.
  const SHAPE = /^ENC\[AES256_GCM,data:([A-Za-z0-9+/]+={0,2}),iv:([A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=),tag:([A-Za-z0-9+/]{21}[AQgw]==),type:(str|int|float|bool|bytes|time|comment)\]$/;
  const canonical = (t: string) => t.length % 4 === 0 && Buffer.from(t, 'base64').toString('base64') === t;
  const reference = (s: string): string => {
    const m = SHAPE.exec(s);
    return m && canonical(m[1]!) ? [m[1], m[2], m[3], m[4]].join('|') : 'no';
  };
  const ours = (s: string): string => splitCanonical(s)?.join('|') ?? 'no';
  const CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ ,:[]\n\u00e9\ud800x';

  it('gives the fields of exactly the strings the pattern matches, on sops-shaped strings and edits of them', () => {
    const arb = fc
      .record({
        data: fc.uint8Array({ maxLength: 40 }),
        iv: fc.oneof({ weight: 4, arbitrary: fc.uint8Array({ minLength: 32, maxLength: 32 }) }, fc.uint8Array({ minLength: 31, maxLength: 33 })),
        tag: fc.oneof({ weight: 4, arbitrary: fc.uint8Array({ minLength: 16, maxLength: 16 }) }, fc.uint8Array({ minLength: 15, maxLength: 17 })),
        type: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('str', 'int', 'float', 'bool', 'bytes', 'time', 'comment') }, fc.constantFrom('strx', 'STR', '')),
        tail: fc.oneof({ weight: 4, arbitrary: fc.constant('') }, fc.constantFrom('x', ']', ',type:str]', '\n')),
        edits: fc.array(fc.record({ at: fc.nat(), char: fc.constantFrom(...CHARS), op: fc.constantFrom('set', 'insert', 'delete') }), { maxLength: 2 }),
      })
      .map(({ data, iv, tag, type, tail, edits }) => {
        let s = `ENC[AES256_GCM,data:${Buffer.from(data).toString('base64')},iv:${Buffer.from(iv).toString('base64')},tag:${Buffer.from(tag).toString('base64')},type:${type}]${tail}`;
        for (const e of edits) {
          const at = e.at % (s.length + 1);
          s = e.op === 'insert' ? s.slice(0, at) + e.char + s.slice(at) : e.op === 'delete' ? s.slice(0, at) + s.slice(at + 1) : s.slice(0, at) + e.char + s.slice(at + 1);
        }
        return s;
      });
    let accepted = 0;
    fc.assert(
      fc.property(arb, (s) => {
        const r = reference(s);
        if (r !== 'no') accepted++;
        expect(ours(s)).toBe(r);
      }),
      { seed: 33, numRuns: 20000 },
    );
    // Both answers occur often: the property is not decided by one side alone.
    expect(accepted).toBeGreaterThan(2000);
    expect(accepted).toBeLessThan(18000);
  });

  it('refuses the near misses one by one', () => {
    const iv = Buffer.alloc(32, 7).toString('base64');
    const tag = Buffer.alloc(16, 9).toString('base64');
    const ok = `ENC[AES256_GCM,data:aGVsbG8=,iv:${iv},tag:${tag},type:str]`;
    expect(splitCanonical(ok)).toEqual(['aGVsbG8=', iv, tag, 'str']);
    for (const bad of [
      ok.replace('aGVsbG8=', 'aGVsbG9='), // non-canonical padding bits
      ok.replace('aGVsbG8=', 'aGVsbG8'), // not whole quanta
      ok.replace('aGVsbG8=', ''), // no data
      ok.replace('aGVsbG8=', 'aGVs-G8='), // base64url
      ok.replace(iv, iv.slice(0, -1)), // IV one character short
      ok.replace(tag, tag.slice(0, -2) + 'A='), // tag with one '='
      ok.replace('type:str]', 'type:str] '),
      ok.replace('ENC[AES256_GCM', 'ENC[AES128_GCM'),
      ok.replace(',iv:', ',IV:'),
    ]) {
      expect(splitCanonical(bad)).toBeUndefined();
    }
  });
});

describe('JSON strings: the no-escape fast path', () => {
  it('reads every string as JSON.parse does (escapes, control characters and surrogates take the slow path)', () => {
    const arb = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: 'grapheme', maxLength: 10 }), fc.constantFrom('a\\"b', 'tab\there', 'q\\u0022', 'x\\'));
    fc.assert(
      fc.property(arb, arb, (k, v) => {
        const text = `{${JSON.stringify(k)}:${JSON.stringify(v)}}`;
        const m = parseJson(text, 'int-or-float');
        const e = m.entries[0] as { key: string; value: unknown };
        expect([e.key, e.value]).toEqual([k, v]);
      }),
      { seed: 21, numRuns: 3000 },
    );
    // A raw control character is still an error, also where the fast path would have looked.
    expect(() => parseJson('{"a":"x\u0001y"}'.replace('\\u0001', '\u0001'), 'int-or-float')).toThrow(/control character/);
  });
});

describe('JSON strings and surrogates', () => {
  it('replaces unpaired surrogates (raw or escaped) with U+FFFD and keeps pairs, as Go does', () => {
    const text = '{"a":"x\ud800y","b":"\\ud83d\\ude00","c":"\\udc00z","d":"\ud83d\ude00","e":"\\ud83d","f":"plain \\n \\u0041"}';
    const m = parseJson(text, 'int-or-float');
    expect(m.entries.map((e) => ('key' in e ? [e.key, e.value] : null))).toEqual([
      ['a', 'x\ufffdy'],
      ['b', '\u{1F600}'],
      ['c', '\ufffdz'],
      ['d', '\u{1F600}'],
      ['e', '\ufffd'],
      ['f', 'plain \n A'],
    ]);
  });
});
