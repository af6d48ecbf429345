/**
 * Reading what the auditor passed: the receipt, the expected measurements (measurements.json,
 * --pcrN flags or a KMS key policy), the artifact, the verify key, trust roots and repository.
 * Every failure here is the auditor's to fix and exits 2; none of it is a verification result.
 */
import { readFile } from 'node:fs/promises';
import { UsageError } from '../common/errors.js';
import { fromHex, normalizeHex } from '../common/bytes.js';
import { parseMeasurements } from '../common/measurements.js';
import type { Receipt } from '../attestation/receipt-types.js';
import { parseReceipt } from '../attestation/receipt.js';
import { normalizePcrHex, pcr3ForRoleArn } from '../attestation/pcr.js';
import { awsNitroRootG1, trustedRootFromPem, type TrustedRoot } from '../attestation/roots.js';
import { pcrConditionsFromPolicy } from '../kms-policies/pcr-conditions.js';
import { parseKeyPolicy } from '../kms-policies/policy.js';
import type { PolicyPrincipal } from '../kms-policies/evaluate.js';
import { checkAgeRecipient } from '../enclave-app/clef/age-recipient.js';
import { importVerifyKey, type VerifyKey } from '../enclave-app/clef/verify-key.js';
import type { ExpectedMeasurements } from './expectations.js';
import { VerifyInputError } from './errors.js';

/** Receipts are a few KiB; anything near this is not a receipt. */
const MAX_RECEIPT_BYTES = 1024 * 1024;
/** The host↔enclave frame limit bounds artifacts. */
const MAX_ARTIFACT_BYTES = 16 * 1024 * 1024;
const MAX_SMALL_FILE_BYTES = 1024 * 1024;

const KMS_ARN = /^arn:aws(?:-[a-z]+)*:kms:[a-z0-9-]+:\d{12}:(?:key|alias)\/[A-Za-z0-9/_+=.@-]+$/;

/** Reads a file the auditor named, or throws VERIFY_INPUT_UNREADABLE naming the flag. */
export async function readInputFile(path: string, what: string, maxBytes = MAX_SMALL_FILE_BYTES): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : code === 'EISDIR' ? 'is a directory' : 'cannot be read';
    throw new VerifyInputError('VERIFY_INPUT_UNREADABLE', `${what} ${path} ${why}`, { details: { path } });
  }
  if (bytes.byteLength > maxBytes) {
    throw new VerifyInputError('VERIFY_INPUT_UNREADABLE', `${what} ${path} is larger than ${maxBytes} bytes`, { details: { path } });
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function utf8(bytes: Uint8Array, what: string, path: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new VerifyInputError('VERIFY_INPUT_UNREADABLE', `${what} ${path} is not UTF-8 text`, { details: { path } });
  }
}

/** Reads and strictly parses the receipt file (RECEIPT_MALFORMED / RECEIPT_VERSION exit 2). */
export async function loadReceipt(path: string): Promise<Receipt> {
  const text = utf8(await readInputFile(path, 'receipt', MAX_RECEIPT_BYTES), 'receipt', path);
  return parseReceipt(text);
}

/** The --pcrN flags verify-receipt offers (the image, kernel, application, role, instance, signer). */
export const PCR_FLAG_INDICES: readonly number[] = [0, 1, 2, 3, 4, 8];
/** PCRs of the parent (role, instance): pins that add to any measurement source. */
export const PARENT_PCR_INDICES: readonly number[] = [3, 4];

/** Where expected PCRs come from; exactly one image source must be given. */
export interface MeasurementSources {
  measurements?: string;
  /** --pcrN flags (PCR3/PCR4 here are pins on the parent and combine with any source). */
  pcrFlags: ReadonlyMap<number, string>;
  policy?: string;
  /** --parent-role-arn: pins PCR3 = SHA384(0^48 ‖ utf8(arn)) and, with --policy, is the Decrypt caller. */
  parentRoleArn?: string;
}

const ROLE_ARN = /^arn:aws(?:-[a-z]+)*:iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/;

