/**
 * Platform Configuration Registers: the formulas behind PCR3 (parent IAM role), PCR4 (parent
 * instance ID) and PCR8 (EIF signing certificate), the NSM extend operation, and the one way
 * PCR values are written and compared here: lower-case hex of 48 bytes.
 */
import { createHash } from 'node:crypto';
import { bytesEqual, fromHex, toHex } from '../common/bytes.js';

/** Length in bytes of a SHA-384 PCR. */
export const PCR_LENGTH = 48;
/** The value every PCR starts from (and debug-mode enclaves report for PCR0/1/2/8). */
export const ZERO_PCR: Uint8Array = new Uint8Array(PCR_LENGTH);
/** The zero PCR as hex (96 zeros), as KMS policies write it for debug enclaves. */
export const ZERO_PCR_HEX = '0'.repeat(PCR_LENGTH * 2);

const sha384 = (data: Uint8Array): Uint8Array => new Uint8Array(createHash('sha384').update(data).digest());

/** NSM ExtendPCR: `new = SHA384(old ‖ data)`. */
export function extendPcr(old: Uint8Array, data: Uint8Array): Uint8Array {
  if (old.length !== PCR_LENGTH) throw new RangeError(`a PCR is ${PCR_LENGTH} bytes`);
  return sha384(Buffer.concat([old, data]));
}

/** PCR3 for a parent instance's IAM role ARN: `SHA384(0^48 ‖ utf8(arn))` (the raw string, not pre-hashed). */
export function pcr3ForRoleArn(roleArn: string): string {
  return toHex(extendPcr(ZERO_PCR, Buffer.from(roleArn, 'utf8')));
}

/** PCR4 for a parent instance ID (`i-…`): `SHA384(0^48 ‖ utf8(instanceId))`. */
export function pcr4ForInstanceId(instanceId: string): string {
  return toHex(extendPcr(ZERO_PCR, Buffer.from(instanceId, 'utf8')));
}

/** PCR8 for the DER certificate that signed the EIF: `SHA384(0^48 ‖ SHA384(der))`. */
export function pcr8ForSigningCertificate(der: Uint8Array): string {
  return toHex(extendPcr(ZERO_PCR, sha384(der)));
}

/** The parent instance ID inside a module_id (`i-…-enc…` → `i-…`), or null when not that shape. */
export function instanceIdFromModuleId(moduleId: string): string | null {
  const m = /^(i-[0-9a-f]+)-enc[0-9a-f]+$/.exec(moduleId);
  return m ? m[1] : null;
}

/**
 * Normalises a PCR given as hex (any case, optional 0x) to lower-case hex of 48 bytes, or
 * returns null when it is not exactly that.
 */
export function normalizePcrHex(hex: string): string | null {
  const h = hex.trim().replace(/^0x/i, '').toLowerCase();
  if (!/^[0-9a-f]{96}$/.test(h)) return null;
  return h;
}

/** Converts a PCR given as bytes or hex into 48 bytes; throws RangeError when it is not one. */
export function pcrBytes(value: Uint8Array | string): Uint8Array {
  if (typeof value !== 'string') {
    if (value.length !== PCR_LENGTH) throw new RangeError(`a PCR is ${PCR_LENGTH} bytes, got ${value.length}`);
    return new Uint8Array(value);
  }
  const h = normalizePcrHex(value);
  if (h === null) throw new RangeError('a PCR is 96 hex characters');
  return fromHex(h)!;
}

/** Compares two PCR values (bytes or hex, case-insensitive) in constant time. */
export function pcrEquals(a: Uint8Array | string, b: Uint8Array | string): boolean {
  let x: Uint8Array;
  let y: Uint8Array;
  try {
    x = pcrBytes(a);
    y = pcrBytes(b);
  } catch {
    return false;
  }
  return bytesEqual(x, y);
}

/** True when a PCR value is 48 zero bytes. */
export function isZeroPcr(value: Uint8Array | string): boolean {
  return pcrEquals(value, ZERO_PCR);
}

/**
 * Debug mode as the User Guide defines it: PCR0, PCR1 and PCR2 all zero. Accepts the
 * verifier's hex map or a byte map; an absent PCR counts as zero (nothing was measured).
 */
export function isDebugMode(pcrs: ReadonlyMap<number, Uint8Array | string>): boolean {
  return [0, 1, 2].every((i) => {
    const v = pcrs.get(i);
    return v === undefined || isZeroPcr(v);
  });
}
