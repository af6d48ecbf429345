/** Shared inputs for the kms-policies tests: a deterministic image and the roles around it. */
import { createHash } from 'node:crypto';
import type { Measurements } from '../../common/measurements.js';

const sha384 = (s: string): string => createHash('sha384').update(s).digest('hex');

export const ACCOUNT = '111122223333';
export const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/attested-pack-enclave`;
export const ROLE_SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/attested-pack-enclave/i-0123456789abcdef0`;
export const RUNTIME_ROLE = `arn:aws:iam::${ACCOUNT}:role/clef-runtime`;
export const ADMIN_ARN = `arn:aws:iam::${ACCOUNT}:user/admin`;
export const KEY_ARN = `arn:aws:kms:us-east-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;

/** Measurements of a made-up image (values are SHA-384 of labels, so any edit is visible). */
export function measurementsFor(label: string, signed = false): Measurements {
  return {
    PCR0: sha384(`${label}/pcr0`),
    PCR1: sha384(`${label}/pcr1`),
    PCR2: sha384(`${label}/pcr2`),
    ...(signed ? { PCR8: sha384(`${label}/pcr8`) } : {}),
    eifSha256: createHash('sha256').update(label).digest('hex'),
    arch: 'x86_64',
    buildInputs: {},
  };
}

/** A measurement with one byte of PCR0 changed (an image one byte different). */
export function oneByteOff(hex: string): string {
  const last = (parseInt(hex.slice(-2), 16) ^ 0x01).toString(16).padStart(2, '0');
  return hex.slice(0, -2) + last;
}
