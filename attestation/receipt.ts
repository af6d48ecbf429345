/**
 * The receipt v1 format in code: a strict parser, the canonical form of the claims (RFC 8785 /
 * JCS), the digest the enclave puts in the attestation document's `user_data`, the builder the
 * enclave uses, and `verifyReceipt`, the binding check an auditor runs.
 *
 * The parser is deliberately unforgiving: unknown fields, duplicate JSON keys, wrong types,
 * non-canonical hex or base64 are all rejected, naming the JSON path. Anything the parser let
 * through unchecked would be data an auditor reads but the attestation does not bind.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { AttestedPackError, type ErrorCategory, type ErrorOptions } from '../common/errors.js';
import { bytesEqual, fromHex, normalizeHex, toHex } from '../common/bytes.js';
import type {
  Receipt,
  ReceiptArtifact,
  ReceiptClaims,
  ReceiptInput,
  ReceiptKeys,
  ReceiptRequest,
} from './receipt-types.js';
import { AttestationError } from './errors.js';
import { decodeCoseSign1 } from './cose.js';
import { parseAttestationPayload } from './payload.js';
import { verifyAttestationDocument, type VerifiedAttestation, type VerifyAttestationOptions } from './verify.js';

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * Closed set of receipt failure codes:
 * - RECEIPT_MALFORMED         not JSON, duplicate keys, or a field fails the v1 schema (details.path)
 * - RECEIPT_VERSION           `receiptVersion` is not 1 (a newer or older format)
 * - RECEIPT_BINDING_MISMATCH  the document's user_data is not SHA-384(JCS(claims))
 * - RECEIPT_NONCE_MISMATCH    the document's nonce is not the claims' nonce, or not the expected one
 */
export type ReceiptErrorCode =
  | 'RECEIPT_MALFORMED'
  | 'RECEIPT_VERSION'
  | 'RECEIPT_BINDING_MISMATCH'
  | 'RECEIPT_NONCE_MISMATCH';

const RECEIPT_INPUT_CODES: ReadonlySet<ReceiptErrorCode> = new Set(['RECEIPT_MALFORMED', 'RECEIPT_VERSION']);

/** Why a receipt could not be read (exit 2) or does not bind its claims (exit 1). */
export class ReceiptError extends AttestedPackError {
  declare readonly code: ReceiptErrorCode;

  constructor(code: ReceiptErrorCode, message: string, options: ErrorOptions = {}) {
    const category: ErrorCategory = options.category ?? (RECEIPT_INPUT_CODES.has(code) ? 'input' : 'rejected');
    super(code, message, { ...options, category });
  }
}

function malformed(path: string, what: string): ReceiptError {
  return new ReceiptError('RECEIPT_MALFORMED', `receipt ${path}: ${what}`, {
    details: { path },
    hint: 'pass the receipt.json exactly as the pack step wrote it; receipts must not be edited',
  });
}

// ---------------------------------------------------------------------------------------------
// Strict JSON: duplicate keys are refused, because JSON.parse silently keeps the last one and a
// person reading the file may see the first.

/** Throws RECEIPT_MALFORMED when any object in `text` (already known to be valid JSON) repeats a key. */
function assertNoDuplicateKeys(text: string): void {
  interface Open {
    keys: Set<string> | null; // null for arrays
    path: string;
    lastKey: string;
    index: number;
    expectKey: boolean;
  }
  const stack: Open[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const top = stack[stack.length - 1];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) throw malformed(`${top.path}.${key}`, 'duplicate key');
        top.keys.add(key);
        top.lastKey = key;
        top.expectKey = false;
      }
      i = j + 1;
      continue;
    }
    if (c === '{' || c === '[') {
      const path = top === undefined ? '$' : top.keys ? `${top.path}.${top.lastKey}` : `${top.path}[${top.index}]`;
      stack.push({ keys: c === '{' ? new Set() : null, path, lastKey: '', index: 0, expectKey: c === '{' });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',' && top) {
      if (top.keys) top.expectKey = true;
      else top.index += 1;
    }
    i += 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Schema helpers: each reads one value at a JSON path or throws RECEIPT_MALFORMED naming it.