/** --parent-role-arn: an IAM role ARN (what the parent instance profile's role is). */
export function parseRoleArnFlag(value: string): { arn: string; accountId: string; roleName: string; partition: string } {
  const m = ROLE_ARN.exec(value);
  if (!m) {
    throw new UsageError(`--parent-role-arn must be an IAM role ARN (arn:aws:iam::123456789012:role/NAME), got ${JSON.stringify(value.slice(0, 80))}`, {
      hint: 'use the role of the parent instance profile, not the instance profile or an assumed-role session',
    });
  }
  return { arn: value, accountId: m[1]!, roleName: m[2]!, partition: value.split(':')[1]! };
}

function normalizedPcrFlag(i: number, hex: string): string {
  const h = normalizePcrHex(hex);
  if (h === null) throw new UsageError(`--pcr${i} must be 96 hex characters (SHA-384), got ${hex.length} characters`);
  return h;
}

/** PCR3 / PCR4 pins from --pcr3, --pcr4 and --parent-role-arn (which must agree with --pcr3). */
function parentPins(src: MeasurementSources): Map<number, { value: string; from: string }> {
  const pins = new Map<number, { value: string; from: string }>();
  for (const i of PARENT_PCR_INDICES) {
    const v = src.pcrFlags.get(i);
    if (v !== undefined) pins.set(i, { value: normalizedPcrFlag(i, v), from: `--pcr${i}` });
  }
  if (src.parentRoleArn !== undefined) {
    const role = parseRoleArnFlag(src.parentRoleArn);
    const value = pcr3ForRoleArn(role.arn);
    const given = pins.get(3);
    if (given !== undefined && given.value !== value) {
      throw new UsageError(`--pcr3 ${given.value.slice(0, 16)}… is not PCR3 of --parent-role-arn ${role.arn} (${value.slice(0, 16)}…): pass one of them`);
    }
    pins.set(3, { value, from: `--parent-role-arn ${role.arn}` });
  }
  return pins;
}

/**
 * Builds the expected measurements from exactly one image source (measurements.json, --pcr0…
 * flags, or a key policy), plus PCR3/PCR4 pins. None at all is VERIFY_NO_EXPECTED_MEASUREMENTS
 * (exit 2): a receipt is never verified against nothing.
 */
export async function loadExpectedMeasurements(src: MeasurementSources): Promise<ExpectedMeasurements> {
  const imageFlags = new Map([...src.pcrFlags].filter(([i]) => !PARENT_PCR_INDICES.includes(i)));
  const given = [src.measurements !== undefined, imageFlags.size > 0, src.policy !== undefined].filter(Boolean).length;
  if (given === 0) {
    throw new VerifyInputError('VERIFY_NO_EXPECTED_MEASUREMENTS', 'no expected measurements: refusing to verify a receipt against nothing', {
      hint: 'pass --measurements measurements.json (from `attested-pack eif build`), --pcr0/--pcr1/--pcr2 HEX, or --policy KEY-POLICY.json' +
        (src.pcrFlags.size > 0 || src.parentRoleArn !== undefined ? ' (--pcr3, --pcr4 and --parent-role-arn pin the parent, not the image)' : ''),
    });
  }
  if (given > 1) throw new UsageError('--measurements, --pcr0/1/2/8 and --policy are alternatives: pass exactly one of them');
  const pins = parentPins(src);
  const withPins = (m: ExpectedMeasurements): ExpectedMeasurements => (pins.size > 0 ? { ...m, pins } : m);

  if (src.measurements !== undefined) {
    const m = parseMeasurements(utf8(await readInputFile(src.measurements, '--measurements'), '--measurements', src.measurements), src.measurements);
    const pcrs = new Map<number, string[]>([
      [0, [m.PCR0]],
      [1, [m.PCR1]],
      [2, [m.PCR2]],
    ]);
    if (m.PCR8 !== undefined) pcrs.set(8, [m.PCR8]);
    return withPins({ source: src.measurements, alternatives: [{ label: '', pcrs }] });
  }

  if (imageFlags.size > 0) {
    const pcrs = new Map<number, string[]>();
    for (const [i, hex] of imageFlags) pcrs.set(i, [normalizedPcrFlag(i, hex)]);
    // PCR0 is the image: without it any enclave image with the right role or signer would pass.
    if (!pcrs.has(0)) {
      throw new UsageError('--pcr0 is required with --pcrN flags: PCR0 is the enclave image itself (PCR1/2/3/4/8 alone do not pin it)');
    }
    return withPins({ source: '--pcr flags', alternatives: [{ label: '', pcrs }] });
  }

  const path = src.policy!;
  const text = utf8(await readInputFile(path, '--policy'), '--policy', path);
  const policy = parseKeyPolicy(unwrapGetKeyPolicy(text, path));
  // Only statements that pin the image (PCR0 / ImageSha384) can admit an image: a statement pinning
  // only the parent's role (PCR3), instance (PCR4) or signer (PCR8) admits any image.
  const sets = pcrConditionsFromPolicy(policy).filter((s) => (s.pcrs[0]?.length ?? 0) > 0);
  if (sets.length === 0) {
    throw new VerifyInputError('VERIFY_NO_EXPECTED_MEASUREMENTS', `key policy ${path} pins no enclave image (no Allow statement with a kms:RecipientAttestation:ImageSha384 / PCR0 StringEquals condition)`, {
      hint: 'such a key does not require an attested enclave; pass --measurements instead',
    });
  }
  const callers =
    src.parentRoleArn !== undefined ? [roleSession(parseRoleArnFlag(src.parentRoleArn))] : callersNamedBy(sets.flatMap((s) => s.principals));
  return withPins({
    source: `key policy ${path}`,
    alternatives: [],
    keyPolicy: { path, policy, callers, pinningStatements: new Map(sets.map((s) => [s.index, s])) },
  });
}

