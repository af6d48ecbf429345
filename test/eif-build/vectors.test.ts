/**
 * PCR formulas and CBOR encodings against the known values in test/vectors that need no
 * kernel: PCR8 of the test certificate, the PCR3/PCR4 worked examples, and the exact CBOR bytes of
 * PcrInfo and of a signature section from aws-nitro-enclaves-image-format's unit tests.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCbor, encodeInt } from '../../eif-build/cbor.js';
import { crc32, crc32Combine, crc32Portable } from '../../eif-build/crc32.js';
import { pcrExtendRaw, pcrFromDigest, pcrOfBytes } from '../../eif-build/pcr.js';
import { decodeSignatureSection, encodePcrInfo, encodeSignatureSection, pcr8OfCertificate } from '../../eif-build/signature.js';
import { eifVectorsDir } from './helpers.js';

const vectors = JSON.parse(readFileSync(join(eifVectorsDir, 'vectors.json'), 'utf8')) as {
  pcr8_test_signing_cert: { PCR8: string };
  cbor_signature_section: Record<string, string>;
};
const certPem = readFileSync(join(eifVectorsDir, 'test-signing/test-signing-cert.pem'), 'utf8');
const certDer = readFileSync(join(eifVectorsDir, 'test-signing/test-signing-cert.der'));

describe('PCR formulas', () => {
  it('PCR8 of the test signing certificate matches vectors.json (PEM and DER inputs)', () => {
    expect(pcr8OfCertificate(certPem).toString('hex')).toBe(vectors.pcr8_test_signing_cert.PCR8);
    expect(pcr8OfCertificate(certDer).toString('hex')).toBe(vectors.pcr8_test_signing_cert.PCR8);
    // Same value as `nitro-cli pcr --input cert.der`: the extend of SHA-384 of the DER bytes.
    expect(pcrOfBytes(certDer).toString('hex')).toBe(vectors.pcr8_test_signing_cert.PCR8);
    expect(Buffer.from(new X509Certificate(certPem).raw).equals(certDer)).toBe(true);
  });

  it('PCR3/PCR4 worked examples (role ARN, instance id: raw bytes, not pre-hashed)', () => {
    // reference/attestation-and-kms-recipient.md, "Worked examples [verified]".
    expect(pcrExtendRaw(Buffer.from('arn:aws:iam::123456789012:role/Webserver')).toString('hex')).toBe(
      '78fce75db17cd4e0a3fb8dad3ad128ca5e77edbb2b2c7f75329dccd99aa5f6ef4fc1f1a452e315b9e98f9e312e6921e6',
    );
    expect(pcrExtendRaw(Buffer.from('i-1234567890abcdef0')).toString('hex')).toBe(
      '08f996b5d43e047a9eb51e7f548bfee7e164fd7dc8f65541f2ac09d6545ac812719327281c401a67a10fcba87ae79ce0',
    );
  });

  it('the extend is SHA384(48 zero bytes ‖ digest), and an empty measurement is not all zeros', () => {
    const d = createHash('sha384').update('x').digest();
    expect(pcrFromDigest(d).equals(createHash('sha384').update(Buffer.concat([Buffer.alloc(48), d])).digest())).toBe(true);
    expect(pcrOfBytes(Buffer.alloc(0)).equals(Buffer.alloc(48))).toBe(false);
  });
});

describe('CBOR of the signature section', () => {
  const entries = Object.entries(vectors.cbor_signature_section);
  const pcrInfoHex = entries.find(([k]) => k.startsWith('PcrInfo'))![1];
  const sectionHex = entries.find(([k]) => k.startsWith('[PcrSignature'))![1];

  it('PcrInfo{0, 0x00..0x2f} encodes to the exact bytes of the upstream unit test', () => {
    const value = Uint8Array.from({ length: 48 }, (_, i) => i);
    expect(encodePcrInfo(0, value).toString('hex')).toBe(pcrInfoHex);
  });

  it('a one-entry signature section encodes to the exact upstream bytes and decodes back', () => {
    const pem = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const sig = Buffer.from([0xd2, 0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0, 0x40, 0x40]);
    expect(encodeSignatureSection(pem, sig).toString('hex')).toBe(sectionHex);
    // The upstream bytes hold a dummy certificate: decoding must fail as a typed error, not a crash.
    expect(() => decodeSignatureSection(Buffer.from(sectionHex, 'hex'))).toThrow(expect.objectContaining({ code: 'EIF_BAD_SIGNATURE' }));
    const real = decodeSignatureSection(encodeSignatureSection(Buffer.from(certPem), sig));
    expect(Buffer.from(real.coseSign1).equals(sig)).toBe(true);
    expect(Buffer.from(real.certificatePem).toString()).toBe(certPem);
  });

  it('the decoder rejects malformed CBOR with bounded work', () => {
    for (const hex of ['', '9f', '5bffffffffffffffff', '9affffffff', '81', 'a1', '7f', 'f9', '62ffff', '8100ff']) {
      expect(() => decodeCbor(Buffer.from(hex, 'hex')), hex).toThrow();
    }
    const deep = Buffer.concat([Buffer.alloc(40, 0x81), Buffer.from([0x00])]);
    expect(() => decodeCbor(deep)).toThrow(/deep/);
    expect(encodeInt(-35).toString('hex')).toBe('3822');
    expect(encodeInt(24).toString('hex')).toBe('1818');
  });
});

describe('CRC-32', () => {
  it('is CRC-32/ISO-HDLC (check value) and the native and portable versions agree', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32Portable(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('crc32Combine(crc(A), crc(B), len(B)) == crc(A ‖ B)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (a, b) => {
        const whole = crc32(Buffer.concat([a, b]));
        expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(whole);
        expect(crc32Portable(Buffer.concat([a, b]))).toBe(whole);
      }),
      { seed: 42, numRuns: 300 },
    );
  });
});