const HEX_SHA256 = /^[0-9a-f]{64}$/;
const GIT_OBJECT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const ISO_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const KMS_ARN = /^arn:aws(?:-[a-z]+)*:kms:[a-z0-9-]+:\d{12}:(?:key|alias)\/[A-Za-z0-9/_+=.@-]+$/;
const AGE_RECIPIENT = /^age1[02-9ac-hj-np-z]+$/;
const MAX_STRING = 4096;
/** Attestation documents are at most a few KiB; 64 KiB leaves room and bounds memory. */
const MAX_ATTESTATION_BYTES = 64 * 1024;
/** NSM limit for `nonce` (reference §1.2). */
const MAX_NONCE_BYTES = 1024;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function hasLoneSurrogate(s: string): boolean {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

/** Reads an object with exactly `required` keys plus any of `optional`; nothing else. */
/** `claims.tool.source`: the image's source commit (see enclave-app/source.ts). */
const SOURCE_REVISION = /^[0-9a-f]{40}(\+dirty)?$/;

function object(v: unknown, path: string, required: readonly string[], optional: readonly string[] = []): Record<string, unknown> {
  if (!isPlainObject(v)) throw malformed(path, 'must be a JSON object');
  for (const k of Object.keys(v)) {
    if (!required.includes(k) && !optional.includes(k)) throw malformed(`${path}.${k}`, 'unknown field (receipt v1 allows no extra fields)');
  }
  for (const k of required) if (!Object.hasOwn(v, k)) throw malformed(`${path}.${k}`, 'missing');
  return v;
}

function string(v: unknown, path: string, opts: { nonEmpty?: boolean; pattern?: RegExp; what?: string; maxLength?: number } = {}): string {
  if (typeof v !== 'string') throw malformed(path, 'must be a string');
  const max = opts.maxLength ?? MAX_STRING;
  if (v.length > max) throw malformed(path, `longer than ${max} characters`);
  if (hasLoneSurrogate(v)) throw malformed(path, 'contains a lone UTF-16 surrogate (not canonicalisable)');
  if (opts.nonEmpty && v.length === 0) throw malformed(path, 'must not be empty');
  if (opts.pattern && !opts.pattern.test(v)) throw malformed(path, `must be ${opts.what ?? `a string matching ${opts.pattern}`}`);
  return v;
}

function nullable<T>(v: unknown, path: string, read: (v: unknown, path: string) => T): T | null {
  return v === null ? null : read(v, path);
}

function array<T>(v: unknown, path: string, read: (v: unknown, path: string) => T, max = 10_000): T[] {
  if (!Array.isArray(v)) throw malformed(path, 'must be a JSON array');
  if (v.length > max) throw malformed(path, `has more than ${max} entries`);
  return v.map((e, i) => read(e, `${path}[${i}]`));
}

function sortedUnique(values: readonly string[], path: string): void {
  for (let i = 1; i < values.length; i++) {
    if (!(values[i - 1]! < values[i]!)) throw malformed(path, 'must be sorted and without duplicates');
  }
}

function isoTime(v: unknown, path: string): string {
  const s = string(v, path, { pattern: ISO_UTC_MS, what: 'an ISO-8601 UTC time with milliseconds (e.g. 2026-03-22T10:00:00.000Z)' });
  const d = new Date(s);
  if (Number.isNaN(d.getTime()) || d.toISOString() !== s) throw malformed(path, 'is not a real calendar time');
  return s;
}

function base64(v: unknown, path: string, maxBytes: number): string {
  const s = string(v, path, { nonEmpty: true, maxLength: Math.ceil(maxBytes / 3) * 4 });
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0 || Buffer.from(s, 'base64').toString('base64') !== s) {
    throw malformed(path, 'must be canonical base64 (RFC 4648, padded)');
  }
  return s;
}

