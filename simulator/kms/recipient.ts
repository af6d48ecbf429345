/**
 * The `Recipient` parameter of attested KMS calls: its shape is checked like KMS does
 * (RSAES_OAEP_SHA_256 only, a 1..262144-byte AttestationDocument), then the document is verified
 * by attestation/ — signature, certificate chain to a configured root (the simulated NSM root
 * and/or the AWS Nitro root), and freshness — before any of its PCRs can feed a key-policy
 * condition. Debug-mode documents are not refused here (KMS does not refuse them); the policy
 * decides, and a zero PCR0 matches no generated policy.
 *
 * Maximum document age: KMS documents none (reference §1.4). The simulator uses 5 minutes by
 * default — an assumption, configurable.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { AttestationError, verifyAttestationDocument, type TrustedRoot, type VerifiedAttestation } from '../../attestation/index.js';
import { isAttestedPackError } from '../../common/errors.js';
import { validationError } from './errors.js';
import type { Input } from './wire.js';

/** Default freshness window for Recipient documents (an assumption: KMS documents no limit). */
export const DEFAULT_MAX_ATTESTATION_AGE_MS = 5 * 60 * 1000;

/** What the simulator needs from a verified document. */
export interface VerifiedRecipient {
  moduleId: string;
  timestamp: number;
  /** PCR index → lower-case hex. */
  pcrs: Map<number, string>;
  /** DER SubjectPublicKeyInfo of the enclave's RSA key (the CMS recipient). */
  publicKeySpki: Uint8Array;
  debugMode: boolean;
}

/** Verifies Recipient documents; swap it in tests, or plug another verifier in. */
export interface RecipientDocumentVerifier {
  /** Resolves with the document's contents, or rejects (any error) when it must not be trusted. */
  verify(document: Uint8Array, at: number): Promise<VerifiedRecipient>;
}

/** How long a verified document's chain check is reused (its freshness is checked on every call). */
const CHAIN_CACHE_MS = 60_000;
const CHAIN_CACHE_ENTRIES = 256;

/**
 * The standard verifier: attestation/'s verifyAttestationDocument against `trustedRoots`.
 * A pack sends the same document with every Decrypt, so a document whose signature and chain
 * verified is remembered (by SHA-256 of its bytes) for up to a minute and never past its leaf
 * certificate's expiry; its timestamp is still checked against `maxAgeMs` on every use.
 */
export function attestationRecipientVerifier(opts: { trustedRoots: readonly TrustedRoot[]; maxAgeMs?: number }): RecipientDocumentVerifier {
  const maxAgeMs = opts.maxAgeMs ?? DEFAULT_MAX_ATTESTATION_AGE_MS;
  const cache = new Map<string, { result: VerifiedRecipient; verifiedAt: number; reuseUntil: number }>();
  return {
    async verify(document, at) {
      const key = createHash('sha256').update(document).digest('hex');
      const hit = cache.get(key);
      if (hit && at >= hit.verifiedAt && at <= hit.reuseUntil) {
        if (at - hit.result.timestamp > maxAgeMs) {
          throw new AttestationError('ATTESTATION_STALE', `the attestation document is older than ${maxAgeMs} ms`);
        }
        return hit.result;
      }
      const v: VerifiedAttestation = await verifyAttestationDocument(document, {
        trustedRoots: opts.trustedRoots,
        at,
        maxAgeMs,
        expectedPcrs: 'skip', // the key policy compares PCRs, not the verifier
        allowDebug: true, // KMS does not refuse debug documents; the policy decides
        requirePublicKey: true,
        requireRsaPublicKey: true,
      });
      const result = { moduleId: v.moduleId, timestamp: v.timestamp, pcrs: v.pcrs, publicKeySpki: v.publicKey!, debugMode: v.debugMode };
      const leafExpiry = Date.parse(new X509Certificate(Buffer.from(v.certificate)).validTo);
      if (cache.size >= CHAIN_CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
      cache.set(key, { result, verifiedAt: at, reuseUntil: Math.min(at + CHAIN_CACHE_MS, leafExpiry) });
      return result;
    },
  };
}

/** The Recipient member after KMS's model validation (the document is not verified yet). */
export interface RecipientRequest {
  keyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256';
  attestationDocument: Buffer;
}

/** Reads and validates the Recipient structure of a request; undefined when absent. */
export function readRecipient(input: Input): RecipientRequest | undefined {
  const r = input.struct('Recipient');
  if (!r) return undefined;
  const keyEncryptionAlgorithm = r.enumOf('KeyEncryptionAlgorithm', ['RSAES_OAEP_SHA_256'] as const);
  const attestationDocument = r.blob('AttestationDocument', { min: 1, max: 262144 });
  // The model marks both optional; KMS cannot do anything without them (SDK-C documents both as required).
  if (keyEncryptionAlgorithm === undefined) throw validationError('Recipient.KeyEncryptionAlgorithm is required: RSAES_OAEP_SHA_256');
  if (attestationDocument === undefined) throw validationError('Recipient.AttestationDocument is required');
  return { keyEncryptionAlgorithm, attestationDocument };
}

/** A short, secret-free description of why a document was refused (for the audit log). */
export function describeAttestationFailure(err: unknown): { code: string; message: string } {
  if (isAttestedPackError(err)) return { code: err.code, message: err.message };
  return { code: 'ATTESTATION_UNVERIFIABLE', message: 'the attestation document could not be verified' };
}

/** CloudTrail's attestation fields for a verified document. */
export function auditRecipientFields(v: VerifiedRecipient): Record<string, string> {
  const out: Record<string, string> = {
    attestationDocumentModuleId: v.moduleId,
    attestationDocumentEnclaveImageDigest: v.pcrs.get(0) ?? '',
  };
  for (const [i, value] of [...v.pcrs.entries()].sort(([a], [b]) => a - b)) {
    if (i !== 0) out[`attestationDocumentEnclavePCR${i}`] = value;
  }
  return out;
}
