/**
 * Trust anchors. The AWS Nitro Enclaves Root-G1 certificate is embedded and pinned by the
 * SHA-256 of its DER (checked when first loaded, so a tampered constant cannot slip through);
 * other roots (the simulated NSM's) are injected by callers, keeping trust material apart
 * from verification logic.
 */
import { createHash, verify as cryptoVerify } from 'node:crypto';
import { AttestationError } from './errors.js';
import { bytesEqual, toHex } from '../common/bytes.js';
import { CertificateParseError, OID, parseCertificate, type ParsedCertificate } from './x509.js';

/**
 * AWS_NitroEnclaves_Root-G1.pem, byte-identical to cabundle[0] of genuine documents
 * (source: https://aws-nitro-enclaves.amazonaws.com/AWS_NitroEnclaves_Root-G1.zip).
 */
export const AWS_NITRO_ROOT_G1_PEM = `-----BEGIN CERTIFICATE-----
MIICETCCAZagAwIBAgIRAPkxdWgbkK/hHUbMtOTn+FYwCgYIKoZIzj0EAwMwSTEL
MAkGA1UEBhMCVVMxDzANBgNVBAoMBkFtYXpvbjEMMAoGA1UECwwDQVdTMRswGQYD
VQQDDBJhd3Mubml0cm8tZW5jbGF2ZXMwHhcNMTkxMDI4MTMyODA1WhcNNDkxMDI4
MTQyODA1WjBJMQswCQYDVQQGEwJVUzEPMA0GA1UECgwGQW1hem9uMQwwCgYDVQQL
DANBV1MxGzAZBgNVBAMMEmF3cy5uaXRyby1lbmNsYXZlczB2MBAGByqGSM49AgEG
BSuBBAAiA2IABPwCVOumCMHzaHDimtqQvkY4MpJzbolL//Zy2YlES1BR5TSksfbb
48C8WBoyt7F2Bw7eEtaaP+ohG2bnUs990d0JX28TcPQXCEPZ3BABIeTPYwEoCWZE
h8l5YoQwTcU/9KNCMEAwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUkCW1DdkF
R+eWw5b6cp3PmanfS5YwDgYDVR0PAQH/BAQDAgGGMAoGCCqGSM49BAMDA2kAMGYC
MQCjfy+Rocm9Xue4YnwWmNJVA44fA0P5W2OpYow9OYCVRaEevL8uO1XYru5xtMPW
rfMCMQCi85sWBbJwKKXdS6BptQFuZbT73o/gBh1qUxl/nNr12UO8Yfwr6wPLb+6N
IwLz3/Y=
-----END CERTIFICATE-----
`;

/** SHA-256 of the Root-G1 DER (not of the zip AWS publishes next to it). */
export const AWS_NITRO_ROOT_G1_SHA256 = '641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b';

/** A root certificate a document's chain may end in. Build with the helpers below. */
export interface TrustedRoot {
  /** DER bytes; `cabundle[0]` must equal them byte for byte. */
  readonly der: Uint8Array;
  /** Lower-case hex SHA-256 of `der`. */
  readonly sha256: string;
  /** One-line subject, for messages. */
  readonly subject: string;
  /** @internal parsed form used by the chain checks. */
  readonly parsed: ParsedCertificate;
}

function badRoot(message: string, cause?: unknown): never {
  throw new AttestationError('ATTESTATION_BAD_TRUSTED_ROOT', message, {
    hint: 'pass a self-signed CA certificate (PEM), e.g. the simulated NSM root from `attested-pack sim`',
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Makes a trust anchor from a DER certificate: must parse, be self-issued, self-signed and a CA. */
export function trustedRootFromDer(der: Uint8Array): TrustedRoot {
  let parsed: ParsedCertificate;
  try {
    parsed = parseCertificate(new Uint8Array(der));
  } catch (err) {
    return badRoot(`trusted root is not a valid certificate: ${err instanceof CertificateParseError ? err.message : 'undecodable'}`, err);
  }
  if (!bytesEqual(parsed.issuerRaw, parsed.subjectRaw)) badRoot('trusted root is not self-issued (issuer ≠ subject)');
  if (parsed.signatureAlgorithmOid !== OID.ecdsaWithSha384) badRoot('trusted root is not signed with ecdsa-with-SHA384');
  let selfSigned = false;
  try {
    selfSigned = cryptoVerify('sha384', parsed.tbs, { key: parsed.publicKey, dsaEncoding: 'der' }, parsed.signatureValue);
  } catch {
    selfSigned = false;
  }
  if (!selfSigned) badRoot('trusted root is not correctly self-signed');
  if (!parsed.basicConstraints?.ca) badRoot('trusted root is not a CA certificate');
  return {
    der: parsed.der,
    sha256: createHash('sha256').update(parsed.der).digest('hex'),
    subject: parsed.subject,
    parsed,
  };
}

/** Decodes every CERTIFICATE block of a PEM text into DER. */
export function pemToDerList(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const re = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
  for (const m of pem.matchAll(re)) {
    const b64 = m[1].replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) badRoot('PEM certificate block is not valid base64');
    out.push(new Uint8Array(Buffer.from(b64, 'base64')));
  }
  return out;
}

/** Makes a trust anchor from a PEM text holding exactly one certificate. */
export function trustedRootFromPem(pem: string): TrustedRoot {
  const ders = pemToDerList(pem);
  if (ders.length !== 1) badRoot(`expected exactly one PEM certificate, found ${ders.length}`);
  return trustedRootFromDer(ders[0]);
}

/** Encodes DER as a PEM CERTIFICATE block. */
export function derToPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN CERTIFICATE-----\n${b64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

let awsRoot: TrustedRoot | undefined;

/** The pinned AWS Nitro Enclaves Root-G1, checked against its SHA-256 on first use. */
export function awsNitroRootG1(): TrustedRoot {
  if (awsRoot) return awsRoot;
  const der = pemToDerList(AWS_NITRO_ROOT_G1_PEM)[0];
  const digest = toHex(createHash('sha256').update(der).digest());
  if (digest !== AWS_NITRO_ROOT_G1_SHA256) {
    throw new AttestationError('ATTESTATION_BAD_TRUSTED_ROOT', 'embedded AWS Nitro root does not match its pinned SHA-256', {
      category: 'internal',
    });
  }
  awsRoot = trustedRootFromDer(der);
  return awsRoot;
}
