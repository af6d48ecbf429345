/**
 * PCR arithmetic exactly as AWS computes it for EIFs: one SHA-384 over the concatenated
 * section data, then one TPM-style extend from 48 zero bytes (reference eif-format.md §2).
 */
import { createHash, type Hash } from 'node:crypto';

/** Length of a SHA-384 digest and of every PCR. */
export const PCR_BYTES = 48;

/** `SHA384(0^48 ‖ digest)`: the extend that turns a content digest into a PCR value. */
export function pcrFromDigest(digest: Uint8Array): Buffer {
  return createHash('sha384').update(Buffer.alloc(PCR_BYTES)).update(digest).digest();
}

/** `SHA384(0^48 ‖ SHA384(bytes))`: what `nitro-cli pcr --input FILE` prints (PCR8 of a cert's DER). */
export function pcrOfBytes(bytes: Uint8Array): Buffer {
  return pcrFromDigest(createHash('sha384').update(bytes).digest());
}

/**
 * `SHA384(0^48 ‖ bytes)`: the raw extend used for PCR3 (role ARN) and PCR4 (instance id), whose
 * inputs are not pre-hashed. Kept here so eif-build can cross-check the formulas without attestation/.
 */
export function pcrExtendRaw(bytes: Uint8Array): Buffer {
  return createHash('sha384').update(Buffer.alloc(PCR_BYTES)).update(bytes).digest();
}

/** A streaming SHA-384 that finishes as a PCR value. */
export class PcrHasher {
  private readonly hash: Hash = createHash('sha384');
  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
  }
  /** The PCR (extend of the content digest); the hasher cannot be used afterwards. */
  finish(): Buffer {
    return pcrFromDigest(this.hash.digest());
  }
}
