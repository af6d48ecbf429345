/**
 * PCR formulas against independent values: the worked PCR3/PCR4 examples of the AWS User Guide
 * recipe (reference §2), the PCR8 of the EIF test-signing certificate (vectors/eif), and the
 * NSM extend rule recomputed with node:crypto.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  extendPcr,
  instanceIdFromModuleId,
  isDebugMode,
  isZeroPcr,
  normalizePcrHex,
  pcr3ForRoleArn,
  pcr4ForInstanceId,
  pcr8ForSigningCertificate,
  pcrEquals,
  ZERO_PCR,
  ZERO_PCR_HEX,
} from '../../attestation/pcr.js';
import { vectorsDir } from './helpers.js';

describe('PCR formulas', () => {
  it('PCR3 = SHA384(0^48 ‖ role ARN)', () => {
    expect(pcr3ForRoleArn('arn:aws:iam::123456789012:role/Webserver')).toBe(
      '78fce75db17cd4e0a3fb8dad3ad128ca5e77edbb2b2c7f75329dccd99aa5f6ef4fc1f1a452e315b9e98f9e312e6921e6',
    );
  });

  it('PCR4 = SHA384(0^48 ‖ instance id)', () => {
    expect(pcr4ForInstanceId('i-1234567890abcdef0')).toBe(
      '08f996b5d43e047a9eb51e7f548bfee7e164fd7dc8f65541f2ac09d6545ac812719327281c401a67a10fcba87ae79ce0',
    );
  });

  it('PCR8 = SHA384(0^48 ‖ SHA384(signing certificate DER)) — eif vectors test certificate', () => {
    const der = readFileSync(path.join(vectorsDir, 'eif/test-signing/test-signing-cert.der'));
    const vectors = JSON.parse(readFileSync(path.join(vectorsDir, 'eif/vectors.json'), 'utf8')) as Record<string, unknown>;
    const expected = '89076cd29fe549a6963585fbcb40d143820f7269ebbb572c7a67643d002043ac9e0256ba99df66113a7c91f55f170a91';
    expect(JSON.stringify(vectors)).toContain(expected);
    expect(pcr8ForSigningCertificate(der)).toBe(expected);
  });

  it('extend = SHA384(old ‖ data), starting from 48 zero bytes', () => {
    const a = Buffer.from('first');
    const b = Buffer.from('second');
    const once = createHash('sha384').update(Buffer.concat([Buffer.alloc(48), a])).digest();
    const twice = createHash('sha384').update(Buffer.concat([once, b])).digest();
    expect(Buffer.from(extendPcr(extendPcr(ZERO_PCR, a), b))).toEqual(twice);
    expect(() => extendPcr(new Uint8Array(32), a)).toThrow(RangeError);
  });

  it('module_id → instance id', () => {
    expect(instanceIdFromModuleId('i-020b6af9246d90e92-enc0183d09086c24190')).toBe('i-020b6af9246d90e92');
    expect(instanceIdFromModuleId('not-a-module')).toBeNull();
    expect(instanceIdFromModuleId('i-abc-encXYZ')).toBeNull();
  });
});

describe('hex normalisation and comparison', () => {
  const v = 'AB'.repeat(48);
  it('normalises to lower case, strips 0x, refuses anything but 48 bytes of hex', () => {
    expect(normalizePcrHex(v)).toBe('ab'.repeat(48));
    expect(normalizePcrHex(`0x${v}`)).toBe('ab'.repeat(48));
    expect(normalizePcrHex(` ${v}\n`)).toBe('ab'.repeat(48));
    expect(normalizePcrHex('ab'.repeat(47))).toBeNull();
    expect(normalizePcrHex('ab'.repeat(49))).toBeNull();
    expect(normalizePcrHex(`${'ab'.repeat(47)}zz`)).toBeNull();
    expect(normalizePcrHex('')).toBeNull();
  });

  it('compares case-insensitively, bytes or hex, and never equates different lengths', () => {
    expect(pcrEquals(v, v.toLowerCase())).toBe(true);
    expect(pcrEquals(new Uint8Array(48).fill(0xab), v)).toBe(true);
    expect(pcrEquals(v, 'ac'.repeat(48))).toBe(false);
    expect(pcrEquals(v, 'ab'.repeat(47))).toBe(false);
    expect(pcrEquals('garbage', 'garbage')).toBe(false);
  });

  it('zero and debug detection', () => {
    expect(isZeroPcr(ZERO_PCR_HEX)).toBe(true);
    expect(isZeroPcr(ZERO_PCR)).toBe(true);
    expect(isZeroPcr(v)).toBe(false);
    const zero = new Map([[0, ZERO_PCR_HEX], [1, ZERO_PCR_HEX], [2, ZERO_PCR_HEX], [3, v]]);
    expect(isDebugMode(zero)).toBe(true);
    expect(isDebugMode(new Map([...zero, [2, v]]))).toBe(false);
    expect(isDebugMode(new Map())).toBe(true);
  });
});
