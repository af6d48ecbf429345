/**
 * The certificate chain of an attestation document: `[certificate, cabundle[N-1], …,
 * cabundle[1]]` anchored on a pinned root that `cabundle[0]` must equal byte for byte
 * (never trust cabundle[0] because it is there). Links are made by position plus issuer/subject
 * name equality — the real leaf has no key identifiers — and every certificate must fit the
 * Nitro profile: P-384 keys, ecdsa-with-SHA384, CA flags, key usage and pathLen.
 * Each step is a function that returns what the next needs or throws an AttestationError.
 */
import { verify as cryptoVerify } from 'node:crypto';
import { bytesEqual } from '../common/bytes.js';
import { AttestationError } from './errors.js';
import { CertificateParseError, KEY_USAGE, OID, parseCertificate, type ParsedCertificate } from './x509.js';
import type { TrustedRoot } from './roots.js';

/** A certificate in the chain with a name for messages (`leaf`, `cabundle[2]`, `root`). */
export interface ChainEntry {
  position: string;
  cert: ParsedCertificate;
}

/** AlgorithmIdentifier of ecdsa-with-SHA384 with absent parameters, as RFC 5758 requires. */
const ECDSA_SHA384_ALGID = Uint8Array.of(0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03);
/** Extensions we understand; any other extension marked critical is refused. */
const UNDERSTOOD_EXTENSIONS: ReadonlySet<string> = new Set([OID.basicConstraints, OID.keyUsage]);

/** Step: find the pinned root that `cabundle[0]` is byte-identical to. */
export function selectTrustedRoot(cabundle: Uint8Array[], roots: readonly TrustedRoot[]): TrustedRoot {
  const root = roots.find((r) => bytesEqual(r.der, cabundle[0]));
  if (!root) {
    throw new AttestationError('ATTESTATION_UNTRUSTED_ROOT', 'cabundle[0] is not a pinned trusted root', {
      hint: 'documents from AWS chain to the AWS Nitro Enclaves Root-G1; simulated ones need --root with the simulator root',
      details: { pinned: roots.map((r) => r.sha256) },
    });
  }
  return root;
}

/** Step: parse the leaf and intermediates; returns the chain leaf first, root last. */
export function buildChain(certificate: Uint8Array, cabundle: Uint8Array[], root: TrustedRoot): ChainEntry[] {
  const parse = (der: Uint8Array, position: string): ChainEntry => {
    try {
      return { position, cert: parseCertificate(der) };
    } catch (err) {
      const why = err instanceof CertificateParseError ? err.message : 'undecodable';
      throw new AttestationError('ATTESTATION_BAD_CERTIFICATE', `${position}: ${why}`, { cause: err, details: { position } });
    }
  };
  const chain: ChainEntry[] = [parse(certificate, 'leaf')];
  for (let i = cabundle.length - 1; i >= 1; i--) chain.push(parse(cabundle[i], `cabundle[${i}]`));
  chain.push({ position: 'root (cabundle[0])', cert: root.parsed });
  for (let i = 0; i < chain.length; i++) {
    for (let j = i + 1; j < chain.length; j++) {
      if (bytesEqual(chain[i].cert.der, chain[j].cert.der)) {
        throw new AttestationError('ATTESTATION_CHAIN_INVALID', `${chain[i].position} and ${chain[j].position} are the same certificate`);
      }
    }
  }
  return chain;
}

/** Step: every key is P-384 ECDSA and every signature ecdsa-with-SHA384 (checklist 20). */
export function checkAlgorithms(chain: readonly ChainEntry[]): void {
  for (const { position, cert } of chain) {
    if (cert.spkiAlgorithmOid !== OID.ecPublicKey || cert.spkiCurveOid !== OID.secp384r1 || cert.publicKey.asymmetricKeyDetails?.namedCurve !== 'secp384r1') {
      throw new AttestationError('ATTESTATION_BAD_KEY_ALGORITHM', `${position}: public key is not ECDSA P-384`, {
        details: { position, algorithm: cert.spkiAlgorithmOid, curve: cert.spkiCurveOid },
      });
    }
    if (!bytesEqual(cert.signatureAlgorithm, ECDSA_SHA384_ALGID) || !bytesEqual(cert.tbsSignatureAlgorithm, ECDSA_SHA384_ALGID)) {
      throw new AttestationError('ATTESTATION_BAD_KEY_ALGORITHM', `${position}: signature algorithm is not ecdsa-with-SHA384`, {
        details: { position, algorithm: cert.signatureAlgorithmOid },
      });
    }
  }
}

