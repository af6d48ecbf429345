/**
 * `verifyAttestationDocument`: decides whether bytes are a genuine, fresh Nitro attestation
 * document that matches the caller's policy. It reads as the list of steps it performs, in
 * order; each step returns what the next needs or throws an AttestationError with a stable code.
 * Trust material (roots) and the clock are injected; policy (PCRs, nonce, …) is kept apart.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { bytesEqual, toHex } from '../common/bytes.js';
import { AttestationError } from './errors.js';
import { checkProtectedHeader, decodeCoseSign1 } from './cose.js';
import { checkSignatureFormat, verifyEs384 } from './es384.js';
import { parseAttestationPayload, type AttestationPayload } from './payload.js';
import { buildChain, checkAlgorithms, checkLinks, checkProfiles, checkValidity, selectTrustedRoot, type ChainEntry } from './chain.js';
import { isDebugMode, isZeroPcr, normalizePcrHex } from './pcr.js';
import { trustedRootFromDer, type TrustedRoot } from './roots.js';
import type { SingleUseNonces } from './nonces.js';

/** What the caller trusts and requires. `trustedRoots`, `at` and `expectedPcrs` are mandatory. */
export interface VerifyAttestationOptions {
  /**
   * Roots `cabundle[0]` may equal: `[awsNitroRootG1()]`, the simulated NSM's `trustedRoot()`,
   * or raw DER (checked like `trustedRootFromDer` on every call).
   */
  trustedRoots: ReadonlyArray<TrustedRoot | Uint8Array>;
  /** Verification time: certificates must be valid then; freshness is measured from it. */
  at: Date | number;
  /** Reject documents whose `timestamp` is more than this many ms before `at`. */
  maxAgeMs?: number;
  /** Tolerated clock skew for a `timestamp` later than `at` (default 60 000 ms). */
  futureSkewMs?: number;
  /**
   * PCR index → expected hex value (any case). Required: pass 'skip' to check authenticity
   * only (the KMS simulator does, feeding the PCRs to key policies itself).
   */
  expectedPcrs: Readonly<Record<number, string>> | 'skip';
  /** Accept debug-mode documents (PCR0/1/2 all zero). Off by default. */
  allowDebug?: boolean;
  /** The nonce the document must carry. */
  expectedNonce?: Uint8Array;
  /** Single-use nonce book: the document's nonce must be outstanding; it is consumed on success. */
  nonces?: SingleUseNonces;
  /** The user_data the document must carry. */
  expectedUserData?: Uint8Array;
  /** The public_key the document must carry. */
  expectedPublicKey?: Uint8Array;
  /** Require a public_key (KMS-like flows). */
  requirePublicKey?: boolean;
  /** Require public_key to be an RSA SubjectPublicKeyInfo of at least 2048 bits (KMS recipient). */
  requireRsaPublicKey?: boolean;
}

/** What a verified document says, in the forms callers compare against. */
export interface VerifiedAttestation {
  moduleId: string;
  digest: 'SHA384';
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
  /** PCR index → lower-case hex. */
  pcrs: Map<number, string>;
  publicKey: Uint8Array | null;
  userData: Uint8Array | null;
  nonce: Uint8Array | null;
  /** The leaf certificate (DER). */
  certificate: Uint8Array;
  /** One-line subjects, leaf first, root last. */
  chainSubjects: string[];
  /** SHA-256 (hex) of the root the chain ended in. */
  rootSha256: string;
  /** PCR0, PCR1 and PCR2 are all zero (only possible when `allowDebug` was set). */
  debugMode: boolean;
}

const DEFAULT_FUTURE_SKEW_MS = 60_000;
const MIN_RSA_BITS = 2048;

interface Policy {
  roots: TrustedRoot[];
  at: number;
  maxAgeMs: number | undefined;
  futureSkewMs: number;
  expectedPcrs: Map<number, string> | 'skip';
}