/** The assumed-role session a parent instance calls KMS with (what KMS sees as the caller). */
function roleSession(role: { accountId: string; roleName: string; partition: string }): PolicyPrincipal {
  return { arn: `arn:${role.partition}:sts::${role.accountId}:assumed-role/${role.roleName}/verify-receipt`, accountId: role.accountId };
}

/** The callers an image-pinning statement admits: its roles (as sessions), users, account roots, or anyone. */
export function callersNamedBy(principals: readonly string[]): PolicyPrincipal[] {
  const out = new Map<string, PolicyPrincipal>();
  for (const p of principals) {
    const role = ROLE_ARN.exec(p);
    const root = /^\d{12}$/.test(p) ? p : /^arn:aws[\w-]*:iam::(\d{12}):root$/.exec(p)?.[1];
    let caller: PolicyPrincipal;
    if (p === '*') caller = { arn: 'arn:aws:sts::000000000000:assumed-role/any-caller/verify-receipt', accountId: '000000000000' };
    else if (role) caller = roleSession({ accountId: role[1]!, roleName: role[2]!, partition: p.split(':')[1]! });
    else if (root !== undefined) caller = { arn: `arn:aws:iam::${root}:root`, accountId: root };
    else caller = { arn: p, accountId: /^arn:aws[\w-]*:(?:iam|sts)::(\d{12}):/.exec(p)?.[1] ?? '000000000000' };
    out.set(caller.arn, caller);
  }
  return [...out.values()];
}

/** Accepts a key policy document, or the `aws kms get-key-policy` output that wraps it as a string. */
function unwrapGetKeyPolicy(text: string, path: string): unknown {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new VerifyInputError('VERIFY_INPUT_UNREADABLE', `--policy ${path} is not valid JSON`, { details: { path } });
  }
  if (typeof doc === 'object' && doc !== null && typeof (doc as { Policy?: unknown }).Policy === 'string' && !('Statement' in doc)) {
    try {
      return JSON.parse((doc as { Policy: string }).Policy);
    } catch {
      throw new VerifyInputError('VERIFY_INPUT_UNREADABLE', `--policy ${path}: its "Policy" string is not valid JSON`, { details: { path } });
    }
  }
  return doc;
}

/** Reads the artifact file as bytes (its sha256 is over the exact bytes). */
export async function loadArtifact(path: string): Promise<{ path: string; bytes: Uint8Array }> {
  return { path, bytes: await readInputFile(path, '--artifact', MAX_ARTIFACT_BYTES) };
}

/**
 * The artifact verify key from --verify-key (base64 SPKI or PEM) or --kms-public-key FILE
 * (DER, PEM, base64, or `aws kms get-public-key` JSON output).
 */