/**
 * Step: the Nitro certificate profile (checklist 19) — CAs carry critical CA:TRUE and
 * keyCertSign and respect pathLen; the leaf is not a CA and has digitalSignature; no
 * critical extension we do not understand. The root needs no pathLen (the real one has none).
 */
export function checkProfiles(chain: readonly ChainEntry[]): void {
  function fail(position: string, why: string): never {
    throw new AttestationError('ATTESTATION_CERT_PROFILE', `${position}: ${why}`, { details: { position } });
  }
  chain.forEach(({ position, cert }, index) => {
    for (const ext of cert.extensions) {
      if (ext.critical && !UNDERSTOOD_EXTENSIONS.has(ext.oid)) fail(position, `unknown critical extension ${ext.oid}`);
    }
    const bc = cert.basicConstraints;
    const ku = cert.keyUsage;
    if (index === 0) {
      if (bc?.ca) fail(position, 'leaf certificate is a CA (CA:TRUE)');
      if (!ku || (ku.bits & KEY_USAGE.digitalSignature) === 0) fail(position, 'leaf key usage lacks digitalSignature');
      if (ku && (ku.bits & KEY_USAGE.keyCertSign) !== 0) fail(position, 'leaf key usage allows keyCertSign');
      return;
    }
    if (!bc || !bc.ca) fail(position, 'CA certificate lacks basicConstraints CA:TRUE');
    if (!bc.critical) fail(position, 'CA basicConstraints is not critical');
    if (!ku || (ku.bits & KEY_USAGE.keyCertSign) === 0) fail(position, 'CA key usage lacks keyCertSign');
    // Intermediate CAs between this CA and the leaf: chain[1 .. index-1].
    const below = index - 1;
    if (bc.pathLen !== null && below > bc.pathLen) {
      fail(position, `pathLenConstraint ${bc.pathLen} allows fewer than the ${below} CA certificate(s) below it`);
    }
  });
}

/**
 * Step: each certificate names the next one up as its issuer (raw DER name equality) and is
 * signed by its key (checklist 17).
 */
export function checkLinks(chain: readonly ChainEntry[]): void {
  for (let i = 0; i < chain.length - 1; i++) {
    const child = chain[i];
    const parent = chain[i + 1];
    if (!bytesEqual(child.cert.issuerRaw, parent.cert.subjectRaw)) {
      throw new AttestationError(
        'ATTESTATION_CHAIN_INVALID',
        `${child.position}: issuer is not the subject of ${parent.position} (certificates missing, extra or out of order)`,
        { details: { position: child.position, issuer: parent.cert.subject } },
      );
    }
    let ok = false;
    try {
      ok = cryptoVerify('sha384', child.cert.tbs, { key: parent.cert.publicKey, dsaEncoding: 'der' }, child.cert.signatureValue);
    } catch {
      ok = false;
    }
    if (!ok) {
      throw new AttestationError('ATTESTATION_CHAIN_INVALID', `${child.position}: signature does not verify with the key of ${parent.position}`, {
        details: { position: child.position },
      });
    }
  }
}

/** Step: every certificate, root included, is valid at the verification time (checklist 18). */
export function checkValidity(chain: readonly ChainEntry[], at: number): void {
  for (const { position, cert } of chain) {
    if (at < cert.notBefore) {
      throw new AttestationError('ATTESTATION_CERT_NOT_YET_VALID', `${position}: not valid before ${new Date(cert.notBefore).toISOString()}`, {
        hint: 'check the verification time (--at) and the clock',
        details: { position, notBefore: new Date(cert.notBefore).toISOString(), at: new Date(at).toISOString() },
      });
    }
    if (at > cert.notAfter) {
      throw new AttestationError('ATTESTATION_CERT_EXPIRED', `${position}: expired at ${new Date(cert.notAfter).toISOString()}`, {
        hint: 'Nitro leaf certificates live 3 hours; archived documents verify only with --at inside that window',
        details: { position, notAfter: new Date(cert.notAfter).toISOString(), at: new Date(at).toISOString() },
      });
    }
  }
}