/** Verifies an attestation document (COSE_Sign1 bytes) against trust roots, a clock and a policy. */
export async function verifyAttestationDocument(bytes: Uint8Array, options: VerifyAttestationOptions): Promise<VerifiedAttestation> {
  const policy = checkOptions(options);
  const cose = decodeCoseSign1(bytes);
  checkProtectedHeader(cose);
  checkSignatureFormat(cose.signature);
  const payload = parseAttestationPayload(cose.payload);
  const root = selectTrustedRoot(payload.cabundle, policy.roots);
  const chain = buildChain(payload.certificate, payload.cabundle, root);
  checkAlgorithms(chain);
  checkLinks(chain);
  checkProfiles(chain);
  checkValidity(chain, policy.at);
  checkDocumentSignature(chain[0], cose.protectedBytes, cose.payload, cose.signature);
  checkFreshness(payload.timestamp, policy);
  const pcrs = hexPcrs(payload.pcrs);
  const debugMode = checkDebugMode(pcrs, options.allowDebug === true);
  checkExpectedPcrs(pcrs, policy.expectedPcrs);
  checkNonce(payload, options);
  checkUserData(payload, options);
  checkPublicKey(payload, options);
  if (options.nonces && payload.nonce) options.nonces.consume(payload.nonce);
  return {
    moduleId: payload.moduleId,
    digest: payload.digest,
    timestamp: payload.timestamp,
    pcrs,
    publicKey: payload.publicKey,
    userData: payload.userData,
    nonce: payload.nonce,
    certificate: payload.certificate,
    chainSubjects: chain.map((c) => c.cert.subject),
    rootSha256: root.sha256,
    debugMode,
  };
}

/** Step 0: the options themselves — fail closed when the caller chose no PCR policy. */
function checkOptions(o: VerifyAttestationOptions): Policy {
  const invalid = (message: string): never => {
    throw new AttestationError('ATTESTATION_INVALID_OPTIONS', message);
  };
  if (typeof o !== 'object' || o === null) invalid('verification options are required');
  if (!Array.isArray(o.trustedRoots) || o.trustedRoots.length === 0) {
    invalid('trustedRoots must list at least one root (e.g. awsNitroRootG1())');
  }
  const roots = o.trustedRoots.map((r: TrustedRoot | Uint8Array) => {
    if (r instanceof Uint8Array) return trustedRootFromDer(r);
    if (typeof r !== 'object' || r === null || !(r.der instanceof Uint8Array) || typeof r.parsed !== 'object') {
      return invalid('trustedRoots entries must be TrustedRoot objects (awsNitroRootG1(), trustedRootFromPem()) or DER bytes');
    }
    return r;
  });
  for (const name of ['expectedNonce', 'expectedUserData', 'expectedPublicKey'] as const) {
    if (o[name] !== undefined && !(o[name] instanceof Uint8Array)) invalid(`${name} must be a Uint8Array`);
  }
  const at = o.at instanceof Date ? o.at.getTime() : o.at;
  if (typeof at !== 'number' || !Number.isFinite(at) || at <= 0) invalid('`at` (the verification time) must be a valid Date or epoch ms');
  if (o.maxAgeMs !== undefined && !(Number.isFinite(o.maxAgeMs) && o.maxAgeMs >= 0)) invalid('maxAgeMs must be a non-negative number');
  const futureSkewMs = o.futureSkewMs ?? DEFAULT_FUTURE_SKEW_MS;
  if (!(Number.isFinite(futureSkewMs) && futureSkewMs >= 0)) invalid('futureSkewMs must be a non-negative number');
  return { roots, at, maxAgeMs: o.maxAgeMs, futureSkewMs, expectedPcrs: parseExpectedPcrs(o.expectedPcrs) };
}

