/** The byte encodings Clef's artifact uses: standard padded base64, lower-case SHA-256 hex, ISO-8601 times. */
import { createHash } from 'node:crypto';
import { asBuffer } from '../../common/bytes.js';

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard base64 with `=` padding, the encoding of every binary field of the artifact. */
export function toBase64(bytes: Uint8Array): string {
  return asBuffer(bytes).toString('base64');
}

/**
 * Strict base64 decoding: standard alphabet, correct padding, canonical (re-encodes to the
 * same text). Node's own decoder silently skips junk, which a verifier must not do.
 */
export function fromBase64Strict(text: string): Uint8Array | undefined {
  if (!BASE64_RE.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) return undefined;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Lower-case hex SHA-256 of a string's UTF-8 bytes — `ciphertextHash` is this over the base64 text. */
export function sha256HexOfString(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** SHA-256 of bytes; the digest Clef hands to KMS `Sign` with `MessageType: DIGEST`. */
export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** True for exactly what `Date.prototype.toISOString()` produces for years 0000–9999. */
export function isIsoTimestamp(text: string): boolean {
  if (!ISO_RE.test(text)) return false;
  const ms = Date.parse(text);
  return Number.isFinite(ms) && new Date(ms).toISOString() === text;
}
