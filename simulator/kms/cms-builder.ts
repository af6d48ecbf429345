/**
 * Builds `CiphertextForRecipient` exactly the way KMS lays it out (reference
 * attestation-and-kms-recipient.md §3.2): a CMS ContentInfo/EnvelopedData in BER with indefinite
 * lengths on ContentInfo, its [0], EnvelopedData, EncryptedContentInfo and the constructed [0]
 * encryptedContent; a definite recipientInfos SET; DER for every inner item. The SDK-C parser
 * (kmstool) only accepts this layout, so the simulator must not emit plain DER.
 *
 * Crypto: a fresh 32-byte CEK, RSAES-OAEP (SHA-256, MGF1-SHA-256, empty label) to the recipient's
 * RSA public key, AES-256-CBC with PKCS#7 padding and a random 16-byte IV. No MAC — as KMS.
 */
import { constants, createCipheriv, createHash, createPublicKey, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { zeroize } from '../../common/bytes.js';

const OID_ENVELOPED_DATA = '2a864886f70d010703';
const OID_DATA = '2a864886f70d010701';
const OID_AES_256_CBC = '60864801650304012a';
/** AlgorithmIdentifier id-RSAES-OAEP with explicit sha256 / mgf1(sha256) params and no pSource. */
const RSAES_OAEP_SHA256_ALGID =
  '303c06092a864886f70d010107302fa00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500';

/**
 * Size of each OCTET STRING chunk inside the constructed encryptedContent. Real KMS responses seen
 * so far carry a single chunk (≤ 48 bytes); splitting larger contents at 1 KiB is our assumption
 * (every known parser — SDK-C, enclaver, OpenSSL, ours — concatenates chunks).
 */
export const CMS_CONTENT_CHUNK = 1024;

/** Encrypts `plaintext` to the RSA key in `recipientSpkiDer` as a KMS-shaped CiphertextForRecipient. */
export function buildCiphertextForRecipient(plaintext: Uint8Array, recipientSpkiDer: Uint8Array): Uint8Array {
  const publicKey = createPublicKey({ key: Buffer.from(recipientSpkiDer), format: 'der', type: 'spki' });
  const cek = randomBytes(32);
  try {
    const iv = randomBytes(16);
    const encryptedKey = wrapKey(cek, publicKey);
    const cipher = createCipheriv('aes-256-cbc', cek, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const rid = createHash('sha256').update(recipientSpkiDer).digest();
    return encodeEnvelope({ rid, encryptedKey, iv, ciphertext });
  } finally {
    zeroize(cek);
  }
}

function wrapKey(cek: Buffer, publicKey: KeyObject): Buffer {
  return publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek);
}

/** The fields of an EnvelopedData, already encrypted; exposed so tests can build mutations. */
export interface EnvelopeFields {
  rid: Uint8Array;
  encryptedKey: Uint8Array;
  iv: Uint8Array;
  ciphertext: Uint8Array;
}

/** Encodes already-encrypted fields in KMS's BER layout. */
export function encodeEnvelope(f: EnvelopeFields): Uint8Array {
  const ktri = der(
    0x30,
    der(0x02, [2]),
    der(0x80, f.rid),
    Buffer.from(RSAES_OAEP_SHA256_ALGID, 'hex'),
    der(0x04, f.encryptedKey),
  );
  const chunks: Uint8Array[] = [];
  for (let off = 0; off < f.ciphertext.byteLength; off += CMS_CONTENT_CHUNK) {
    chunks.push(der(0x04, f.ciphertext.subarray(off, off + CMS_CONTENT_CHUNK)));
  }
  const encryptedContentInfo = indefinite(
    0x30,
    der(0x06, hexBytes(OID_DATA)),
    der(0x30, der(0x06, hexBytes(OID_AES_256_CBC)), der(0x04, f.iv)),
    indefinite(0xa0, ...chunks),
  );
  const envelopedData = indefinite(0x30, der(0x02, [2]), der(0x31, ktri), encryptedContentInfo);
  return indefinite(0x30, der(0x06, hexBytes(OID_ENVELOPED_DATA)), indefinite(0xa0, envelopedData));
}

/** A definite-length element with a minimal length. Children given as byte arrays are concatenated. */
function der(tag: number, ...content: Array<Uint8Array | number[]>): Uint8Array {
  const body = Buffer.concat(content.map((c) => (c instanceof Uint8Array ? c : Uint8Array.from(c))));
  return Buffer.concat([Uint8Array.of(tag), encodeLength(body.byteLength), body]);
}

/** A constructed element with indefinite length, closed by end-of-contents (00 00). */
function indefinite(tag: number, ...children: Uint8Array[]): Uint8Array {
  return Buffer.concat([Uint8Array.of(tag, 0x80), ...children, Uint8Array.of(0, 0)]);
}

function encodeLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

function hexBytes(h: string): Uint8Array {
  return Buffer.from(h, 'hex');
}
