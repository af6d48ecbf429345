/**
 * COSE_Sign1 (RFC 8152 §4.2) as the Nitro Secure Module emits it: decoding that keeps the
 * `protected` and `payload` byte strings exactly as received (the signature covers those
 * bytes, never a re-encoding), the Sig_structure, and encoding for the simulated NSM.
 */
import { AttestationError } from './errors.js';
import { CborError, CborMap, CborTagged, decodeCbor, encodeCbor, encodeHead, type CborValue } from './cbor.js';

/** COSE algorithm identifier of ECDSA P-384 with SHA-384 (ES384). */
export const COSE_ALG_ES384 = -35n;
/** The CBOR tag that may mark a COSE_Sign1 (RFC 8152 §2). */
export const COSE_SIGN1_TAG = 18n;
/** The protected header of every genuine document: bstr-wrapped `{1: -35}` (`a1 01 38 22`). */
export const NSM_PROTECTED_HEADER: Uint8Array = Uint8Array.of(0xa1, 0x01, 0x38, 0x22);
/** Documents larger than the largest `AttestationDocument` KMS accepts are refused unread. */
export const MAX_DOCUMENT_BYTES = 262_144;
/** NSMDOC §3.1: the payload is 1..16384 bytes. */
export const MAX_PAYLOAD_BYTES = 16_384;
/** Raw ES384 signature length: r‖s, 48 bytes each. */
export const ES384_SIGNATURE_BYTES = 96;

/** A decoded COSE_Sign1 with its signed byte strings kept verbatim. */
export interface CoseSign1 {
  /** True when the item carried tag 18. */
  tagged: boolean;
  /** The protected header bstr content, exactly as received. */
  protectedBytes: Uint8Array;
  unprotected: CborMap;
  /** The payload bstr content, exactly as received. */
  payload: Uint8Array;
  /** The signature bstr content (should be 96 bytes of raw r‖s). */
  signature: Uint8Array;
}

/**
 * Decodes the COSE_Sign1 envelope. Checks the shape only (checklist 1–4); the protected
 * header is checked by `checkProtectedHeader`, the signature format by `checkSignatureFormat`.
 */
export function decodeCoseSign1(bytes: Uint8Array): CoseSign1 {
  if (!(bytes instanceof Uint8Array)) {
    throw new AttestationError('ATTESTATION_MALFORMED_CBOR', 'attestation document must be bytes');
  }
  if (bytes.length > MAX_DOCUMENT_BYTES) {
    throw new AttestationError(
      'ATTESTATION_MALFORMED_CBOR',
      `attestation document is ${bytes.length} bytes, more than the ${MAX_DOCUMENT_BYTES} accepted`,
    );
  }
  let item: CborValue;
  try {
    item = decodeCbor(bytes);
  } catch (err) {
    throw new AttestationError('ATTESTATION_MALFORMED_CBOR', `attestation document is not valid CBOR: ${cborReason(err)}`, {
      hint: 'pass the raw COSE_Sign1 bytes (or their base64) exactly as the NSM returned them',
      cause: err,
    });
  }
  let tagged = false;
  if (item instanceof CborTagged) {
    if (item.tag !== COSE_SIGN1_TAG) {
      throw new AttestationError('ATTESTATION_BAD_TAG', `CBOR tag ${item.tag} is not COSE_Sign1 (untagged or tag 18)`);
    }
    tagged = true;
    item = item.value;
    if (item instanceof CborTagged) {
      throw new AttestationError('ATTESTATION_BAD_TAG', 'COSE_Sign1 carries a second, nested tag');
    }
  }
  if (!Array.isArray(item) || item.length !== 4) {
    throw new AttestationError('ATTESTATION_BAD_COSE_STRUCTURE', 'COSE_Sign1 must be an array of 4 elements');
  }
  const [protectedItem, unprotected, payload, signature] = item;
  if (!(protectedItem instanceof Uint8Array)) {
    throw new AttestationError('ATTESTATION_BAD_PROTECTED_HEADER', 'COSE protected header must be a byte string');
  }
  if (!(unprotected instanceof CborMap)) {
    throw new AttestationError('ATTESTATION_BAD_COSE_STRUCTURE', 'COSE unprotected header must be a map');
  }
  if (payload === null) {
    throw new AttestationError('ATTESTATION_BAD_COSE_STRUCTURE', 'COSE payload is detached (nil); documents carry it inline');
  }
  if (!(payload instanceof Uint8Array)) {
    throw new AttestationError('ATTESTATION_BAD_COSE_STRUCTURE', 'COSE payload must be a byte string');
  }
  if (payload.length === 0 || payload.length > MAX_PAYLOAD_BYTES) {
    throw new AttestationError(
      'ATTESTATION_BAD_COSE_STRUCTURE',
      `COSE payload must be 1..${MAX_PAYLOAD_BYTES} bytes, got ${payload.length}`,
    );
  }
  if (!(signature instanceof Uint8Array)) {
    throw new AttestationError('ATTESTATION_BAD_COSE_STRUCTURE', 'COSE signature must be a byte string');
  }
  return { tagged, protectedBytes: protectedItem, unprotected, payload, signature };
}

/**
 * Requires the protected header to be a non-empty map whose `alg` (label 1) is ES384 (-35),
 * with no `crit` (label 2) we would have to understand, and no `alg` in the unprotected map.
 */
export function checkProtectedHeader(cose: CoseSign1): void {
  const fail = (why: string): never => {
    throw new AttestationError('ATTESTATION_BAD_PROTECTED_HEADER', `COSE protected header ${why}`);
  };
  if (cose.protectedBytes.length === 0) fail('is empty (alg must be protected)');
  let header: CborValue;
  try {
    header = decodeCbor(cose.protectedBytes);
  } catch (err) {
    return fail(`is not valid CBOR: ${cborReason(err)}`);
  }
  if (!(header instanceof CborMap)) return fail('is not a map');
  for (const [k] of header.entries) {
    if (typeof k !== 'bigint' && typeof k !== 'string') fail('has a label that is neither an integer nor text');
  }
  const alg = header.get(1n);
  if (alg === undefined) fail('has no alg (label 1)');
  if (alg !== COSE_ALG_ES384) fail(`alg is ${describe(alg)}, not ES384 (-35)`);
  if (header.has(2n)) fail('lists critical parameters (label 2) this verifier does not understand');
  if (cose.unprotected.has(1n)) fail('alg also appears in the unprotected header');
}

/** Builds the RFC 8152 §4.4 Sig_structure `["Signature1", protected, h'', payload]`. */
export function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array): Uint8Array {
  return encodeCbor(['Signature1', protectedBytes, new Uint8Array(0), payload]);
}

/**
 * Encodes a COSE_Sign1 in the genuine NSM layout: untagged array, the given protected bstr,
 * empty unprotected map, payload bstr, signature bstr. `tag18` prefixes tag 18.
 */
export function encodeCoseSign1(parts: {
  protectedBytes: Uint8Array;
  payload: Uint8Array;
  signature: Uint8Array;
  tag18?: boolean;
  unprotected?: CborMap;
}): Uint8Array {
  const body = encodeCbor([parts.protectedBytes, parts.unprotected ?? new CborMap([]), parts.payload, parts.signature]);
  return parts.tag18 ? Buffer.concat([encodeHead(6, COSE_SIGN1_TAG), body]) : body;
}

function describe(v: CborValue | undefined): string {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return JSON.stringify(v);
  return v === null ? 'null' : typeof v;
}

function cborReason(err: unknown): string {
  return err instanceof CborError ? err.message : 'undecodable';
}
