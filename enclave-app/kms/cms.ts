/**
 * The enclave's reader of KMS `CiphertextForRecipient`: a CMS ContentInfo/EnvelopedData in BER
 * (reference attestation-and-kms-recipient.md §3.2), parsed strictly and decrypted with the
 * enclave's ephemeral RSA key.
 *
 * Strict means: exactly KMS's shape (checklist §7 items 28–30) — envelopedData, version 2,
 * exactly one KeyTransRecipientInfo (version 2, rid = [0] SubjectKeyIdentifier equal to SHA-256 of
 * our own SPKI), RSAES-OAEP with SHA-256 and MGF1-SHA-256, content type data, AES-256-CBC with a
 * 16-byte IV, encryptedContent as primitive `[0]` or constructed `[0]` of OCTET STRING chunks, a
 * ciphertext that is a non-empty multiple of 16, valid PKCS#7 padding and nothing after the end.
 *
 * Every failure, whether a parse error, a foreign rid, an OAEP failure or bad padding, throws the
 * same `CmsError` with the same message, so nothing about the failure (a padding oracle in
 * particular) leaks to whoever sent the bytes. AES-CBC has no MAC: this is only safe because the
 * answer arrives over TLS that terminates inside the enclave (reference §3.4).
 */
import { constants, createDecipheriv, createHash, privateDecrypt, type KeyObject } from 'node:crypto';
import { KmsError } from './errors.js';
import { bytesEqual, zeroize } from '../../common/bytes.js';

/** The one message every CiphertextForRecipient failure carries (uniform on purpose). */
export const CMS_FAILURE_MESSAGE = 'KMS CiphertextForRecipient could not be opened with this enclave key';