function parseExpectedPcrs(expected: VerifyAttestationOptions['expectedPcrs'] | undefined): Map<number, string> | 'skip' {
  if (expected === 'skip') return 'skip';
  const noPcrs = (): never => {
    throw new AttestationError('ATTESTATION_NO_EXPECTED_PCRS', 'no expected PCRs were given; refusing to treat that as a pass', {
      hint: "pass the enclave's measurements (PCR0/1/2 from measurements.json), or 'skip' to check authenticity only",
    });
  };
  if (typeof expected !== 'object' || expected === null) return noPcrs();
  const out = new Map<number, string>();
  for (const [k, v] of Object.entries(expected)) {
    const index = /^\d{1,2}$/.test(k) ? Number(k) : NaN;
    if (!(index >= 0 && index < 32)) {
      throw new AttestationError('ATTESTATION_INVALID_OPTIONS', `expected PCR index ${JSON.stringify(k)} is not 0..31`);
    }
    const hex = typeof v === 'string' ? normalizePcrHex(v) : null;
    if (hex === null) {
      throw new AttestationError('ATTESTATION_INVALID_OPTIONS', `expected PCR${index} is not 96 hex characters (SHA-384)`, {
        details: { pcr: index },
      });
    }
    out.set(index, hex);
  }
  if (out.size === 0) return noPcrs();
  return out;
}

/** Step: the COSE signature verifies with the leaf key (checklist 7, 8, 21). */
function checkDocumentSignature(leaf: ChainEntry, protectedBytes: Uint8Array, payload: Uint8Array, signature: Uint8Array): void {
  if (!verifyEs384(leaf.cert.publicKey, protectedBytes, payload, signature)) {
    throw new AttestationError('ATTESTATION_SIGNATURE_INVALID', 'COSE_Sign1 signature does not verify with the leaf certificate key', {
      hint: 'the document was altered, re-encoded, or signed by a key other than its leaf certificate',
    });
  }
}

/** Step: the document is not from the future and, if asked, not too old (checklist 18, 24). */
function checkFreshness(timestamp: number, p: Policy): void {
  if (timestamp > p.at + p.futureSkewMs) {
    throw new AttestationError(
      'ATTESTATION_FUTURE_TIMESTAMP',
      `document timestamp ${new Date(timestamp).toISOString()} is after the verification time ${new Date(p.at).toISOString()}`,
      { hint: 'check the verifier clock or --at', details: { timestamp, at: p.at } },
    );
  }
  if (p.maxAgeMs !== undefined && p.at - timestamp > p.maxAgeMs) {
    throw new AttestationError('ATTESTATION_STALE', `document is ${p.at - timestamp} ms old, more than the ${p.maxAgeMs} ms allowed`, {
      hint: 'request a fresh attestation document',
      details: { timestamp, at: p.at, maxAgeMs: p.maxAgeMs },
    });
  }
}

function hexPcrs(pcrs: Map<number, Uint8Array>): Map<number, string> {
  const out = new Map<number, string>();
  for (const [i, v] of pcrs) out.set(i, toHex(v));
  return out;
}

/**
 * Step: refuse debug enclaves (PCR0/1/2 all zero) unless allowed (checklist 23). A document
 * in which any one of PCR0/1/2 is zero or absent is refused too: no production image
 * measures to zero, so such a document attests nothing about the image.
 */
function checkDebugMode(pcrs: Map<number, string>, allowDebug: boolean): boolean {
  const debugMode = isDebugMode(pcrs);
  if (allowDebug) return debugMode;
  if (debugMode) {
    throw new AttestationError('ATTESTATION_DEBUG_MODE', 'document comes from a debug-mode enclave (PCR0/1/2 all zero)', {
      hint: 'debug enclaves can be inspected by the host; pass --allow-debug only for development',
    });
  }
  for (const i of [0, 1, 2]) {
    const v = pcrs.get(i);
    if (v === undefined || isZeroPcr(v)) {
      throw new AttestationError('ATTESTATION_DEBUG_MODE', `PCR${i} is ${v === undefined ? 'absent' : 'all zero'}; the image is not measured`, {
        details: { pcr: i },
      });
    }
  }
  return false;
}

