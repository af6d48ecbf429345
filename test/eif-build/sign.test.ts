/**
 * Signed EIFs: PCR8 from the test certificate (vectors), PCR0 unchanged by signing, the COSE_Sign1
 * over CBOR PcrInfo{0, PCR0} verifying, and every tampering showing up as SignatureCheck false.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMeasurements } from '../../common/measurements.js';
import { decodeCbor, type CborValue } from '../../eif-build/cbor.js';
import { buildEif } from '../../eif-build/build.js';
import { describeEif, inspectEif, verifyEif } from '../../eif-build/eif-reader.js';
import { buildSignatureSection, decodeSignatureSection, encodeSignatureSection } from '../../eif-build/signature.js';
import { eifVectorsDir, tempDir } from './helpers.js';

const keyPem = readFileSync(join(eifVectorsDir, 'test-signing/test-signing-key.pem'), 'utf8');
const certPem = readFileSync(join(eifVectorsDir, 'test-signing/test-signing-cert.pem'), 'utf8');
const vectors = JSON.parse(readFileSync(join(eifVectorsDir, 'vectors.json'), 'utf8')) as { pcr8_test_signing_cert: { PCR8: string } };

let t: { dir: string; cleanup: () => Promise<void> };
let unsignedPcr0: string;
let signedPath: string;
let signed: Buffer;

async function build(name: string, sign: boolean): Promise<Awaited<ReturnType<typeof buildEif>>> {
  return buildEif({
    boot: { kind: 'synthetic' },
    user: { kind: 'archive', path: join(t.dir, 'user.cpio') },
    outFile: join(t.dir, name),
    measurementsFile: join(t.dir, `${name}.json`),
    ...(sign ? { signer: { keyPem, certPem } } : {}),
    buildTimeEpoch: 0,
  });
}

beforeAll(async () => {
  t = await tempDir();
  await writeFile(join(t.dir, 'user.cpio'), Buffer.alloc(4096, 7));
  unsignedPcr0 = (await build('unsigned.eif', false)).measurements.PCR0;
  await build('signed.eif', true);
  signedPath = join(t.dir, 'signed.eif');
  signed = await readFile(signedPath);
});
afterAll(() => t.cleanup());

function signatureSection(buf: Buffer): { offset: number; data: Buffer } {
  const n = buf.readUInt16BE(26);
  const offset = Number(buf.readBigUInt64BE(28 + 8 * (n - 1)));
  expect(buf.readUInt16BE(offset)).toBe(4);
  return { offset, data: buf.subarray(offset + 12, offset + 12 + Number(buf.readBigUInt64BE(offset + 4))) };
}

/** Replaces the (last) signature section, fixing its size in both headers and the CRC. */
function withSection(buf: Buffer, replacement: Buffer): Buffer {
  const { offset } = signatureSection(buf);
  const n = buf.readUInt16BE(26);
  const out = Buffer.concat([buf.subarray(0, offset + 12), replacement]);
  out.writeBigUInt64BE(BigInt(replacement.length), offset + 4);
  out.writeBigUInt64BE(BigInt(replacement.length), 284 + 8 * (n - 1));
  out.writeUInt32BE(zlib.crc32(Buffer.concat([out.subarray(0, 544), out.subarray(548)])) >>> 0, 544);
  return out;
}