/** Raised for any CiphertextForRecipient that is malformed, not for our key, or fails to decrypt. */
export class CmsError extends KmsError {
  constructor(options: { cause?: unknown } = {}) {
    super('KMS_BAD_RECIPIENT_RESPONSE', CMS_FAILURE_MESSAGE, {
      hint: 'the answer was not produced by KMS for this enclave key; check the KMS endpoint and the recipient key rotation',
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
  }
}

// DER encodings of the only identifiers KMS uses (reference §3.2).
const OID_ENVELOPED_DATA = hex('2a864886f70d010703');
const OID_DATA = hex('2a864886f70d010701');
const OID_AES_256_CBC = hex('60864801650304012a');
/** AlgorithmIdentifier { id-RSAES-OAEP, { hashFunc sha256, maskGenFunc mgf1(sha256) } } exactly as KMS emits it. */
const RSAES_OAEP_SHA256_ALGID = hex(
  '303c06092a864886f70d010107302fa00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500',
);

const MAX_DEPTH = 12; // KMS nests 11 deep (the MGF1 hash OID)
const MAX_INPUT = 64 * 1024;

/** One parsed BER element: primitive content or constructed children, plus its raw span. */
interface Element {
  /** The identifier octet (class, constructed bit, tag number < 31). */
  tag: number;
  start: number;
  end: number;
  content?: Uint8Array;
  children?: Element[];
}

/** Internal parse failure; always converted to the uniform CmsError at the boundary. */
class Malformed extends Error {}

/**
 * Opens a KMS `CiphertextForRecipient` with the enclave's private key and returns the plaintext
 * (the data key, random bytes or private key KMS would otherwise have returned in clear).
 */
export function decryptCiphertextForRecipient(
  ber: Uint8Array,
  privateKey: KeyObject,
  ownSpkiDer: Uint8Array,
): Uint8Array {
  let cek: Buffer | undefined;
  let padded: Buffer | undefined;
  try {
    const parts = parseEnvelope(ber);
    checkRecipientIsUs(parts.rid, ownSpkiDer);
    cek = unwrapContentKey(parts.encryptedKey, privateKey);
    padded = decryptContent(cek, parts.iv, parts.ciphertext);
    return stripPkcs7(padded);
  } catch (err) {
    throw new CmsError({ cause: err instanceof Malformed ? undefined : err });
  } finally {
    zeroize(cek, padded);
  }
}

/** The byte strings a CiphertextForRecipient carries, extracted without decrypting anything. */
export interface CiphertextForRecipientParts {
  /** The recipient's SubjectKeyIdentifier (SHA-256 of its SPKI DER). */
  rid: Uint8Array;
  /** RSA-OAEP-SHA-256 encryption of the 32-byte content-encryption key. */
  encryptedKey: Uint8Array;
  iv: Uint8Array;
  /** AES-256-CBC ciphertext, chunks concatenated. */
  ciphertext: Uint8Array;
}

/**
 * Parses a CiphertextForRecipient strictly and returns its fields; for interop tests and
 * diagnostics. Throws the uniform CmsError on any deviation from KMS's structure.
 */
export function parseCiphertextForRecipient(ber: Uint8Array): CiphertextForRecipientParts {
  try {
    return parseEnvelope(ber);
  } catch {
    throw new CmsError();
  }
}

// ---- step 1: structure ----------------------------------------------------------------------

function parseEnvelope(ber: Uint8Array): CiphertextForRecipientParts {
  if (!(ber instanceof Uint8Array) || ber.byteLength === 0 || ber.byteLength > MAX_INPUT) throw new Malformed();
  const top = readElement(ber, 0, ber.byteLength, 0);
  if (top.end !== ber.byteLength) throw new Malformed(); // trailing bytes after the last end-of-contents

  const [contentType, explicit0] = children(top, 0x30, 2);
  expectOid(contentType, OID_ENVELOPED_DATA);
  const [envelopedData] = children(explicit0, 0xa0, 1);
  const [version, recipientInfos, encryptedContentInfo] = children(envelopedData, 0x30, 3);
  expectSmallInteger(version, 2);

  const [ktri] = children(recipientInfos, 0x31, 1);
  const [ktriVersion, rid, keyEncAlg, encryptedKey] = children(ktri, 0x30, 4);
  expectSmallInteger(ktriVersion, 2);
  const ridBytes = primitive(rid, 0x80);
  if (ridBytes.byteLength !== 32) throw new Malformed();
  if (!bytesEqual(ber.subarray(keyEncAlg.start, keyEncAlg.end), RSAES_OAEP_SHA256_ALGID)) throw new Malformed();
  const encKey = primitive(encryptedKey, 0x04);
  if (encKey.byteLength === 0) throw new Malformed();

  const [eciType, contentAlg, encryptedContent] = children(encryptedContentInfo, 0x30, 3);
  expectOid(eciType, OID_DATA);
  const [algOid, ivEl] = children(contentAlg, 0x30, 2);
  expectOid(algOid, OID_AES_256_CBC);
  const iv = primitive(ivEl, 0x04);
  if (iv.byteLength !== 16) throw new Malformed();
  const ciphertext = encryptedContentBytes(encryptedContent);
  if (ciphertext.byteLength === 0 || ciphertext.byteLength % 16 !== 0) throw new Malformed();

  return { rid: ridBytes, encryptedKey: encKey, iv, ciphertext };
}

/** encryptedContent: primitive `[0] IMPLICIT OCTET STRING`, or constructed `[0]` of OCTET STRING chunks. */
function encryptedContentBytes(el: Element): Uint8Array {
  if (el.tag === 0x80) return primitive(el, 0x80);
  if (el.tag !== 0xa0 || !el.children || el.children.length === 0) throw new Malformed();
  const chunks = el.children.map((c) => primitive(c, 0x04));
  return Buffer.concat(chunks);
}

// ---- step 2: is it for us -------------------------------------------------------------------

function checkRecipientIsUs(rid: Uint8Array, ownSpkiDer: Uint8Array): void {
  const ours = createHash('sha256').update(ownSpkiDer).digest();
  if (!bytesEqual(rid, ours)) throw new Malformed();
}

// ---- step 3: key transport ------------------------------------------------------------------

function unwrapContentKey(encryptedKey: Uint8Array, privateKey: KeyObject): Buffer {
  if (privateKey.asymmetricKeyType !== 'rsa') throw new Malformed();
  const cek = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, encryptedKey);
  if (cek.byteLength !== 32) {
    zeroize(cek);
    throw new Malformed();
  }
  return cek;
}

// ---- step 4: content ------------------------------------------------------------------------

function decryptContent(cek: Buffer, iv: Uint8Array, ciphertext: Uint8Array): Buffer {
  const decipher = createDecipheriv('aes-256-cbc', cek, iv);
  decipher.setAutoPadding(false); // padding is checked below, uniformly
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}

/** Removes PKCS#7 padding, examining every padding byte regardless of where a mismatch is. */
function stripPkcs7(padded: Buffer): Uint8Array {
  const n = padded.byteLength;
  const pad = padded[n - 1]!;
  let bad = pad === 0 || pad > 16 ? 1 : 0;
  for (let i = 1; i <= 16; i++) {
    const inPad = i <= pad ? 1 : 0;
    bad |= inPad & (padded[n - i]! !== pad ? 1 : 0);
  }
  if (bad !== 0) throw new Malformed();
  return new Uint8Array(padded.subarray(0, n - pad)); // a copy: `padded` is wiped by the caller
}

// ---- BER reader -----------------------------------------------------------------------------

/** Reads one element at `pos`; definite lengths must be minimal, indefinite only on constructed. */
function readElement(buf: Uint8Array, pos: number, limit: number, depth: number): Element {
  if (depth > MAX_DEPTH || pos >= limit) throw new Malformed();
  const start = pos;
  const tag = buf[pos++]!;
  if ((tag & 0x1f) === 0x1f) throw new Malformed(); // high tag numbers never occur here
  if (tag === 0x00) throw new Malformed(); // an end-of-contents where an element was expected
  const constructed = (tag & 0x20) !== 0;
  if (pos >= limit) throw new Malformed();
  const first = buf[pos++]!;

  if (first === 0x80) {
    if (!constructed) throw new Malformed();
    const kids: Element[] = [];
    for (;;) {
      if (pos + 2 > limit) throw new Malformed();
      if (buf[pos] === 0x00) {
        if (buf[pos + 1] !== 0x00) throw new Malformed();
        pos += 2;
        break;
      }
      const kid = readElement(buf, pos, limit, depth + 1);
      kids.push(kid);
      pos = kid.end;
    }
    return { tag, start, end: pos, children: kids };
  }

  let len: number;
  if (first < 0x80) {
    len = first;
  } else {
    const count = first & 0x7f;
    if (count > 3 || pos + count > limit) throw new Malformed();
    len = 0;
    for (let i = 0; i < count; i++) len = len * 256 + buf[pos++]!;
    const minimal = count === 1 ? len >= 0x80 : len >= 1 << (8 * (count - 1));
    if (!minimal) throw new Malformed();
  }
  const contentStart = pos;
  const end = contentStart + len;
  if (end > limit) throw new Malformed();
  if (!constructed) return { tag, start, end, content: buf.subarray(contentStart, end) };
  const kids: Element[] = [];
  while (pos < end) {
    const kid = readElement(buf, pos, end, depth + 1);
    kids.push(kid);
    pos = kid.end;
  }
  return { tag, start, end, children: kids };
}

function children(el: Element, tag: number, count: number): Element[] {
  if (el.tag !== tag || !el.children || el.children.length !== count) throw new Malformed();
  return el.children;
}

function primitive(el: Element, tag: number): Uint8Array {
  if (el.tag !== tag || !el.content) throw new Malformed();
  return el.content;
}

function expectOid(el: Element, oid: Uint8Array): void {
  if (!bytesEqual(primitive(el, 0x06), oid)) throw new Malformed();
}

function expectSmallInteger(el: Element, value: number): void {
  const c = primitive(el, 0x02);
  if (c.byteLength !== 1 || c[0] !== value) throw new Malformed();
}

function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}
