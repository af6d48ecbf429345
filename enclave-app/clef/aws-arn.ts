/**
 * AWS KMS key/alias ARN rules as Clef applies them to a service identity's `kms.keyId`
 * (packages/core/src/kms/aws-arn.ts): six colon segments, a known partition, service `kms`,
 * a region, a 12-digit account, and `key/<id>` or `alias/<name>`. Bare key ids and bare
 * aliases are refused because the region must come from the ARN.
 */

/** A parsed KMS ARN; `resourceType` says whether it names a key or an alias. */
export interface AwsKmsArn {
  partition: string;
  region: string;
  account: string;
  resourceType: 'key' | 'alias';
  resourceId: string;
}

const PARTITION_RE = /^aws(?:-[a-z]+)*$/;
const REGION_RE = /^[a-z]{2,}(?:-[a-z]+)+-\d+$/;
const ACCOUNT_RE = /^\d{12}$/;

/** Checks a KMS key or alias ARN; returns the parts, or the reason naming the faulty segment. */
export function parseAwsKmsArn(input: string): { ok: true; arn: AwsKmsArn } | { ok: false; reason: string } {
  if (input.length === 0) return { ok: false, reason: 'the key ARN is empty' };
  if (!input.startsWith('arn:')) {
    return {
      ok: false,
      reason:
        "expected a full ARN starting with 'arn:' (a bare key id or alias name cannot say its region), " +
        "e.g. 'arn:aws:kms:us-east-1:123456789012:alias/<name>'",
    };
  }
  const segments = input.split(':');
  if (segments.length !== 6) {
    return {
      ok: false,
      reason: `expected exactly 6 colon-separated segments (arn:aws:kms:<region>:<account>:<resource>), got ${segments.length}`,
    };
  }
  const [, partition, service, region, account, resource] = segments as [string, string, string, string, string, string];
  if (!PARTITION_RE.test(partition)) {
    return { ok: false, reason: `partition '${partition}' is not an AWS partition ('aws', 'aws-us-gov', 'aws-cn', …)` };
  }
  if (service !== 'kms') return { ok: false, reason: `service segment must be 'kms', got '${service}'` };
  if (region.length === 0) return { ok: false, reason: "the region segment is empty (look for '::' after 'kms')" };
  if (!REGION_RE.test(region)) {
    return { ok: false, reason: `region '${region}' does not look like an AWS region (e.g. 'us-east-1')` };
  }
  if (!ACCOUNT_RE.test(account)) {
    return { ok: false, reason: `account segment '${account}' must be exactly 12 digits` };
  }
  let resourceType: 'key' | 'alias';
  if (resource.startsWith('key/')) resourceType = 'key';
  else if (resource.startsWith('alias/')) resourceType = 'alias';
  else return { ok: false, reason: `resource '${resource}' must start with 'key/' or 'alias/'` };
  const resourceId = resource.slice(resourceType.length + 1);
  if (resourceId.length === 0) return { ok: false, reason: `the ${resourceType} id after '${resourceType}/' is empty` };
  return { ok: true, arn: { partition, region, account, resourceType, resourceId } };
}

/** The region Clef derives from an envelope key ARN (pack.ts: /^arn:aws(?:-[a-z]+)*:kms:([^:]+):/). */
export function regionFromKmsArn(arn: string): string | undefined {
  return /^arn:aws(?:-[a-z]+)*:kms:([^:]+):/.exec(arn)?.[1];
}