describe('signed EIF', () => {
  it('reports IsSigned, SignatureCheck true, PCR8 of the test certificate, and PCR0 unchanged by signing', async () => {
    const d = await describeEif(signedPath);
    expect(d.IsSigned).toBe(true);
    expect(d.CheckCRC).toBe(true);
    expect(d.SignatureCheck).toBe(true);
    expect(d.Measurements.PCR8).toBe(vectors.pcr8_test_signing_cert.PCR8);
    expect(d.Measurements.PCR0).toBe(unsignedPcr0);
    const m = parseMeasurements(await readFile(join(t.dir, 'signed.eif.json'), 'utf8'));
    expect(m.PCR8).toBe(vectors.pcr8_test_signing_cert.PCR8);
    expect(m.PCR0).toBe(unsignedPcr0);
    expect(m.eifSha256).toBe(createHash('sha256').update(signed).digest('hex'));
    expect(Object.keys(d)).toEqual(['EifVersion', 'Measurements', 'IsSigned', 'SigningCertificate', 'CheckCRC', 'SignatureCheck', 'ImageName', 'ImageVersion', 'Metadata']);
    expect(d.SigningCertificate).toMatchObject({
      IssuerName: { commonName: 'eif-test', countryName: 'US', organizationName: 'research' },
      Algorithm: 'ecdsa-with-SHA384',
      NotBefore: 'Nov 26 13:14:30 2026 GMT',
      NotAfter: 'Nov 23 13:14:30 2036 GMT',
    });
    expect(d.SigningCertificate!.Signature).toMatch(/^([0-9A-F]{2}:)+[0-9A-F]{2}$/);
    expect(signed.readUInt16BE(26)).toBe(6);
  });

  it('holds [ {signing_certificate: PEM as uints, signature: untagged ES384 COSE_Sign1 over PcrInfo{0, PCR0}} ]', () => {
    const { data } = signatureSection(signed);
    // 81 a2 73 "signing_certificate" 99 <len16>: one-element array, 2-entry map, PEM as a uint array.
    expect(data.subarray(0, 3).toString('hex')).toBe('81a273');
    expect(data.subarray(3, 22).toString()).toBe('signing_certificate');
    expect(data[22]).toBe(0x99);
    expect(data.readUInt16BE(23)).toBe(Buffer.byteLength(certPem));
    const dec = decodeSignatureSection(data);
    expect(Buffer.from(dec.certificatePem).toString()).toBe(certPem);
    const cose = decodeCbor(dec.coseSign1) as CborValue[];
    expect(Array.isArray(cose)).toBe(true); // untagged
    expect(Buffer.from(cose[0] as Uint8Array).toString('hex')).toBe('a1013822'); // {1: -35} ES384
    expect(cose[1]).toEqual({ kind: 'map', entries: [] });
    const payloadHex = Buffer.from(cose[2] as Uint8Array).toString('hex');
    // PcrInfo written out independently: map(2) "register_index" 0 "register_value" array(48) of uints.
    const uints = Buffer.from(unsignedPcr0, 'hex').reduce((s, b) => s + (b < 24 ? b.toString(16).padStart(2, '0') : '18' + b.toString(16).padStart(2, '0')), '');
    expect(payloadHex).toBe('a26e72656769737465725f696e646578006e72656769737465725f76616c75659830' + uints);
    expect((cose[3] as Uint8Array).length).toBe(96);
    // The section is exactly the canonical encoding of its parts.
    expect(encodeSignatureSection(Buffer.from(certPem), dec.coseSign1).equals(data)).toBe(true);
  });

  it('a tampered COSE signature or a signature over another PCR0 gives SignatureCheck false, verifyEif throws', async () => {
    const { data } = signatureSection(signed);
    const dec = decodeSignatureSection(data);
    const cose = Buffer.from(dec.coseSign1);
    cose[cose.length - 1]! ^= 0x01;
    const p1 = join(t.dir, 'tampered.eif');
    await writeFile(p1, withSection(signed, encodeSignatureSection(Buffer.from(certPem), cose)));
    const d1 = await describeEif(p1);
    expect(d1.CheckCRC).toBe(true);
    expect(d1.SignatureCheck).toBe(false);
    await expect(verifyEif(p1)).rejects.toMatchObject({ code: 'EIF_BAD_SIGNATURE' });

    // A valid signature by the same key, but over a different PCR0.
    const other = Buffer.from(unsignedPcr0, 'hex');
    other[0]! ^= 0x01;
    const otherSection = buildSignatureSection(other, keyPem, certPem);
    const p2 = join(t.dir, 'other-pcr0.eif');
    await writeFile(p2, withSection(signed, otherSection));
    const d2 = await describeEif(p2);
    expect(d2.CheckCRC).toBe(true);
    expect(d2.SignatureCheck).toBe(false);
    expect(d2.Measurements.PCR0).toBe(unsignedPcr0);
  });

  it('refuses a key that does not match the certificate, and non-EC keys', () => {
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(() => buildSignatureSection(Buffer.alloc(48), stranger, certPem)).toThrow(expect.objectContaining({ code: 'EIF_SIGNING_KEY' }));
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(() => buildSignatureSection(Buffer.alloc(48), rsa, certPem)).toThrow(expect.objectContaining({ code: 'EIF_SIGNING_KEY' }));
    expect(() => buildSignatureSection(Buffer.alloc(48), 'not a key', certPem)).toThrow(expect.objectContaining({ code: 'EIF_SIGNING_KEY' }));
    expect(() => buildSignatureSection(Buffer.alloc(48), keyPem, 'not a cert')).toThrow(expect.objectContaining({ code: 'EIF_BAD_SIGNATURE' }));
  });

  it('an undecodable signature section is a typed error; with a bad CRC the corruption is reported', async () => {
    const { data } = signatureSection(signed);
    const garbage = Buffer.alloc(data.length, 0xff);
    const p = join(t.dir, 'garbage.eif');
    await writeFile(p, withSection(signed, garbage));
    await expect(inspectEif(p)).rejects.toMatchObject({ code: 'EIF_BAD_SIGNATURE' });
    const corrupt = withSection(signed, garbage);
    corrupt[600]! ^= 1;
    await writeFile(p, corrupt);
    await expect(inspectEif(p)).rejects.toMatchObject({ code: 'EIF_CRC_MISMATCH' });
  });
});