/** Step: every expected PCR is present and equal (checklist 22). */
function checkExpectedPcrs(pcrs: Map<number, string>, expected: Map<number, string> | 'skip'): void {
  if (expected === 'skip') return;
  for (const [i, want] of expected) {
    const got = pcrs.get(i);
    if (got === undefined) {
      throw new AttestationError('ATTESTATION_PCR_MISMATCH', `PCR${i} is expected but absent from the document`, {
        details: { pcr: i, expected: want, actual: null },
      });
    }
    if (!bytesEqual(Buffer.from(got, 'hex'), Buffer.from(want, 'hex'))) {
      throw new AttestationError('ATTESTATION_PCR_MISMATCH', `PCR${i} does not match: expected ${want.slice(0, 16)}…, got ${got.slice(0, 16)}…`, {
        hint: 'the enclave runs a different image (or role/instance) than the measurements describe',
        details: { pcr: i, expected: want, actual: got },
      });
    }
  }
}

/** Step: the nonce the caller issued is the one in the document (checklist 25). */
function checkNonce(payload: AttestationPayload, o: VerifyAttestationOptions): void {
  if (o.expectedNonce !== undefined) {
    if (payload.nonce === null) throw new AttestationError('ATTESTATION_NONCE_MISMATCH', 'document has no nonce but one was issued');
    if (!bytesEqual(payload.nonce, o.expectedNonce)) {
      throw new AttestationError('ATTESTATION_NONCE_MISMATCH', 'document nonce differs from the issued nonce');
    }
  }
  if (o.nonces) {
    if (payload.nonce === null) throw new AttestationError('ATTESTATION_NONCE_MISMATCH', 'document has no nonce but one was issued');
    if (!o.nonces.isOutstanding(payload.nonce)) {
      throw new AttestationError('ATTESTATION_NONCE_REPLAYED', 'nonce was not issued here, was already used, or expired', {
        hint: 'request a fresh nonce and a new attestation document',
      });
    }
  }
}

/** Step: user_data carries what the protocol binds (checklist 26). */
function checkUserData(payload: AttestationPayload, o: VerifyAttestationOptions): void {
  if (o.expectedUserData === undefined) return;
  if (payload.userData === null) throw new AttestationError('ATTESTATION_USER_DATA_MISMATCH', 'document has no user_data but it is expected');
  if (!bytesEqual(payload.userData, o.expectedUserData)) {
    throw new AttestationError('ATTESTATION_USER_DATA_MISMATCH', 'document user_data differs from the expected value');
  }
}

/** Step: public_key present, equal, and a usable RSA recipient key when required (checklist 26). */
function checkPublicKey(payload: AttestationPayload, o: VerifyAttestationOptions): void {
  const pk = payload.publicKey;
  if ((o.requirePublicKey || o.requireRsaPublicKey || o.expectedPublicKey !== undefined) && pk === null) {
    throw new AttestationError('ATTESTATION_PUBLIC_KEY_MISSING', 'document has no public_key but one is required');
  }
  if (pk === null) return;
  if (o.expectedPublicKey !== undefined && !bytesEqual(pk, o.expectedPublicKey)) {
    throw new AttestationError('ATTESTATION_PUBLIC_KEY_MISMATCH', 'document public_key differs from the expected key');
  }
  if (o.requireRsaPublicKey) checkRsaRecipientKey(pk);
}

/** An RSA SubjectPublicKeyInfo (DER, exactly) of at least 2048 bits, as KMS requires of a recipient. */
export function checkRsaRecipientKey(spki: Uint8Array): void {
  const invalid = (why: string): never => {
    throw new AttestationError('ATTESTATION_PUBLIC_KEY_INVALID', `public_key ${why}`, {
      hint: 'KMS recipients must be RSA-2048 (or larger) keys encoded as DER SubjectPublicKeyInfo',
    });
  };
  let key;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    return invalid('is not a DER SubjectPublicKeyInfo');
  }
  if (key.asymmetricKeyType !== 'rsa') invalid(`is a ${key.asymmetricKeyType ?? 'unknown'} key, not RSA`);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) invalid(`is RSA-${bits}; at least ${MIN_RSA_BITS} bits are required`);
  const canonical = key.export({ format: 'der', type: 'spki' });
  if (!bytesEqual(canonical, spki)) invalid('is not in canonical DER form');
}

/** SHA-256 (hex) of a document's bytes, handy for logs and receipts. */
export function documentSha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
