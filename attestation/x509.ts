/**
 * X.509 certificates as the attestation verifier needs them: strict DER parsing that keeps
 * the raw TBSCertificate, Names and SubjectPublicKeyInfo, and decodes only the extensions the
 * Nitro profile uses (basicConstraints, keyUsage). OpenSSL (node:crypto) must also accept
 * the bytes, so a certificate our parser and OpenSSL read differently is refused.
 */
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import {
  DerError,
  TAG,
  children,
  expectTag,
  parseDer,
  readBitString,
  readBoolean,
  readInteger,
  readOid,
  readTime,
  type DerNode,
} from './der.js';

/** Object identifiers the Nitro profile uses. */
export const OID = Object.freeze({
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecPublicKey: '1.2.840.10045.2.1',
  secp384r1: '1.3.132.0.34',
  prime256v1: '1.2.840.10045.3.1.7',
  rsaEncryption: '1.2.840.113549.1.1.1',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  crlDistributionPoints: '2.5.29.31',
  extKeyUsage: '2.5.29.37',
});

/** keyUsage bit positions (RFC 5280 §4.2.1.3), as a bit mask with bit 0 = digitalSignature. */
export const KEY_USAGE = Object.freeze({
  digitalSignature: 1 << 0,
  nonRepudiation: 1 << 1,
  keyEncipherment: 1 << 2,
  dataEncipherment: 1 << 3,
  keyAgreement: 1 << 4,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6,
  encipherOnly: 1 << 7,
  decipherOnly: 1 << 8,
});

/** One certificate extension, undecoded. */
export interface CertificateExtension {
  oid: string;
  critical: boolean;
  value: Uint8Array;
}

/** A certificate split into the parts chain validation needs. */
export interface ParsedCertificate {
  der: Uint8Array;
  /** Raw TBSCertificate bytes (what the issuer signed). */
  tbs: Uint8Array;
  /** AlgorithmIdentifier of the outer signature, raw. */
  signatureAlgorithm: Uint8Array;
  signatureAlgorithmOid: string;
  /** AlgorithmIdentifier inside the TBSCertificate, raw (must equal the outer one). */
  tbsSignatureAlgorithm: Uint8Array;
  /** DER ECDSA-Sig-Value (or other algorithm's signature bytes). */
  signatureValue: Uint8Array;
  issuerRaw: Uint8Array;
  subjectRaw: Uint8Array;
  /** Human-readable subject, one line (`C=US, O=Amazon, …`). */
  subject: string;
  notBefore: number;
  notAfter: number;
  spki: Uint8Array;
  spkiAlgorithmOid: string;
  /** The namedCurve OID for EC keys, else null. */
  spkiCurveOid: string | null;
  extensions: CertificateExtension[];
  /** basicConstraints, or null when absent. */
  basicConstraints: { ca: boolean; pathLen: number | null; critical: boolean } | null;
  /** keyUsage bit mask (see KEY_USAGE), or null when absent. */
  keyUsage: { bits: number; critical: boolean } | null;
  publicKey: KeyObject;
}

/** Why a certificate could not be parsed (wrapped into an AttestationError by callers). */
export class CertificateParseError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CertificateParseError';
  }
}

/** Parses a DER certificate strictly; throws CertificateParseError on anything off-profile for DER/X.509 v3. */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  try {
    return parseInner(der);
  } catch (err) {
    if (err instanceof CertificateParseError) throw err;
    const why = err instanceof DerError ? err.message : 'undecodable';
    throw new CertificateParseError(`not a valid DER X.509 certificate: ${why}`, { cause: err });
  }
}