function lowerHex(v: unknown, path: string, maxBytes: number): string {
  const s = string(v, path, { nonEmpty: true });
  if (!/^(?:[0-9a-f]{2})+$/.test(s)) throw malformed(path, 'must be lower-case hex with an even number of digits');
  if (s.length / 2 > maxBytes) throw malformed(path, `is longer than ${maxBytes} bytes`);
  return s;
}

/** A repo-relative POSIX path: no leading slash, no `.`/`..`/empty segments, no backslashes or control characters. */
function repoPath(v: unknown, path: string): string {
  const s = string(v, path, { nonEmpty: true });
  const segments = s.split('/');
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (s.includes('\\') || /[\u0000-\u001f\u007f]/.test(s) || segments.some((seg) => seg === '' || seg === '.' || seg === '..')) {
    throw malformed(path, 'must be a repo-relative POSIX path (no leading "/", no ".", "..", empty segments, "\\" or control characters)');
  }
  return s;
}

const kmsArn = (v: unknown, path: string): string =>
  string(v, path, { pattern: KMS_ARN, what: 'an AWS KMS key or alias ARN' });

// ---------------------------------------------------------------------------------------------
// The v1 schema, one reader per object of receipt-types.ts.

function readRequest(v: unknown, p: string): ReceiptRequest {
  const o = object(v, p, ['identity', 'environment', 'commit', 'repository', 'nonce', 'requestedBy']);
  return {
    identity: string(o.identity, `${p}.identity`, { nonEmpty: true }),
    environment: string(o.environment, `${p}.environment`, { nonEmpty: true }),
    commit: string(o.commit, `${p}.commit`, { pattern: GIT_OBJECT_ID, what: 'a full lower-case git commit id (40 hex)' }),
    repository: string(o.repository, `${p}.repository`),
    nonce: lowerHex(o.nonce, `${p}.nonce`, MAX_NONCE_BYTES),
    requestedBy: string(o.requestedBy, `${p}.requestedBy`),
  };
}

function readInput(v: unknown, p: string): ReceiptInput {
  const o = object(v, p, ['path', 'role', 'sha256', 'gitBlobId'], ['sopsLastModified', 'namespace']);
  if (o.role !== 'manifest' && o.role !== 'sops') throw malformed(`${p}.role`, 'must be "manifest" or "sops"');
  const input: ReceiptInput = {
    path: repoPath(o.path, `${p}.path`),
    role: o.role,
    sha256: string(o.sha256, `${p}.sha256`, { pattern: HEX_SHA256, what: 'lower-case hex SHA-256 (64 characters)' }),
    gitBlobId: string(o.gitBlobId, `${p}.gitBlobId`, { pattern: GIT_OBJECT_ID, what: 'a lower-case git blob id' }),
  };
  if (o.role === 'manifest') {
    if (Object.hasOwn(o, 'sopsLastModified')) throw malformed(`${p}.sopsLastModified`, 'only sops inputs carry it');
    if (Object.hasOwn(o, 'namespace')) throw malformed(`${p}.namespace`, 'only sops inputs carry it');
    return input;
  }
  if (Object.hasOwn(o, 'sopsLastModified')) input.sopsLastModified = string(o.sopsLastModified, `${p}.sopsLastModified`, { nonEmpty: true });
  if (Object.hasOwn(o, 'namespace')) input.namespace = string(o.namespace, `${p}.namespace`, { nonEmpty: true });
  return input;
}

