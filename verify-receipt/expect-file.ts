/**
 * `expectations.json`: everything an auditor expects of a deployment's receipts in one file,
 * written by `attested-pack deploy render` from the deploy file and the build's measurements,
 * read by `verify-receipt --expect`. Each field maps onto one flag of the strict invocation
 * (PCRs → --pcr0/1/2/8, parentRoleArn → --parent-role-arn, manifestPath → --manifest, keys →
 * --expect-key, signerPublicKey → --verify-key) and, like the flags, fills `Expectations`;
 * `repository` is compared with the receipt's request.
 */
import { InputError } from '../common/errors.js';
import { VerifyInputError } from './errors.js';

/** The file format (version 1). */
export interface ExpectationsFile {
  expectationsVersion: 1;
  /** Where it was rendered from (informational: the deploy file name and its SHA-256). */
  renderedFrom?: string;
  measurements: { PCR0: string; PCR1: string; PCR2: string; PCR8?: string };
  parentRoleArn: string;
  manifestPath: string;
  repository: string;
  /** Every KMS key ARN and age recipient a pack of this deployment may use. */
  keys: string[];
  /** Base64 DER SPKI of the artifact signer. */
  signerPublicKey: string;
}

const FIELDS = ['expectationsVersion', 'renderedFrom', 'measurements', 'parentRoleArn', 'manifestPath', 'repository', 'keys', 'signerPublicKey'];
const PCR_RE = /^[0-9a-f]{96}$/;

/** Parses expectations.json strictly: unknown fields and missing ones are refused, naming the field. */
export function parseExpectationsFile(text: string, path: string): ExpectationsFile {
  const bad = (field: string, message: string): never => {
    throw new VerifyInputError('VERIFY_EXPECTATIONS_INVALID', `--expect ${path}: ${field}: ${message}`, {
      hint: 'pass the expectations.json `attested-pack deploy render` wrote (re-render it after the build)',
      details: { path, field },
    });
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new InputError('VERIFY_EXPECTATIONS_INVALID', `--expect ${path} is not valid JSON`, { hint: 'pass the expectations.json `attested-pack deploy render` wrote' });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return bad('(top level)', 'expected a JSON object');
  const o = doc as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!FIELDS.includes(k)) bad(k, 'unknown field');
  if (o.expectationsVersion !== 1) bad('expectationsVersion', `expected 1, got ${JSON.stringify(o.expectationsVersion)}`);
  const m = o.measurements as Record<string, unknown> | undefined;
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return bad('measurements', 'expected an object with PCR0, PCR1, PCR2 (and PCR8 for signed images)');
  for (const k of Object.keys(m)) if (!['PCR0', 'PCR1', 'PCR2', 'PCR8'].includes(k)) bad(`measurements.${k}`, 'unknown field');
  for (const k of ['PCR0', 'PCR1', 'PCR2', 'PCR8']) {
    if (m[k] === undefined && k === 'PCR8') continue;
    if (typeof m[k] !== 'string' || !PCR_RE.test(m[k] as string)) bad(`measurements.${k}`, 'expected 96 lower-case hex characters');
  }
  const str = (k: string): string => (typeof o[k] === 'string' && (o[k] as string).length > 0 ? (o[k] as string) : bad(k, 'expected a non-empty string'));
  if (o.renderedFrom !== undefined) str('renderedFrom');
  const keys = o.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.some((k) => typeof k !== 'string')) bad('keys', 'expected a non-empty list of KMS key ARNs and age recipients');
  return {
    expectationsVersion: 1,
    ...(o.renderedFrom === undefined ? {} : { renderedFrom: o.renderedFrom as string }),
    measurements: { PCR0: m.PCR0 as string, PCR1: m.PCR1 as string, PCR2: m.PCR2 as string, ...(m.PCR8 === undefined ? {} : { PCR8: m.PCR8 as string }) },
    parentRoleArn: str('parentRoleArn'),
    manifestPath: str('manifestPath'),
    repository: str('repository'),
    keys: keys as string[],
    signerPublicKey: str('signerPublicKey'),
  };
}
