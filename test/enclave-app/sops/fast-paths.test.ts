/**
 * The per-value fast paths of the decrypt hot loop give exactly the answers of the strict slow
 * paths they replace: UTF-8 decoding against a fatal WHATWG TextDecoder (independent), and the
 * base64 fields of ENC[...] values against the canonical-base64 rules (accept / invalid /
 * non-canonical), and JSON strings against Go's rule that unpaired surrogates become U+FFFD.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeUtf8, parseEncryptedValue } from '../../../enclave-app/sops/cipher.js';
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