export async function loadVerifyKey(opts: { verifyKey?: string; kmsPublicKey?: string }): Promise<{ source: string; key: VerifyKey } | undefined> {
  if (opts.verifyKey !== undefined && opts.kmsPublicKey !== undefined) {
    throw new UsageError('--verify-key and --kms-public-key are alternatives: pass one of them');
  }
  if (opts.verifyKey !== undefined) return { source: '--verify-key', key: importVerifyKey(opts.verifyKey) };
  if (opts.kmsPublicKey === undefined) return undefined;
  const path = opts.kmsPublicKey;
  const bytes = await readInputFile(path, '--kms-public-key');
  const text = Buffer.from(bytes).toString('utf8').trim();
  let input: string | Uint8Array = bytes;
  if (text.startsWith('{')) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new VerifyInputError('VERIFY_INPUT_UNREADABLE', `--kms-public-key ${path} is not valid JSON`, { details: { path } });
    }
    const pk = (doc as { PublicKey?: unknown } | null)?.PublicKey;
    if (typeof pk !== 'string') {
      throw new VerifyInputError('VERIFY_INPUT_UNREADABLE', `--kms-public-key ${path} has no "PublicKey" field (expected \`aws kms get-public-key\` output)`, {
        details: { path },
      });
    }
    input = pk;
  } else if (text.startsWith('-----BEGIN')) {
    input = text;
  } else if (/^[A-Za-z0-9+/=\s]+$/.test(text)) {
    input = text.replace(/\s+/g, '');
  }
  return { source: `--kms-public-key ${path}`, key: importVerifyKey(input) };
}

/** The trust anchors: the pinned AWS Nitro root G1, or the --root PEM files instead. */
export async function loadTrustedRoots(paths: readonly string[]): Promise<TrustedRoot[]> {
  if (paths.length === 0) return [awsNitroRootG1()];
  const roots: TrustedRoot[] = [];
  for (const p of paths) roots.push(trustedRootFromPem(utf8(await readInputFile(p, '--root'), '--root', p)));
  return roots;
}

/** --nonce: non-empty hex (any case, optional 0x), returned lower-case. */
export function parseNonceFlag(value: string): string {
  const hex = normalizeHex(value);
  const bytes = fromHex(hex);
  if (bytes === undefined || bytes.byteLength === 0 || bytes.byteLength > 1024) {
    throw new UsageError(`--nonce must be 1..1024 bytes of hex, got ${JSON.stringify(value.slice(0, 40))}`);
  }
  return hex;
}

/** --at: an ISO-8601 time with a zone (`2026-03-22T10:00:00Z`, `…+02:00`) or a date (UTC midnight). */
export function parseAtFlag(value: string): number {
  const ok = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/.test(value);
  const t = ok ? Date.parse(value) : NaN;
  if (!Number.isFinite(t)) {
    throw new UsageError(`--at must be an ISO-8601 time with a zone, e.g. 2026-03-22T10:00:00Z, got ${JSON.stringify(value)}`);
  }
  return t;
}

/** --commit: 7..64 hex digits. */
export function parseCommitFlag(value: string): string {
  if (!/^[0-9a-fA-F]{7,64}$/.test(value)) throw new UsageError(`--commit must be a commit id (7 to 64 hex digits), got ${JSON.stringify(value)}`);
  return value.toLowerCase();
}

/** --expect-key: a KMS key or alias ARN, or an age X25519 recipient (age1…). */
export function parseExpectKey(value: string): string {
  if (KMS_ARN.test(value)) return value;
  if (value.startsWith('age1')) {
    const check = checkAgeRecipient(value);
    if (!check.ok) throw new UsageError(`--expect-key ${JSON.stringify(value.slice(0, 20))}…: ${check.reason}`);
    return value;
  }
  throw new UsageError(`--expect-key must be a KMS key or alias ARN or an age recipient (age1…), got ${JSON.stringify(value.slice(0, 80))}`);
}

/** --manifest: the repo-relative POSIX path of the manifest (`./` prefix allowed), e.g. `infra/clef.yaml`. */
export function parseManifestFlag(value: string): string {
  const p = value.replace(/^(?:\.\/)+/, '');
  const segments = p.split('/');
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (p === '' || p.includes('\\') || /[\u0000-\u001f\u007f]/.test(p) || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new UsageError(`--manifest must be a path inside the repository, relative to its root (e.g. infra/clef.yaml), got ${JSON.stringify(value.slice(0, 80))}`);
  }
  return p;
}
