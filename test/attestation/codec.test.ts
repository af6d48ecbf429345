/**
 * The strict CBOR reader/writer (against RFC 8949 Appendix A examples) and the strict DER
 * reader, plus fuzzing of the public parsers: random or mutated input must only ever produce
 * our typed errors, never a raw TypeError/RangeError.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { X509Certificate } from 'node:crypto';
import { CborError, CborMap, CborSimple, CborTagged, decodeCbor, encodeCbor, type CborValue } from '../../attestation/cbor.js';
import { DerError, parseDer, readBoolean, readInteger, readTime } from '../../attestation/der.js';
import { CertificateParseError, parseCertificate } from '../../attestation/x509.js';
import { decodeCoseSign1 } from '../../attestation/cose.js';
import { parseAttestationPayload } from '../../attestation/payload.js';
import { verifyAttestationDocument } from '../../attestation/verify.js';
import { AttestationError } from '../../attestation/errors.js';
import { awsNitroRootG1 } from '../../attestation/roots.js';
import { docBytes, genuineDocs } from './helpers.js';

const hex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

describe('CBOR reader: RFC 8949 Appendix A examples', () => {
  const cases: Array<[string, CborValue]> = [
    ['00', 0n],
    ['01', 1n],
    ['0a', 10n],
    ['17', 23n],
    ['1818', 24n],
    ['1864', 100n],
    ['1903e8', 1000n],
    ['1a000f4240', 1000000n],
    ['1b000000e8d4a51000', 1000000000000n],
    ['1bffffffffffffffff', 18446744073709551615n],
    ['20', -1n],
    ['29', -10n],
    ['3863', -100n],
    ['3903e7', -1000n],
    ['fb3ff199999999999a', 1.1],
    ['f93e00', 1.5],
    ['f97bff', 65504],
    ['fa47c35000', 100000],
    ['f90001', 5.960464477539063e-8],
    ['f4', false],
    ['f5', true],
    ['f6', null],
    ['40', new Uint8Array(0)],
    ['4401020304', hex('01020304')],
    ['60', ''],
    ['6161', 'a'],
    ['6449455446', 'IETF'],
    ['62c3bc', '\u00fc'],
    ['64f0908591', '\u{10151}'],
    ['80', []],
    ['83010203', [1n, 2n, 3n]],
    ['8301820203820405', [1n, [2n, 3n], [4n, 5n]]],
  ];
  for (const [h, v] of cases) {
    it(`decodes ${h}`, () => expect(decodeCbor(hex(h))).toEqual(v));
  }

  it('decodes maps, tags and simple values', () => {
    expect(decodeCbor(hex('a0'))).toEqual(new CborMap([]));
    const m = decodeCbor(hex('a201020304')) as CborMap;
    expect(m.get(1n)).toBe(2n);
    expect(m.get(3n)).toBe(4n);
    const n = decodeCbor(hex('a26161016162820203')) as CborMap;
    expect(n.get('a')).toBe(1n);
    expect(n.get('b')).toEqual([2n, 3n]);
    expect(decodeCbor(hex('c074323031332d30332d32315432303a30343a30305a'))).toEqual(new CborTagged(0n, '2013-03-21T20:04:00Z'));
    expect(decodeCbor(hex('f7'))).toEqual(new CborSimple(23));
    expect(decodeCbor(hex('f8ff'))).toEqual(new CborSimple(255));
  });

  it('integers and floats stay distinct (1 vs 1.0)', () => {
    expect(typeof decodeCbor(hex('01'))).toBe('bigint');
    expect(typeof decodeCbor(hex('f93c00'))).toBe('number');
  });

  it('accepts non-minimal integer heads (genuine timestamps use 8 bytes)', () => {
    expect(decodeCbor(hex('1b0000000000000001'))).toBe(1n);
    expect(decodeCbor(hex('1800'))).toBe(0n);
  });
});

describe('CBOR reader: rejections', () => {
  const bad: Array<[string, string]> = [
    ['', 'empty'],
    ['5f42010243030405ff', 'indefinite bstr'],
    ['9f018202039f0405ffff', 'indefinite array'],
    ['bf61610161629f0203ffff', 'indefinite map'],
    ['1c', 'reserved info 28'],
    ['ff', 'lone break'],
    ['0000', 'trailing byte'],
    ['1b0000', 'truncated head'],
    ['4401', 'truncated bstr'],
    ['83 01 02'.replace(/ /g, ''), 'truncated array'],
    ['a20102', 'truncated map'],
    ['a201020103', 'duplicate key'],
    ['a2010218010f', 'duplicate key with non-minimal encoding'],
    ['a2616101616102', 'duplicate text key'],
    ['62c328', 'invalid UTF-8'],
    ['f810', 'two-byte simple value below 32'],
    ['9bffffffffffffffff', 'huge array count'],
    ['5bffffffffffffffff', 'huge bstr length'],
  ];
  for (const [h, why] of bad) {
    it(`rejects ${why}`, () => expect(() => decodeCbor(hex(h))).toThrow(CborError));
  }
  it('rejects nesting deeper than 32', () => {
    expect(() => decodeCbor(hex('81'.repeat(40) + '00'))).toThrow(CborError);
    expect(decodeCbor(hex('81'.repeat(20) + '00'))).toBeDefined();
  });
});

describe('CBOR writer', () => {
  it('round-trips arbitrary values (property, seed 42)', () => {
    const leaf = fc.oneof(
      fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n - 1n }),
      fc.double({ noNaN: true }),
      fc.string(),
      fc.uint8Array({ maxLength: 64 }),
      fc.boolean(),
      fc.constant(null),
    );
    const value = fc.letrec<{ v: CborValue }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        leaf,
        fc.array(tie('v'), { maxLength: 4 }),
        fc.uniqueArray(fc.tuple(fc.string(), tie('v')), { maxLength: 4, selector: ([k]) => k }).map((e) => new CborMap(e)),
      ),
    })).v;
    fc.assert(
      fc.property(value, (v) => {
        expect(decodeCbor(encodeCbor(v))).toEqual(v);
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('encodes shortest integer heads', () => {
    expect(Buffer.from(encodeCbor(1000000n)).toString('hex')).toBe('1a000f4240');
    expect(Buffer.from(encodeCbor(-1000n)).toString('hex')).toBe('3903e7');
  });

  it('random bytes never escape as anything but CborError (property, seed 42)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        try {
          decodeCbor(b);
        } catch (err) {
          expect(err).toBeInstanceOf(CborError);
        }
      }),
      { seed: 42, numRuns: 2000 },
    );
  });
});

describe('DER reader', () => {
  it('rejects indefinite and non-minimal lengths, truncation, trailing bytes', () => {
    expect(() => parseDer(hex('3080020100 0000'.replace(/ /g, '')))).toThrow(DerError);
    expect(() => parseDer(hex('308103020100'))).toThrow(DerError);
    expect(() => parseDer(hex('30820003020100'))).toThrow(DerError);
    expect(() => parseDer(hex('3005020100'))).toThrow(DerError);
    expect(() => parseDer(hex('30030201000'.padEnd(12, '0')))).toThrow(DerError);
    expect(() => parseDer(hex('3004020200'))).toThrow(DerError); // child overruns parent
    expect(parseDer(hex('3003020100')).tag).toBe(0x30);
  });

  it('INTEGER, BOOLEAN and time values in DER form only', () => {
    expect(readInteger(parseDer(hex('020100')))).toBe(0n);
    expect(readInteger(parseDer(hex('020200ff')))).toBe(255n);
    expect(readInteger(parseDer(hex('0201ff')))).toBe(-1n);
    expect(() => readInteger(parseDer(hex('02020001')))).toThrow(DerError);
    expect(() => readInteger(parseDer(hex('0202ff80')))).toThrow(DerError);
    expect(readBoolean(parseDer(hex('0101ff')))).toBe(true);
    expect(() => readBoolean(parseDer(hex('010101')))).toThrow(DerError);
    const utc = (s: string): number => readTime(parseDer(new Uint8Array([0x17, s.length, ...Buffer.from(s)])));
    expect(utc('491028142805Z')).toBe(Date.UTC(2049, 9, 28, 14, 28, 5));
    expect(utc('500101000000Z')).toBe(Date.UTC(1950, 0, 1));
    expect(() => utc('4910281428Z')).toThrow(DerError);
    expect(() => utc('491328142805Z')).toThrow(DerError);
    expect(() => utc('491028142805+0100')).toThrow(DerError);
  });

  it('parses every genuine certificate like OpenSSL does (subject and validity)', () => {
    for (const d of genuineDocs) {
      const p = parseAttestationPayload(decodeCoseSign1(docBytes(d)).payload);
      for (const der of [p.certificate, ...p.cabundle]) {
        const ours = parseCertificate(der);
        const openssl = new X509Certificate(der);
        expect(ours.subject).toBe(openssl.subject.split('\n').join(', '));
        expect(ours.notBefore).toBe(Date.parse(openssl.validFrom));
        expect(ours.notAfter).toBe(Date.parse(openssl.validTo));
        expect(ours.basicConstraints?.ca ?? false).toBe(openssl.ca);
      }
    }
  });

  it('mutated certificates only ever produce CertificateParseError (property, seed 42)', () => {
    const der = awsNitroRootG1().der;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: der.length - 1 }), fc.integer({ min: 0, max: 255 }), (i, b) => {
        const m = new Uint8Array(der);
        m[i] = b;
        try {
          parseCertificate(m);
        } catch (err) {
          expect(err).toBeInstanceOf(CertificateParseError);
        }
      }),
      { seed: 42, numRuns: 500 },
    );
  });
});

describe('public parsers never leak raw exceptions', () => {
  it('verifyAttestationDocument rejects random bytes with an AttestationError (property, seed 42)', async () => {
    const doc = docBytes(genuineDocs[0]);
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ minLength: 1, maxLength: 40 }).map((tail) => new Uint8Array([...doc.subarray(0, 300), ...tail]))), async (b) => {
        await expect(verifyAttestationDocument(b, { trustedRoots: [awsNitroRootG1()], at: 1, expectedPcrs: 'skip' })).rejects.toBeInstanceOf(AttestationError);
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('payload fields replaced by random CBOR values are refused with AttestationError (property, seed 42)', () => {
    const payload = decodeCoseSign1(docBytes(genuineDocs[0])).payload;
    const map = decodeCbor(payload) as CborMap;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: map.size - 1 }),
        fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }), fc.string(), fc.uint8Array({ maxLength: 1100 }), fc.constant(null), fc.double(), fc.array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n }))),
        (i, v) => {
          const entries = map.entries.map(([k, x], j) => [k, j === i ? (v as CborValue) : x] as const);
          const bytes = encodeCbor(new CborMap(entries));
          try {
            parseAttestationPayload(bytes);
          } catch (err) {
            expect(err).toBeInstanceOf(AttestationError);
          }
        },
      ),
      { seed: 42, numRuns: 500 },
    );
  });
});