function readInputs(v: unknown, p: string): ReceiptInput[] {
  const inputs = array(v, p, readInput);
  const seen = new Set<string>();
  inputs.forEach((input, i) => {
    if (seen.has(input.path)) throw malformed(`${p}[${i}].path`, `duplicate input path ${JSON.stringify(input.path)}`);
    seen.add(input.path);
  });
  if (inputs.filter((i) => i.role === 'manifest').length !== 1) {
    throw malformed(p, 'must list exactly one input with role "manifest" (clef.yaml)');
  }
  return inputs;
}

function readKeys(v: unknown, p: string): ReceiptKeys {
  const o = object(v, p, ['source', 'wrap', 'ageRecipients', 'sign', 'seal', 'signingPublicKey']);
  const source = array(o.source, `${p}.source`, kmsArn);
  sortedUnique(source, `${p}.source`);
  const ageRecipients = array(o.ageRecipients, `${p}.ageRecipients`, (e, ep) =>
    string(e, ep, { pattern: AGE_RECIPIENT, what: 'an age X25519 recipient (age1…)' }),
  );
  return {
    source,
    wrap: nullable(o.wrap, `${p}.wrap`, kmsArn),
    ageRecipients,
    sign: nullable(o.sign, `${p}.sign`, kmsArn),
    seal: nullable(o.seal, `${p}.seal`, kmsArn),
    signingPublicKey: nullable(o.signingPublicKey, `${p}.signingPublicKey`, (e, ep) => base64(e, ep, 4096)),
  };
}

function readArtifact(v: unknown, p: string): ReceiptArtifact {
  const o = object(v, p, ['sha256', 'revision', 'ciphertextHash', 'keyCount', 'namespaces', 'signatureAlgorithm']);
  const keyCount = o.keyCount;
  if (typeof keyCount !== 'number' || !Number.isSafeInteger(keyCount) || keyCount < 0) {
    throw malformed(`${p}.keyCount`, 'must be a non-negative whole number');
  }
  const namespaces = array(o.namespaces, `${p}.namespaces`, (e, ep) => string(e, ep, { nonEmpty: true }));
  if (new Set(namespaces).size !== namespaces.length) throw malformed(`${p}.namespaces`, 'must not repeat a namespace');
  const alg = o.signatureAlgorithm;
  if (alg !== null && alg !== 'Ed25519' && alg !== 'ECDSA_SHA256') {
    throw malformed(`${p}.signatureAlgorithm`, 'must be "Ed25519", "ECDSA_SHA256" or null');
  }
  return {
    sha256: string(o.sha256, `${p}.sha256`, { pattern: HEX_SHA256, what: 'lower-case hex SHA-256 (64 characters)' }),
    revision: string(o.revision, `${p}.revision`, { nonEmpty: true }),
    ciphertextHash: string(o.ciphertextHash, `${p}.ciphertextHash`, { pattern: HEX_SHA256, what: 'lower-case hex SHA-256 (64 characters)' }),
    keyCount,
    namespaces,
    signatureAlgorithm: alg,
  };
}

function readClaims(v: unknown, p: string): ReceiptClaims {
  const o = object(v, p, ['type', 'request', 'inputs', 'keys', 'artifact', 'tool', 'time']);
  if (o.type !== 'attested-pack/receipt-claims/v1') throw malformed(`${p}.type`, 'must be "attested-pack/receipt-claims/v1"');
  const tool = object(o.tool, `${p}.tool`, ['name', 'version'], ['source']);
  if (tool.name !== 'attested-pack') throw malformed(`${p}.tool.name`, 'must be "attested-pack"');
  return {
    type: o.type,
    request: readRequest(o.request, `${p}.request`),
    inputs: readInputs(o.inputs, `${p}.inputs`),
    keys: readKeys(o.keys, `${p}.keys`),
    artifact: readArtifact(o.artifact, `${p}.artifact`),
    tool: {
      name: 'attested-pack',
      version: string(tool.version, `${p}.tool.version`, { nonEmpty: true }),
      ...(Object.hasOwn(tool, 'source') ? { source: string(tool.source, `${p}.tool.source`, { pattern: SOURCE_REVISION, what: 'a 40-hex commit, optionally followed by +dirty' }) } : {}),
    },
    time: isoTime(o.time, `${p}.time`),
  };
}

