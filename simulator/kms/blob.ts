/**
 * The simulator's ciphertext blobs for symmetric keys. Opaque to clients like real KMS blobs, and
 * like them they name the key inside (so Decrypt works without KeyId) and bind the encryption
 * context: AES-256-GCM under the key's 32-byte secret, with the header and the canonical
 * encryption context as additional authenticated data.
 *
 * Layout: `0x01 'A' 'P'` | keyIdLength (1 byte) | keyId (ASCII) | IV (12) | ciphertext | tag (16).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { KmsApiError } from './errors.js';

const MAGIC = Buffer.from([0x01, 0x41, 0x50]);
const IV_LEN = 12;
const TAG_LEN = 16;

/** The key ID a blob names, or undefined when the bytes are not a blob of this simulator. */
export function blobKeyId(blob: Buffer): string | undefined {
  if (blob.byteLength < MAGIC.byteLength + 1 || !blob.subarray(0, 3).equals(MAGIC)) return undefined;
  const len = blob[3]!;
  if (len === 0 || blob.byteLength < 4 + len + IV_LEN + TAG_LEN) return undefined;
  const id = blob.subarray(4, 4 + len).toString('latin1');
  return /^[0-9a-f-]{36}$/.test(id) ? id : undefined;
}

/** Encrypts `plaintext` under a symmetric key secret, binding key ID and encryption context. */
export function sealBlob(secret: Buffer, keyId: string, plaintext: Buffer, encryptionContext: Record<string, string> | undefined): Buffer {
  const iv = randomBytes(IV_LEN);
  const header = Buffer.concat([MAGIC, Uint8Array.of(keyId.length), Buffer.from(keyId, 'latin1'), iv]);
  const cipher = createCipheriv('aes-256-gcm', secret, iv);
  cipher.setAAD(Buffer.concat([header, canonicalContext(encryptionContext)]));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, ct, cipher.getAuthTag()]);
}

/** Decrypts a blob; a wrong key, context or any tampering is InvalidCiphertextException. */
export function openBlob(secret: Buffer, blob: Buffer, encryptionContext: Record<string, string> | undefined): Buffer {
  const keyId = blobKeyId(blob);
  if (keyId === undefined) throw invalidCiphertext();
  const headerLen = 4 + keyId.length + IV_LEN;
  const header = blob.subarray(0, headerLen);
  const iv = blob.subarray(4 + keyId.length, headerLen);
  const tag = blob.subarray(blob.byteLength - TAG_LEN);
  try {
    const decipher = createDecipheriv('aes-256-gcm', secret, iv);
    decipher.setAAD(Buffer.concat([header, canonicalContext(encryptionContext)]));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(blob.subarray(headerLen, blob.byteLength - TAG_LEN)), decipher.final()]);
  } catch {
    throw invalidCiphertext();
  }
}

/** Encryption context as sorted key/value pairs, so the order in the request does not matter. */
function canonicalContext(ec: Record<string, string> | undefined): Buffer {
  const entries = Object.entries(ec ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify(entries), 'utf8');
}

function invalidCiphertext(): KmsApiError {
  return new KmsApiError('InvalidCiphertextException', 'The ciphertext is invalid, or the encryption context does not match.');
}
