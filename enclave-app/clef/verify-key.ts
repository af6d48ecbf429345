/**
 * clef-sig-v3 verification keys and the raw signature check. As in Clef's `verifySignature`,
 * the algorithm comes from the **key type**, never from the artifact's unsigned
 * `signatureAlgorithm`: Ed25519 → `verify(null, payload)`; EC → ECDSA/SHA-256 over the
 * payload with a DER signature, which is exactly what KMS `Sign(ECDSA_SHA_256,
 * MessageType: DIGEST)` over SHA-256(payload) returns. We accept only P-256 EC keys (KMS
 * ECC_NIST_P256); Clef would take any curve.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { asBuffer } from '../../common/bytes.js';
import type { SignatureAlgorithm } from './artifact.js';
import { fromBase64Strict } from './encoding.js';
import { ClefError } from './errors.js';

/** A verify key: base64 DER SPKI (Clef's `CLEF_AGENT_VERIFY_KEY`, KMS `GetPublicKey`), DER bytes, PEM, or a KeyObject. */
export type VerifyKeyInput = string | Uint8Array | KeyObject;

/** A loaded verify key and the algorithm its type implies. */
export interface VerifyKey {
  key: KeyObject;
  algorithm: SignatureAlgorithm;
  /** base64 DER SPKI, for receipts. */
  spki: string;
}

function invalid(message: string, cause?: unknown): ClefError {
  return new ClefError('CLEF_VERIFY_KEY_INVALID', message, {
    hint: 'pass the public key as base64 DER SPKI (e.g. KMS GetPublicKey output, or the Ed25519 key Clef prints)',
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Imported KeyObjects (immutable), so a signer's key is checked and exported once, not per artifact. */
const importedKeyObjects = new WeakMap<KeyObject, VerifyKey>();

/** Loads a verify key and decides its algorithm from its type (Ed25519 or EC P-256). */
export function importVerifyKey(input: VerifyKeyInput): VerifyKey {
  if (typeof input === 'object' && !(input instanceof Uint8Array)) {
    const known = importedKeyObjects.get(input);
    if (known) return known;
    const imported = importVerifyKeyUncached(input);
    importedKeyObjects.set(input, imported);
    return imported;
  }
  return importVerifyKeyUncached(input);
}

function importVerifyKeyUncached(input: VerifyKeyInput): VerifyKey {
  let key: KeyObject;
  try {
    if (typeof input === 'string') {
      if (input.trimStart().startsWith('-----BEGIN')) {
        key = createPublicKey({ key: input, format: 'pem' });
      } else {
        const der = fromBase64Strict(input.trim());
        if (!der || der.byteLength === 0) throw invalid('the verify key is not valid base64');
        key = createPublicKey({ key: asBuffer(der), format: 'der', type: 'spki' });
      }
    } else if (input instanceof Uint8Array) {
      key = createPublicKey({ key: asBuffer(input), format: 'der', type: 'spki' });
    } else {
      key = input.type === 'public' ? input : createPublicKey(input);
    }
  } catch (err) {
    if (err instanceof ClefError) throw err;
    throw invalid('the verify key could not be loaded as an SPKI public key', err);
  }
  let algorithm: SignatureAlgorithm;
  if (key.asymmetricKeyType === 'ed25519') {
    algorithm = 'Ed25519';
  } else if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    algorithm = 'ECDSA_SHA256';
  } else {
    const kind = key.asymmetricKeyType === 'ec' ? `ec ${key.asymmetricKeyDetails?.namedCurve ?? ''}`.trim() : String(key.asymmetricKeyType);
    throw invalid(`unsupported verify key type '${kind}': clef-sig-v3 uses Ed25519 or ECDSA P-256`);
  }
  const spki = key.export({ type: 'spki', format: 'der' }).toString('base64');
  return { key, algorithm, spki };
}

/** Checks a raw signature over payload bytes with the key's algorithm; never throws. */
export function verifySignatureBytes(payload: Uint8Array, signature: Uint8Array, key: VerifyKey): boolean {
  try {
    if (key.algorithm === 'Ed25519') {
      return signature.byteLength === 64 && verify(null, payload, key.key, signature);
    }
    return verify('sha256', payload, { key: key.key, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}