/**
 * Validates receipt claims against the v1 schema (exact fields, types, formats) and returns a
 * fresh copy holding only schema fields, so no unbound property can ride along.
 */
export function parseReceiptClaims(value: unknown): ReceiptClaims {
  return readClaims(value, '$.claims');
}

/**
 * Parses a receipt (JSON text or an already-parsed value) strictly: duplicate keys, unknown
 * fields, wrong types or formats throw RECEIPT_MALFORMED naming the JSON path; another
 * `receiptVersion` throws RECEIPT_VERSION.
 */
export function parseReceipt(input: string | unknown): Receipt {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      throw new ReceiptError('RECEIPT_MALFORMED', 'receipt $: not valid JSON', {
        details: { path: '$' },
        hint: 'pass the receipt.json exactly as the pack step wrote it',
      });
    }
    assertNoDuplicateKeys(input);
  }
  if (isPlainObject(value) && Object.hasOwn(value, 'receiptVersion') && value.receiptVersion !== 1) {
    throw new ReceiptError('RECEIPT_VERSION', `receipt version ${JSON.stringify(value.receiptVersion)} is not supported (this verifier reads version 1)`, {
      details: { path: '$.receiptVersion' },
      hint: 'use the verify-receipt release that matches the attested-pack version that made the receipt',
    });
  }
  const o = object(value, '$', ['receiptVersion', 'claims', 'attestation']);
  return {
    receiptVersion: 1,
    claims: readClaims(o.claims, '$.claims'),
    attestation: base64(o.attestation, '$.attestation', MAX_ATTESTATION_BYTES),
  };
}

// ---------------------------------------------------------------------------------------------
// Canonical form and digest

/**
 * The exact bytes the enclave attests: RFC 8785 (JCS) canonical JSON of the claims, UTF-8.
 * The claims are schema-checked first, so the bytes never cover anything the format lacks.
 */
export function canonicalClaims(claims: ReceiptClaims): Uint8Array {
  const clean = parseReceiptClaims(claims);
  let text: string | undefined;
  try {
    text = canonicalize(clean);
  } catch (err) {
    throw new ReceiptError('RECEIPT_MALFORMED', 'receipt claims cannot be canonicalised (RFC 8785)', {
      details: { path: '$.claims' },
      cause: err,
    });
  }
  if (text === undefined) throw malformed('$.claims', 'cannot be canonicalised (RFC 8785)');
  return new Uint8Array(Buffer.from(text, 'utf8'));
}

/** SHA-384 of the canonical claims: the value the attestation document's `user_data` must hold. */
export function claimsDigest(claims: ReceiptClaims): Uint8Array {
  return new Uint8Array(createHash('sha384').update(canonicalClaims(claims)).digest());
}

// ---------------------------------------------------------------------------------------------
// Building (enclave side)

/**
 * Assembles a receipt from its claims and the attestation document whose `user_data` is
 * `claimsDigest(claims)` and whose `nonce` is the claims' nonce. Does not verify the document
 * (the enclave has just asked the NSM for it); callers that want that run `verifyReceipt`.
 */
export function buildReceipt(claims: ReceiptClaims, attestationDocument: Uint8Array): Receipt {
  if (attestationDocument.byteLength === 0 || attestationDocument.byteLength > MAX_ATTESTATION_BYTES) {
    throw malformed('$.attestation', `the attestation document must be 1..${MAX_ATTESTATION_BYTES} bytes`);
  }
  return {
    receiptVersion: 1,
    claims: parseReceiptClaims(claims),
    attestation: Buffer.from(attestationDocument.buffer, attestationDocument.byteOffset, attestationDocument.byteLength).toString('base64'),
  };
}

