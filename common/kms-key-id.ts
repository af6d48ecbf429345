/**
 * The four ways AWS KMS lets a caller name a key in `KeyId` (key ID, key ARN, alias name, alias
 * ARN). Cryptographic operations (Encrypt, Decrypt, ReEncrypt, GenerateDataKey*, Sign, Verify,
 * GetPublicKey) and DescribeKey accept all four; key-management calls accept only the first two.
 */

/** A key ARN or an alias ARN, in any partition (aws, aws-cn, aws-us-gov). */
export const KMS_ARN = /^arn:aws(?:-[a-z]+)*:kms:([a-z0-9-]+):(\d{12}):((?:key|alias)\/[A-Za-z0-9/_+=.@-]+)$/;
const KEY_ID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;
const ALIAS_NAME = /^alias\/[A-Za-z0-9/_-]{1,250}$/;

/** A parsed `KeyId`: which form, and the region when the form carries one. */
export interface KmsKeyId {
  form: 'key-arn' | 'alias-arn' | 'alias-name' | 'key-id';
  region?: string;
}

/** Parses a KeyId the way KMS accepts it; undefined for anything else. */
export function parseKmsKeyId(text: string): KmsKeyId | undefined {
  const arn = KMS_ARN.exec(text);
  if (arn) return { form: arn[3]!.startsWith('alias/') ? 'alias-arn' : 'key-arn', region: arn[1]! };
  if (ALIAS_NAME.test(text) && !text.startsWith('alias/aws/')) return { form: 'alias-name' };
  if (KEY_ID.test(text)) return { form: 'key-id' };
  return undefined;
}
