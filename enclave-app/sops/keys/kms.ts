/**
 * The AWS KMS key source as pluggable functions: the codec never talks to KMS itself. The
 * enclave plugs in its attested `Decrypt` (CiphertextForRecipient); the operator CLI plugs in
 * the AWS SDK (kms-sdk.ts).
 */

/** What a KMS entry of the file asks for: `Decrypt(CiphertextBlob, KeyId = arn, EncryptionContext)`. */
export interface KmsUnwrapRequest {
  arn: string;
  /** IAM role sops would assume first (`role`), when set. */
  role?: string;
  /** Encryption context to send (null values already dropped). */
  context?: Record<string, string>;
  /** The `enc` field as written (base64 of the CiphertextBlob). */
  enc: string;
  /** `enc` decoded. */
  ciphertextBlob: Uint8Array;
  /** Shared-config profile sops would use (`aws_profile`), when set. */
  awsProfile?: string;
}

/** Returns the plaintext data key (32 bytes, or a 33-byte Shamir share) for a KMS entry. */
export type KmsUnwrap = (req: KmsUnwrapRequest) => Promise<Uint8Array>;

/** What encrypting a data key under a KMS key needs: `Encrypt(KeyId = arn, Plaintext, EncryptionContext)`. */
export interface KmsWrapRequest {
  arn: string;
  context?: Record<string, string>;
  role?: string;
  awsProfile?: string;
  plaintext: Uint8Array;
}

/** Returns the `enc` string to store: base64 (standard, padded) of the CiphertextBlob. */
export type KmsWrap = (req: KmsWrapRequest) => Promise<string>;

const ARN = /^arn:aws[\w-]*:kms:([^:]+):[0-9]+:(key|alias)\/.+$/;

/** The region of a KMS key ARN, as sops derives it; undefined for anything that is not a KMS ARN. */
export function kmsRegionFromArn(arn: string): string | undefined {
  return ARN.exec(arn)?.[1];
}