/** The receipt file's text: pretty JSON with a trailing newline (any JSON whitespace verifies). */
export function serializeReceipt(receipt: Receipt): string {
  return JSON.stringify(receipt, null, 2) + '\n';
}

/** The attestation document bytes carried by a (parsed) receipt. */
export function receiptAttestationBytes(receipt: Receipt): Uint8Array {
  return new Uint8Array(Buffer.from(receipt.attestation, 'base64'));
}

// ---------------------------------------------------------------------------------------------
// Verification (auditor side): named steps, each returns what the next needs or throws.

/** What `verifyReceipt` needs: the attestation policy, minus what the receipt itself binds. */
export interface ReceiptVerifyOptions extends Omit<VerifyAttestationOptions, 'at' | 'expectedUserData' | 'expectedNonce'> {
  /**
   * When the certificate chain must be valid: a time, or 'document' for the document's own
   * signed timestamp (so archived receipts stay verifiable after the 3-hour leaf expires).
   */
  at: Date | number | 'document';
  /**
   * The clock freshness (`maxAgeMs`, future timestamps) is measured against when `at` is
   * 'document'; defaults to the system clock. Ignored otherwise (then `at` is the clock).
   */
  now?: Date | number;
  /** The nonce the caller issued (hex or bytes): must equal the claims' and the document's nonce. */
  expectedNonce?: string | Uint8Array;
}

/** A receipt whose attestation document verified and binds its claims. */
export interface ReceiptVerification {
  receipt: Receipt;
  claims: ReceiptClaims;
  attestation: VerifiedAttestation;
  /** Lower-case hex SHA-384(JCS(claims)), equal to the document's user_data. */
  claimsDigest: string;
  /** The time the chain was verified at (epoch ms). */
  verifiedAt: number;
}

/**
 * Verifies a receipt: strict parse, the attestation document against the trust roots and
 * policy in `options`, then the binding — user_data = SHA-384(JCS(claims)) and nonce =
 * claims.request.nonce (= `expectedNonce` when given). Throws ReceiptError or AttestationError.
 */
export async function verifyReceipt(receipt: Receipt | string | unknown, options: ReceiptVerifyOptions): Promise<ReceiptVerification> {
  const parsed = parseReceipt(receipt);
  const document = receiptAttestationBytes(parsed);
  const { at, now, expectedNonce, ...policy } = options;
  const chainTime = at === 'document' ? receiptDocumentTimestamp(parsed) : at;
  const attestation = await verifyAttestationDocument(document, {
    ...policy,
    at: chainTime,
    // At document time, freshness is a question about the auditor's clock: asked below.
    ...(at === 'document' ? { maxAgeMs: undefined } : {}),
  });
  if (at === 'document') checkReceiptFreshness(attestation.timestamp, now ?? Date.now(), options.maxAgeMs, options.futureSkewMs);
  const digest = checkClaimsBinding(parsed.claims, attestation);
  checkNonceBinding(parsed.claims, attestation, expectedNonce);
  const verifiedAt = chainTime instanceof Date ? chainTime.getTime() : chainTime;
  return { receipt: parsed, claims: parsed.claims, attestation, claimsDigest: digest, verifiedAt };
}

/**
 * The signed `timestamp` (epoch ms) of a receipt's attestation document, read without
 * verifying anything: only for choosing the time the chain is then verified at.
 */
export function receiptDocumentTimestamp(receipt: Receipt): number {
  const cose = decodeCoseSign1(receiptAttestationBytes(receipt));
  return parseAttestationPayload(cose.payload).timestamp;
}

/**
 * Step: the document is no older than `maxAgeMs` and not from the future, measured on the
 * auditor's clock `now`. Throws ATTESTATION_STALE / ATTESTATION_FUTURE_TIMESTAMP.
 */
