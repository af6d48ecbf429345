/**
 * Builds X.509 v3 certificates byte by byte, for the simulated NSM PKI and for tests that
 * need mis-built certificates (wrong flags, wrong curves, unknown critical extensions).
 * Only what the Nitro profile uses: Names of C/ST/L/O/OU/CN, basicConstraints, keyUsage,
 * key identifiers, and ECDSA signatures (SHA-384 by default).
 */
import { createHash, randomBytes, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { bitString, bool, children, oid, parseDer, readBitString, seq, smallInt, time, tlv, uintBytes, TAG } from './der.js';
import { OID } from './x509.js';

/** An ordered distinguished name: `[['C', 'US'], ['O', '…'], ['CN', '…']]`. */
export type NameSpec = ReadonlyArray<readonly [NameAttribute, string]>;
/** Name attributes the builder knows. */
export type NameAttribute = 'C' | 'ST' | 'L' | 'O' | 'OU' | 'CN';

const ATTRIBUTE_OIDS: Record<NameAttribute, string> = {
  C: '2.5.4.6',
  ST: '2.5.4.8',
  L: '2.5.4.7',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  CN: '2.5.4.3',
};

/** What to put in a certificate. Unset extension fields are omitted. */
export interface CertificateSpec {
  subject: NameSpec;
  /** Issuer name; the subject when omitted (self-issued). */
  issuer?: NameSpec;
  /** The subject's public key. */
  publicKey: KeyObject;
  /** The issuer's private key that signs the certificate. */
  signingKey: KeyObject;
  notBefore: number;
  notAfter: number;
  /** Big-endian serial magnitude; random 16 bytes when omitted. */
  serial?: Uint8Array;
  basicConstraints?: { ca: boolean; pathLen?: number; critical?: boolean } | null;
  /** keyUsage bit mask (see KEY_USAGE in x509.ts). */
  keyUsage?: { bits: number; critical?: boolean } | null;
  /** Add a subjectKeyIdentifier (SHA-1 of the public key bits). */
  subjectKeyIdentifier?: boolean;
  /** Add an authorityKeyIdentifier with this key id. */
  authorityKeyIdentifier?: Uint8Array | null;
  /** Extra extensions, appended as given (value = extnValue content). */
  extraExtensions?: ReadonlyArray<{ oid: string; critical: boolean; value: Uint8Array }>;
  /** Hash of the ECDSA signature; 'sha384' (ecdsa-with-SHA384) by default. */
  signatureHash?: 'sha384' | 'sha256';
}

/** Encodes a Name (RDNSequence, one attribute per RDN). C is a PrintableString, others UTF8String. */
export function encodeName(name: NameSpec): Uint8Array {
  return seq(
    ...name.map(([attr, value]) =>
      tlv(TAG.SET, seq(oid(ATTRIBUTE_OIDS[attr]), tlv(attr === 'C' ? TAG.PRINTABLE_STRING : TAG.UTF8_STRING, Buffer.from(value, 'utf8')))),
    ),
  );
}

/** Encodes a keyUsage BIT STRING in DER form (trailing zero bits dropped). */
export function encodeKeyUsage(bits: number): Uint8Array {
  if (bits === 0) return tlv(TAG.BIT_STRING, Uint8Array.of(0));
  let highest = 0;
  for (let b = 0; b < 9; b++) if (bits & (1 << b)) highest = b;
  const bytes = new Uint8Array((highest >> 3) + 1);
  for (let b = 0; b <= highest; b++) if (bits & (1 << b)) bytes[b >> 3] |= 0x80 >> (b & 7);
  return tlv(TAG.BIT_STRING, Uint8Array.of(7 - (highest & 7)), bytes);
}

/** SHA-1 of the subjectPublicKey BIT STRING content (RFC 5280 §4.2.1.2 method 1). */
export function keyIdentifier(publicKey: KeyObject): Uint8Array {
  const spki = parseDer(new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })));
  const [, keyBits] = children(spki);
  return new Uint8Array(createHash('sha1').update(readBitString(keyBits).bytes).digest());
}

/** Builds and signs a certificate; returns its DER. */
export function issueCertificate(spec: CertificateSpec): Uint8Array {
  const hash = spec.signatureHash ?? 'sha384';
  const algId = seq(oid(hash === 'sha384' ? OID.ecdsaWithSha384 : OID.ecdsaWithSha256));
  const serial = spec.serial ?? randomSerial();
  const extensions: Uint8Array[] = [];
  const ext = (extOid: string, critical: boolean, value: Uint8Array): void => {
    extensions.push(seq(oid(extOid), ...(critical ? [bool(true)] : []), tlv(TAG.OCTET_STRING, value)));
  };
  if (spec.basicConstraints) {
    const bc = spec.basicConstraints;
    ext(OID.basicConstraints, bc.critical ?? true, seq(...(bc.ca ? [bool(true)] : []), ...(bc.pathLen !== undefined ? [smallInt(bc.pathLen)] : [])));
  }
  if (spec.keyUsage) ext(OID.keyUsage, spec.keyUsage.critical ?? true, encodeKeyUsage(spec.keyUsage.bits));
  if (spec.subjectKeyIdentifier) ext(OID.subjectKeyIdentifier, false, tlv(TAG.OCTET_STRING, keyIdentifier(spec.publicKey)));
  if (spec.authorityKeyIdentifier) ext(OID.authorityKeyIdentifier, false, seq(tlv(0x80, spec.authorityKeyIdentifier)));
  for (const e of spec.extraExtensions ?? []) ext(e.oid, e.critical, e.value);

  const tbs = seq(
    tlv(0xa0, smallInt(2)),
    uintBytes(serial),
    algId,
    encodeName(spec.issuer ?? spec.subject),
    seq(time(spec.notBefore), time(spec.notAfter)),
    encodeName(spec.subject),
    new Uint8Array(spec.publicKey.export({ format: 'der', type: 'spki' })),
    ...(extensions.length ? [tlv(0xa3, seq(...extensions))] : []),
  );
  const signature = cryptoSign(hash, tbs, { key: spec.signingKey, dsaEncoding: 'der' });
  return new Uint8Array(seq(tbs, algId, bitString(signature)));
}

function randomSerial(): Uint8Array {
  const s = new Uint8Array(randomBytes(16));
  s[0] = (s[0] & 0x7f) | 0x01;
  return s;
}
