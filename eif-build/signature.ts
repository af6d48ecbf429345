/**
 * The EIF signature section (reference eif-format.md §2.5): a CBOR array with one PcrSignature
 * `{signing_certificate: PEM bytes, signature: COSE_Sign1 bytes}` whose COSE_Sign1 (ES256/384/512,
 * untagged) signs CBOR `PcrInfo{register_index: 0, register_value: PCR0}`. Byte vectors are CBOR
 * arrays of uints, as serde writes `Vec<u8>`. PCR8 is the extend of SHA-384 of the certificate DER.
 */
import { createPrivateKey, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';
import {
  CborError,
  decodeCbor,
  encodeArray,
  encodeByteArrayAsUints,
  encodeBytes,
  encodeInt,
  encodeMap,
  encodeText,
  isCborMap,
  mapGet,
  uintArrayToBytes,
  type CborValue,
} from './cbor.js';
import { EifError } from './errors.js';
import { pcrOfBytes } from './pcr.js';

/** Largest signature section AWS tools accept (SIGNATURE_MAX_SIZE). */
export const SIGNATURE_MAX_SIZE = 32768;

/** COSE algorithm, digest and signature width for each supported curve. */
const CURVES: Record<string, { alg: number; hash: string; size: number }> = {
  prime256v1: { alg: -7, hash: 'sha256', size: 64 },
  secp384r1: { alg: -35, hash: 'sha384', size: 96 },
  secp521r1: { alg: -36, hash: 'sha512', size: 132 },
};

/** CBOR of `PcrInfo{register_index, register_value}`: the payload the COSE_Sign1 signs. */
export function encodePcrInfo(registerIndex: number, registerValue: Uint8Array): Buffer {
  return encodeMap([
    [encodeText('register_index'), encodeInt(registerIndex)],
    [encodeText('register_value'), encodeByteArrayAsUints(registerValue)],
  ]);
}

/** CBOR of the signature section: `[ {signing_certificate: [u8…], signature: [u8…]} ]`. */
export function encodeSignatureSection(certificatePem: Uint8Array, coseSign1: Uint8Array): Buffer {
  return encodeArray([
    encodeMap([
      [encodeText('signing_certificate'), encodeByteArrayAsUints(certificatePem)],
      [encodeText('signature'), encodeByteArrayAsUints(coseSign1)],
    ]),
  ]);
}

function curveOf(key: KeyObject, what: string): { alg: number; hash: string; size: number } {
  const curve = key.asymmetricKeyType === 'ec' ? key.asymmetricKeyDetails?.namedCurve : undefined;
  const c = curve === undefined ? undefined : CURVES[curve];
  if (!c) {
    throw new EifError('EIF_SIGNING_KEY', `${what} must be an EC key on P-256, P-384 or P-521`, {
      hint: 'AWS EIF signing uses ECDSA; P-384 (ES384) is what nitro-cli documents',
    });
  }
  return c;
}

function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array): Buffer {
  return encodeArray([encodeText('Signature1'), encodeBytes(protectedBytes), encodeBytes(new Uint8Array(0)), encodeBytes(payload)]);
}

/** Parses a PEM/DER certificate, wrapping parser errors into a typed error. */
export function parseCertificate(cert: Uint8Array | string, what = 'signing certificate'): X509Certificate {
  try {
    return new X509Certificate(typeof cert === 'string' ? cert : Buffer.from(cert));
  } catch (err) {
    throw new EifError('EIF_BAD_SIGNATURE', `${what} is not a valid X.509 certificate`, { cause: err });
  }
}

/** PCR8 of a signing certificate: `SHA384(0^48 ‖ SHA384(DER))`. */
export function pcr8OfCertificate(cert: Uint8Array | string): Buffer {
  return pcrOfBytes(parseCertificate(cert).raw);
}

/**
 * Signs PCR0 and returns the signature section bytes. The key must match the certificate
 * (checked by verifying the fresh signature with the certificate's key): a mismatched pair would
 * produce an EIF whose SignatureCheck fails on every host.
 */