function parseInner(der: Uint8Array): ParsedCertificate {
  const root = expectTag(parseDer(der), TAG.SEQUENCE, 'Certificate');
  const top = children(root);
  if (top.length !== 3) throw new CertificateParseError('Certificate must have 3 elements');
  const [tbsNode, sigAlgNode, sigNode] = top;
  expectTag(tbsNode, TAG.SEQUENCE, 'TBSCertificate');
  expectTag(sigAlgNode, TAG.SEQUENCE, 'signatureAlgorithm');
  const sigBits = readBitString(sigNode);
  if (sigBits.unusedBits !== 0) throw new CertificateParseError('signature BIT STRING has unused bits');

  const tbs = children(tbsNode);
  let i = 0;
  const versionNode = tbs[i];
  if (!versionNode || versionNode.tag !== 0xa0) throw new CertificateParseError('only X.509 v3 certificates are accepted');
  const versionChildren = children(versionNode);
  if (versionChildren.length !== 1 || readInteger(versionChildren[0]) !== 2n) {
    throw new CertificateParseError('only X.509 v3 certificates are accepted');
  }
  i++;
  const serial = readInteger(expectTag(tbs[i++], TAG.INTEGER, 'serialNumber'));
  if (serial <= 0n) throw new CertificateParseError('serial number must be positive');
  const tbsSigAlg = expectTag(tbs[i++], TAG.SEQUENCE, 'signature');
  const issuer = expectTag(tbs[i++], TAG.SEQUENCE, 'issuer');
  const validity = children(expectTag(tbs[i++], TAG.SEQUENCE, 'validity'));
  if (validity.length !== 2) throw new CertificateParseError('validity must have notBefore and notAfter');
  const subject = expectTag(tbs[i++], TAG.SEQUENCE, 'subject');
  const spkiNode = expectTag(tbs[i++], TAG.SEQUENCE, 'subjectPublicKeyInfo');
  // Optional issuerUniqueID [1] / subjectUniqueID [2] (never used by AWS; skipped if present).
  while (tbs[i] && (tbs[i].tag === 0x81 || tbs[i].tag === 0xa1 || tbs[i].tag === 0x82 || tbs[i].tag === 0xa2)) i++;
  let extensions: CertificateExtension[] = [];
  if (tbs[i] && tbs[i].tag === 0xa3) {
    extensions = parseExtensions(tbs[i++]);
  }
  if (i !== tbs.length) throw new CertificateParseError('unexpected elements in TBSCertificate');

  const [spkiAlg] = children(spkiNode);
  const spkiAlgParts = children(expectTag(spkiAlg, TAG.SEQUENCE, 'SPKI algorithm'));
  const spkiAlgorithmOid = readOid(spkiAlgParts[0]);
  const spkiCurveOid = spkiAlgorithmOid === OID.ecPublicKey && spkiAlgParts[1]?.tag === TAG.OID ? readOid(spkiAlgParts[1]) : null;

  let publicKey: KeyObject;
  let nodeCert: X509Certificate;
  try {
    publicKey = createPublicKey({ key: Buffer.from(spkiNode.raw), format: 'der', type: 'spki' });
    nodeCert = new X509Certificate(Buffer.from(der));
  } catch (err) {
    throw new CertificateParseError('OpenSSL does not accept the certificate or its public key', { cause: err });
  }

  const basic = extensions.find((e) => e.oid === OID.basicConstraints);
  const ku = extensions.find((e) => e.oid === OID.keyUsage);
  return {
    der,
    tbs: tbsNode.raw,
    signatureAlgorithm: sigAlgNode.raw,
    signatureAlgorithmOid: readOid(children(sigAlgNode)[0]),
    tbsSignatureAlgorithm: tbsSigAlg.raw,
    signatureValue: sigBits.bytes,
    issuerRaw: issuer.raw,
    subjectRaw: subject.raw,
    subject: nodeCert.subject.split('\n').join(', '),
    notBefore: readTime(validity[0]),
    notAfter: readTime(validity[1]),
    spki: spkiNode.raw,
    spkiAlgorithmOid,
    spkiCurveOid,
    extensions,
    basicConstraints: basic ? { ...parseBasicConstraints(basic.value), critical: basic.critical } : null,
    keyUsage: ku ? { bits: parseKeyUsage(ku.value), critical: ku.critical } : null,
    publicKey,
  };
}

function parseExtensions(wrapper: DerNode): CertificateExtension[] {
  const inner = children(wrapper);
  if (inner.length !== 1) throw new CertificateParseError('extensions wrapper must hold one SEQUENCE');
  const list = children(expectTag(inner[0], TAG.SEQUENCE, 'Extensions'));
  if (list.length === 0) throw new CertificateParseError('extensions must not be empty');
  const seen = new Set<string>();
  return list.map((extNode) => {
    const parts = children(expectTag(extNode, TAG.SEQUENCE, 'Extension'));
    const extOid = readOid(parts[0]);
    let critical = false;
    let valueNode = parts[1];
    if (parts.length === 3) {
      critical = readBoolean(parts[1]);
      valueNode = parts[2];
    } else if (parts.length !== 2) {
      throw new CertificateParseError('malformed Extension');
    }
    expectTag(valueNode, TAG.OCTET_STRING, 'extnValue');
    if (seen.has(extOid)) throw new CertificateParseError(`extension ${extOid} appears twice`);
    seen.add(extOid);
    return { oid: extOid, critical, value: valueNode.content };
  });
}

function parseBasicConstraints(value: Uint8Array): { ca: boolean; pathLen: number | null } {
  const parts = children(expectTag(parseDer(value), TAG.SEQUENCE, 'BasicConstraints'));
  let ca = false;
  let pathLen: number | null = null;
  let i = 0;
  if (parts[i]?.tag === TAG.BOOLEAN) ca = readBoolean(parts[i++]);
  if (parts[i]?.tag === TAG.INTEGER) {
    const n = readInteger(parts[i++]);
    if (n < 0n || n > 255n) throw new CertificateParseError('pathLenConstraint out of range');
    pathLen = Number(n);
  }
  if (i !== parts.length) throw new CertificateParseError('malformed BasicConstraints');
  return { ca, pathLen };
}

function parseKeyUsage(value: Uint8Array): number {
  const { bytes } = readBitString(parseDer(value));
  let bits = 0;
  for (let bit = 0; bit < 9; bit++) {
    const byte = bytes[bit >> 3] ?? 0;
    if (byte & (0x80 >> (bit & 7))) bits |= 1 << bit;
  }
  return bits;
}