export function checkReceiptFreshness(timestamp: number, now: Date | number, maxAgeMs?: number, futureSkewMs = 60_000): void {
  const clock = now instanceof Date ? now.getTime() : now;
  if (timestamp > clock + futureSkewMs) {
    throw new AttestationError(
      'ATTESTATION_FUTURE_TIMESTAMP',
      `document timestamp ${new Date(timestamp).toISOString()} is after the verification clock ${new Date(clock).toISOString()}`,
      { hint: 'check the verifier clock or --at', details: { timestamp, now: clock } },
    );
  }
  if (maxAgeMs !== undefined && clock - timestamp > maxAgeMs) {
    throw new AttestationError(
      'ATTESTATION_STALE',
      `receipt was attested at ${new Date(timestamp).toISOString()}, ${clock - timestamp} ms before ${new Date(clock).toISOString()}: more than the ${maxAgeMs} ms allowed`,
      { hint: 'ask for a fresh pack, or raise --max-age if an older receipt is acceptable', details: { timestamp, now: clock, maxAgeMs } },
    );
  }
}

/**
 * Step: the document's user_data is SHA-384(JCS(claims)). Returns that digest (hex) or throws
 * RECEIPT_BINDING_MISMATCH with both values.
 */
export function checkClaimsBinding(claims: ReceiptClaims, attestation: Pick<VerifiedAttestation, 'userData'>): string {
  const digest = claimsDigest(claims);
  const expected = toHex(digest);
  if (attestation.userData === null) {
    throw new ReceiptError('RECEIPT_BINDING_MISMATCH', 'the attestation document carries no user_data, so it binds no claims', {
      details: { expected, actual: null },
      hint: 'this document was not made for this receipt',
    });
  }
  if (!bytesEqual(attestation.userData, digest)) {
    throw new ReceiptError(
      'RECEIPT_BINDING_MISMATCH',
      `user_data ${toHex(attestation.userData).slice(0, 16)}… is not SHA-384(JCS(claims)) ${expected.slice(0, 16)}…: the claims were changed or the document belongs to another receipt`,
      { details: { expected, actual: toHex(attestation.userData) }, hint: 'receipts must not be edited; ask for the original receipt' },
    );
  }
  return expected;
}

/**
 * Step: the document's nonce equals the claims' nonce and, when given, the caller's nonce.
 * Throws RECEIPT_NONCE_MISMATCH.
 */
export function checkNonceBinding(
  claims: ReceiptClaims,
  attestation: Pick<VerifiedAttestation, 'nonce'>,
  expectedNonce?: string | Uint8Array,
): void {
  const claimed = fromHex(claims.request.nonce)!;
  const actual = attestation.nonce;
  if (actual === null || !bytesEqual(actual, claimed)) {
    throw new ReceiptError(
      'RECEIPT_NONCE_MISMATCH',
      actual === null
        ? 'the attestation document carries no nonce, but the claims name one'
        : `document nonce ${toHex(actual).slice(0, 16)}… differs from claims.request.nonce ${claims.request.nonce.slice(0, 16)}…`,
      { details: { claims: claims.request.nonce, document: actual === null ? null : toHex(actual) } },
    );
  }
  if (expectedNonce === undefined) return;
  const want = typeof expectedNonce === 'string' ? fromHex(normalizeHex(expectedNonce)) : expectedNonce;
  if (want === undefined) {
    throw new ReceiptError('RECEIPT_MALFORMED', 'the expected nonce is not hex', { category: 'input', details: { path: 'expectedNonce' } });
  }
  if (!bytesEqual(want, claimed)) {
    throw new ReceiptError(
      'RECEIPT_NONCE_MISMATCH',
      `receipt nonce ${claims.request.nonce.slice(0, 16)}… is not the expected nonce ${toHex(want).slice(0, 16)}…: this receipt answers another request`,
      { details: { expected: toHex(want), claims: claims.request.nonce }, hint: 'a receipt for your request carries the nonce you sent' },
    );
  }
}
