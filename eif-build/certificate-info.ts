/**
 * The `SigningCertificate` block of `nitro-cli describe-eif`: issuer attributes, signature
 * algorithm, validity and the certificate's own signature as `XX:XX:…`. Node's X509Certificate
 * gives issuer and validity (in OpenSSL's format, as nitro-cli prints them); the signature
 * algorithm and value come from a minimal walk of the certificate's outer DER structure.
 */
import type { X509Certificate } from 'node:crypto';

/** Shape of nitro-cli's `SignCertificateInfo`. */
export interface SigningCertificateInfo {
  IssuerName: Record<string, string>;
  Algorithm: string;
  NotBefore: string;
  NotAfter: string;
  Signature: string;
}

const ATTRIBUTE_NAMES: Record<string, string> = {
  C: 'countryName',
  ST: 'stateOrProvinceName',
  L: 'localityName',
  O: 'organizationName',
  OU: 'organizationalUnitName',
  CN: 'commonName',
  emailAddress: 'emailAddress',
  serialNumber: 'serialNumber',
  DC: 'domainComponent',
};

const SIGNATURE_ALGORITHMS: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
};

interface Tlv {
  tag: number;
  start: number;
  end: number;
}

function tlv(der: Uint8Array, pos: number): Tlv {
  if (pos + 2 > der.length) throw new Error('truncated DER');
  const tag = der[pos]!;
  let len = der[pos + 1]!;
  let p = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > der.length) throw new Error('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[p + i]!;
    p += n;
  }
  if (p + len > der.length) throw new Error('truncated DER');
  return { tag, start: p, end: p + len };
}

function oidToString(b: Uint8Array): string {
  const parts: number[] = [];
  let v = 0;
  for (const x of b) {
    v = v * 128 + (x & 0x7f);
    if (!(x & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  const first = parts.shift() ?? 0;
  const a = first < 80 ? Math.floor(first / 40) : 2;
  return [a, first - a * 40, ...parts].join('.');
}

/** Builds the describe-eif certificate block; unknown pieces degrade to descriptive strings. */
export function signingCertificateInfo(cert: X509Certificate): SigningCertificateInfo {
  const issuer: Record<string, string> = {};
  for (const line of cert.issuer.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const k = line.slice(0, eq);
    issuer[ATTRIBUTE_NAMES[k] ?? k] = line.slice(eq + 1);
  }
  let algorithm = 'unknown';
  let signature = '';
  try {
    const der = new Uint8Array(cert.raw);
    const outer = tlv(der, 0);
    const tbs = tlv(der, outer.start);
    const algSeq = tlv(der, tbs.end);
    const oid = tlv(der, algSeq.start);
    const oidText = oidToString(der.subarray(oid.start, oid.end));
    algorithm = SIGNATURE_ALGORITHMS[oidText] ?? oidText;
    const bits = tlv(der, algSeq.end);
    // BIT STRING: first content byte is the count of unused bits.
    signature = Array.from(der.subarray(bits.start + 1, bits.end), (x) => x.toString(16).toUpperCase().padStart(2, '0')).join(':');
  } catch {
    // Node already parsed the certificate; a structure we cannot walk only loses these two fields.
  }
  // BTreeMap order, as nitro-cli prints it.
  const IssuerName = Object.fromEntries(Object.entries(issuer).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { IssuerName, Algorithm: algorithm, NotBefore: cert.validFrom, NotAfter: cert.validTo, Signature: signature };
}