export function buildSignatureSection(pcr0: Uint8Array, keyPem: string | Uint8Array, certPem: string | Uint8Array): Buffer {
  let key: KeyObject;
  try {
    key = createPrivateKey(typeof keyPem === 'string' ? keyPem : Buffer.from(keyPem));
  } catch (err) {
    throw new EifError('EIF_SIGNING_KEY', 'the signing key is not a readable PEM private key', { cause: err });
  }
  const { alg, hash, size } = curveOf(key, 'the signing key');
  const certText = typeof certPem === 'string' ? certPem : Buffer.from(certPem).toString('utf8');
  const cert = parseCertificate(certText);
  const protectedBytes = encodeMap([[encodeInt(1), encodeInt(alg)]]);
  const payload = encodePcrInfo(0, pcr0);
  const signature = sign(hash, sigStructure(protectedBytes, payload), { key, dsaEncoding: 'ieee-p1363' });
  if (signature.length !== size) throw new EifError('EIF_SIGNING_KEY', 'unexpected ECDSA signature length');
  const cose = encodeArray([encodeBytes(protectedBytes), encodeMap([]), encodeBytes(payload), encodeBytes(signature)]);
  if (!verifyCose(cose, cert.publicKey).valid) {
    throw new EifError('EIF_SIGNING_KEY', 'the signing key does not belong to the signing certificate', {
      hint: 'pass the certificate issued for --sign-key',
    });
  }
  // nitro-cli stores the certificate as PEM text; keep the caller's PEM bytes (normalised to end in a newline).
  const pem = Buffer.from(certText.endsWith('\n') ? certText : certText + '\n', 'utf8');
  const section = encodeSignatureSection(pem, cose);
  if (section.length > SIGNATURE_MAX_SIZE) {
    throw new EifError('EIF_SIGNING_KEY', `signature section is ${section.length} bytes, above the ${SIGNATURE_MAX_SIZE}-byte limit`);
  }
  return section;
}

/** What a signature section holds once decoded. */
export interface DecodedSignature {
  certificate: X509Certificate;
  certificatePem: Uint8Array;
  coseSign1: Uint8Array;
}

/** Decodes a signature section, throwing EIF_BAD_SIGNATURE on any structural problem. */
export function decodeSignatureSection(section: Uint8Array): DecodedSignature {
  try {
    if (section.byteLength > SIGNATURE_MAX_SIZE) throw new CborError(`larger than ${SIGNATURE_MAX_SIZE} bytes`);
    const arr = decodeCbor(section);
    if (!Array.isArray(arr) || arr.length < 1) throw new CborError('not a non-empty array of PcrSignature');
    const first = arr[0]!;
    if (!isCborMap(first)) throw new CborError('PcrSignature is not a map');
    const certificatePem = uintArrayToBytes(mapGet(first, 'signing_certificate'), 'signing_certificate');
    const coseSign1 = uintArrayToBytes(mapGet(first, 'signature'), 'signature');
    return { certificate: parseCertificate(certificatePem), certificatePem, coseSign1 };
  } catch (err) {
    if (err instanceof EifError) throw err;
    throw new EifError('EIF_BAD_SIGNATURE', `the signature section is malformed: ${err instanceof CborError ? err.message : 'undecodable'}`, {
      cause: err,
    });
  }
}

/** Result of checking a COSE_Sign1: whether the signature verifies, and the signed payload. */
export interface CoseCheck {
  valid: boolean;
  payload: Uint8Array | undefined;
}

/**
 * Verifies an ECDSA COSE_Sign1 (tagged 18 or untagged) with a public key. Structural problems
 * are reported as `valid: false`, never thrown: describe reports SignatureCheck, it does not fail.
 */
export function verifyCose(cose: Uint8Array, publicKey: KeyObject): CoseCheck {
  let decoded: CborValue;
  try {
    decoded = decodeCbor(cose);
  } catch {
    return { valid: false, payload: undefined };
  }
  if (typeof decoded === 'object' && !(decoded instanceof Uint8Array) && !Array.isArray(decoded) && decoded.kind === 'tag') {
    if (decoded.tag !== 18) return { valid: false, payload: undefined };
    decoded = decoded.value;
  }
  if (!Array.isArray(decoded) || decoded.length !== 4) return { valid: false, payload: undefined };
  const [prot, unprot, payload, signature] = decoded;
  if (!(prot instanceof Uint8Array) || !isCborMap(unprot!) || !(payload instanceof Uint8Array) || !(signature instanceof Uint8Array)) {
    return { valid: false, payload: undefined };
  }
  let alg: CborValue | undefined;
  try {
    const protMap = decodeCbor(prot);
    if (!isCborMap(protMap)) return { valid: false, payload };
    alg = protMap.entries.find(([k]) => k === 1)?.[1];
  } catch {
    return { valid: false, payload };
  }
  let curve: { alg: number; hash: string; size: number };
  try {
    curve = curveOf(publicKey, 'the certificate key');
  } catch {
    return { valid: false, payload };
  }
  if (alg !== curve.alg || signature.length !== curve.size) return { valid: false, payload };
  const ok = verify(curve.hash, sigStructure(prot, payload), { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  return { valid: ok, payload };
}
