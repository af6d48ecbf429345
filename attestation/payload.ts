/**
 * The attestation document payload (NSMDOC §2.2 CDDL, checks §3.2.2): a CBOR map with text
 * keys. Parsing is strict about types and sizes and treats CBOR `null` as "absent" for the
 * optional fields, because every genuine document sends `null` rather than omitting them.
 * Encoding reproduces the genuine byte layout (key order, `null`s, uint64 timestamp).
 */
import { AttestationError } from './errors.js';
import { CborError, CborMap, CborUint, decodeCbor, encodeCbor, type CborValue } from './cbor.js';

/** The digest algorithm of every PCR in a Nitro document. */
export const NSM_DIGEST = 'SHA384';
/** Length of a SHA-384 PCR value. */
export const PCR_BYTES = 48;
/** Size limits (reference §1.2 recommendations; NSMDOC CDDL). */
export const PAYLOAD_LIMITS = Object.freeze({
  userData: 1024,
  nonce: 1024,
  publicKey: 1024,
  certificate: 1024,
  maxPcrs: 32,
});

/** The fields of an attestation document payload, decoded but not yet verified. */
export interface AttestationPayload {
  moduleId: string;
  digest: 'SHA384';
  /** Milliseconds since the Unix epoch (UTC). */
  timestamp: number;
  /** PCR index → 48-byte value, in the document's order. */
  pcrs: Map<number, Uint8Array>;
  /** The leaf certificate (DER). */
  certificate: Uint8Array;
  /** CA certificates, root first (DER). */
  cabundle: Uint8Array[];
  publicKey: Uint8Array | null;
  userData: Uint8Array | null;
  nonce: Uint8Array | null;
}

const KNOWN_KEYS = ['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle', 'public_key', 'user_data', 'nonce'];

function bad(message: string, details?: Record<string, unknown>): never {
  throw new AttestationError('ATTESTATION_BAD_PAYLOAD', `attestation payload: ${message}`, details ? { details } : {});
}

/**
 * Decodes and validates the payload bytes (checklist 9–14). Unknown text keys are tolerated
 * (they are signed and cannot change the meaning of the known ones); non-text keys are not.
 */
export function parseAttestationPayload(bytes: Uint8Array): AttestationPayload {
  let item: CborValue;
  try {
    item = decodeCbor(bytes);
  } catch (err) {
    const why = err instanceof CborError ? err.message : 'undecodable';
    throw new AttestationError('ATTESTATION_BAD_PAYLOAD', `attestation payload is not valid CBOR: ${why}`, { cause: err });
  }
  if (!(item instanceof CborMap)) bad('must be a map');
  for (const [k] of item.entries) {
    if (typeof k !== 'string') bad('keys must be text strings');
  }
  const required = (key: string): CborValue => {
    const v = item.get(key);
    if (v === undefined) bad(`missing required field "${key}"`, { field: key });
    if (v === null) bad(`required field "${key}" is null`, { field: key });
    return v;
  };
  const optionalBytes = (key: string, min: number, max: number): Uint8Array | null => {
    const v = item.get(key);
    if (v === undefined || v === null) return null;
    if (!(v instanceof Uint8Array)) bad(`"${key}" must be a byte string or null`, { field: key });
    if (v.length < min || v.length > max) bad(`"${key}" must be ${min}..${max} bytes, got ${v.length}`, { field: key });
    return v;
  };

  const moduleId = required('module_id');
  if (typeof moduleId !== 'string' || moduleId.length === 0) bad('"module_id" must be a non-empty text string');

  const digest = required('digest');
  if (digest !== NSM_DIGEST) bad(`"digest" must be "${NSM_DIGEST}"`, { field: 'digest' });

  const ts = required('timestamp');
  if (typeof ts !== 'bigint') bad('"timestamp" must be an unsigned integer', { field: 'timestamp' });
  if (ts <= 0n || ts > BigInt(Number.MAX_SAFE_INTEGER)) bad('"timestamp" must be a positive millisecond count');

  const pcrsItem = required('pcrs');
  if (!(pcrsItem instanceof CborMap)) bad('"pcrs" must be a map');
  if (pcrsItem.size < 1 || pcrsItem.size > PAYLOAD_LIMITS.maxPcrs) {
    bad(`"pcrs" must hold 1..${PAYLOAD_LIMITS.maxPcrs} entries, got ${pcrsItem.size}`);
  }
  const pcrs = new Map<number, Uint8Array>();
  for (const [k, v] of pcrsItem.entries) {
    if (typeof k !== 'bigint' || k < 0n || k >= 32n) bad('"pcrs" keys must be integers 0..31');
    if (!(v instanceof Uint8Array) || v.length !== PCR_BYTES) {
      bad(`PCR${k} must be a ${PCR_BYTES}-byte string (SHA384)`, { pcr: Number(k) });
    }
    pcrs.set(Number(k), v);
  }

  const certificate = required('certificate');
  if (!(certificate instanceof Uint8Array) || certificate.length < 1 || certificate.length > PAYLOAD_LIMITS.certificate) {
    bad(`"certificate" must be a byte string of 1..${PAYLOAD_LIMITS.certificate} bytes`);
  }

  const bundle = required('cabundle');
  if (!Array.isArray(bundle) || bundle.length === 0) bad('"cabundle" must be a non-empty array');
  const cabundle = bundle.map((c, i) => {
    if (!(c instanceof Uint8Array) || c.length < 1 || c.length > PAYLOAD_LIMITS.certificate) {
      bad(`"cabundle"[${i}] must be a byte string of 1..${PAYLOAD_LIMITS.certificate} bytes`);
    }
    return c;
  });

  return {
    moduleId,
    digest: NSM_DIGEST,
    timestamp: Number(ts),
    pcrs,
    certificate,
    cabundle,
    publicKey: optionalBytes('public_key', 1, PAYLOAD_LIMITS.publicKey),
    userData: optionalBytes('user_data', 0, PAYLOAD_LIMITS.userData),
    nonce: optionalBytes('nonce', 0, PAYLOAD_LIMITS.nonce),
  };
}

/** Keys of an attestation payload in the order genuine documents use. */
export const PAYLOAD_KEY_ORDER: readonly string[] = Object.freeze([...KNOWN_KEYS]);

/**
 * Encodes payload fields exactly as the NSM does: 9-entry map in the genuine key order,
 * `timestamp` as an 8-byte uint64, PCRs in ascending index order, `null` for absent fields.
 */
export function encodeAttestationPayload(p: AttestationPayload): Uint8Array {
  const pcrEntries = [...p.pcrs.entries()].sort((a, b) => a[0] - b[0]).map(([i, v]) => [BigInt(i), v] as const);
  return encodeCbor(
    new CborMap([
      ['module_id', p.moduleId],
      ['digest', p.digest],
      ['timestamp', new CborUint(BigInt(p.timestamp), 8)],
      ['pcrs', new CborMap(pcrEntries)],
      ['certificate', p.certificate],
      ['cabundle', p.cabundle],
      ['public_key', p.publicKey],
      ['user_data', p.userData],
      ['nonce', p.nonce],
    ]),
  );
}
