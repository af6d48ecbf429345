/**
 * The ES384 signature of a COSE_Sign1: raw r‖s (IEEE P1363, 48 bytes each, NOT DER) over the
 * Sig_structure built from the protected and payload bytes exactly as received.
 */
import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { AttestationError } from './errors.js';
import { ES384_SIGNATURE_BYTES, sigStructure } from './cose.js';

/** Order n of the P-384 group; r and s must lie in [1, n-1]. */
export const P384_ORDER = 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n;

const toBigInt = (b: Uint8Array): bigint => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);

/** Step: the signature is 96 bytes of raw r‖s with 0 < r, s < n (checklist 5, 6). */
export function checkSignatureFormat(signature: Uint8Array): void {
  if (signature.length !== ES384_SIGNATURE_BYTES) {
    const looksDer = signature.length > 0 && signature[0] === 0x30;
    throw new AttestationError(
      'ATTESTATION_BAD_SIGNATURE_FORMAT',
      `COSE signature is ${signature.length} bytes${looksDer ? ' and looks DER-encoded' : ''}; ES384 needs 96 bytes of raw r‖s`,
    );
  }
  const r = toBigInt(signature.subarray(0, 48));
  const s = toBigInt(signature.subarray(48));
  if (r === 0n || r >= P384_ORDER || s === 0n || s >= P384_ORDER) {
    throw new AttestationError('ATTESTATION_BAD_SIGNATURE_FORMAT', 'COSE signature has r or s outside [1, n-1]');
  }
}

/** True when `signature` is a valid ES384 signature by `key` over the Sig_structure. */
export function verifyEs384(key: KeyObject, protectedBytes: Uint8Array, payload: Uint8Array, signature: Uint8Array): boolean {
  try {
    return cryptoVerify('sha384', sigStructure(protectedBytes, payload), { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}
