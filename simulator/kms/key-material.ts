/**
 * Key material of simulated KMS keys and the cryptography KMS performs with it: asymmetric
 * signing (RAW messages and pre-hashed DIGESTs, as KMS accepts both), RSA-OAEP encryption, public
 * keys as DER SPKI, and data key pairs. Symmetric keys are 32 random bytes used by blob.ts.
 */
import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  privateDecrypt,
  privateEncrypt,
  publicDecrypt,
  publicEncrypt,
  randomBytes,
  sign as nodeSign,
  timingSafeEqual,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import { p256, p384 } from '@noble/curves/nist.js';
import { KmsApiError, validationError } from './errors.js';

export const KEY_SPECS = ['SYMMETRIC_DEFAULT', 'ECC_NIST_P256', 'ECC_NIST_P384', 'RSA_2048', 'RSA_3072', 'RSA_4096'] as const;
export type KeySpec = (typeof KEY_SPECS)[number];
export type KeyUsage = 'ENCRYPT_DECRYPT' | 'SIGN_VERIFY';

export const SIGNING_ALGORITHMS = [
  'ECDSA_SHA_256',
  'ECDSA_SHA_384',
  'RSASSA_PSS_SHA_256',
  'RSASSA_PSS_SHA_384',
  'RSASSA_PSS_SHA_512',
  'RSASSA_PKCS1_V1_5_SHA_256',
  'RSASSA_PKCS1_V1_5_SHA_384',
  'RSASSA_PKCS1_V1_5_SHA_512',
] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

export const ENCRYPTION_ALGORITHMS = ['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] as const;
export type EncryptionAlgorithm = (typeof ENCRYPTION_ALGORITHMS)[number];

export const DATA_KEY_PAIR_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1'] as const;
export type DataKeyPairSpec = (typeof DATA_KEY_PAIR_SPECS)[number];

/** The usages a key spec may have (SYMMETRIC_DEFAULT only encrypts; ECC only signs). */
export function usagesFor(spec: KeySpec): KeyUsage[] {
  if (spec === 'SYMMETRIC_DEFAULT') return ['ENCRYPT_DECRYPT'];
  if (spec.startsWith('ECC_')) return ['SIGN_VERIFY'];
  return ['ENCRYPT_DECRYPT', 'SIGN_VERIFY'];
}

/** DescribeKey's SigningAlgorithms for a key. */
export function signingAlgorithmsFor(spec: KeySpec, usage: KeyUsage): SigningAlgorithm[] | undefined {
  if (usage !== 'SIGN_VERIFY') return undefined;
  if (spec === 'ECC_NIST_P256') return ['ECDSA_SHA_256'];
  if (spec === 'ECC_NIST_P384') return ['ECDSA_SHA_384'];
  return SIGNING_ALGORITHMS.filter((a) => a.startsWith('RSASSA_'));
}

/** DescribeKey's EncryptionAlgorithms for a key. */
export function encryptionAlgorithmsFor(spec: KeySpec, usage: KeyUsage): EncryptionAlgorithm[] | undefined {
  if (usage !== 'ENCRYPT_DECRYPT') return undefined;
  return spec === 'SYMMETRIC_DEFAULT' ? ['SYMMETRIC_DEFAULT'] : ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'];
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** Generates a key pair off the event loop (RSA-4096 takes seconds; the server must keep serving). */
async function keyPair(spec: KeySpec | DataKeyPairSpec): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  if (spec.startsWith('RSA_')) return generateKeyPairAsync('rsa', { modulusLength: Number(spec.slice(4)) });
  const namedCurve = { ECC_NIST_P256: 'P-256', ECC_NIST_P384: 'P-384', ECC_NIST_P521: 'P-521', ECC_SECG_P256K1: 'secp256k1' }[spec as 'ECC_NIST_P256'];
  return generateKeyPairAsync('ec', { namedCurve });
}

/** New key material: 32 random bytes, or a PKCS#8 DER private key. */
export async function createKeyMaterial(spec: KeySpec): Promise<Buffer> {
  if (spec === 'SYMMETRIC_DEFAULT') return randomBytes(32);
  return pkcs8((await keyPair(spec)).privateKey);
}

/** A fresh data key pair (GenerateDataKeyPair): PKCS#8 private and SPKI public DER. */
export async function createDataKeyPair(spec: DataKeyPairSpec): Promise<{ privateDer: Buffer; publicDer: Buffer }> {
  const kp = await keyPair(spec);
  return { privateDer: pkcs8(kp.privateKey), publicDer: kp.publicKey.export({ format: 'der', type: 'spki' }) };
}

/** The DER SubjectPublicKeyInfo of an asymmetric key. */
export function publicKeyDer(material: Buffer): Buffer {
  return createPublicKey(privateKeyObject(material)).export({ format: 'der', type: 'spki' });
}

function privateKeyObject(material: Buffer): KeyObject {
  return createPrivateKey({ key: material, format: 'der', type: 'pkcs8' });
}

function pkcs8(k: KeyObject): Buffer {
  return k.export({ format: 'der', type: 'pkcs8' });
}

const HASH_OF: Record<SigningAlgorithm, 'sha256' | 'sha384' | 'sha512'> = {
  ECDSA_SHA_256: 'sha256',
  ECDSA_SHA_384: 'sha384',
  RSASSA_PSS_SHA_256: 'sha256',
  RSASSA_PSS_SHA_384: 'sha384',
  RSASSA_PSS_SHA_512: 'sha512',
  RSASSA_PKCS1_V1_5_SHA_256: 'sha256',
  RSASSA_PKCS1_V1_5_SHA_384: 'sha384',
  RSASSA_PKCS1_V1_5_SHA_512: 'sha512',
};
const HASH_LEN = { sha256: 32, sha384: 48, sha512: 64 } as const;
/** DER DigestInfo prefixes (RFC 8017 §9.2 note 1). */
const DIGEST_INFO = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
} as const;

/** Checks a message for Sign/Verify and returns the digest KMS would sign. */
function digestFor(alg: SigningAlgorithm, message: Buffer, messageType: 'RAW' | 'DIGEST'): Buffer {
  const hash = HASH_OF[alg];
  if (messageType === 'RAW') return createHash(hash).update(message).digest();
  if (message.byteLength !== HASH_LEN[hash]) throw validationError(`Digest is invalid length for algorithm ${alg}.`);
  return message;
}

/** KMS Sign: a DER ECDSA signature, or an RSA PSS / PKCS#1 v1.5 signature. */
export function signMessage(material: Buffer, alg: SigningAlgorithm, message: Buffer, messageType: 'RAW' | 'DIGEST'): Buffer {
  const key = privateKeyObject(material);
  const hash = HASH_OF[alg];
  const digest = digestFor(alg, message, messageType);
  if (alg.startsWith('ECDSA_')) {
    if (messageType === 'RAW') return nodeSign(hash, message, key);
    const curve = alg === 'ECDSA_SHA_256' ? p256 : p384;
    const d = Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url');
    return Buffer.from(curve.sign(digest, d, { prehash: false, format: 'der', lowS: false, extraEntropy: true }));
  }
  if (alg.startsWith('RSASSA_PSS_')) {
    if (messageType === 'RAW') return nodeSign(hash, message, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_LEN[hash] });
    return rsaRaw(key, emsaPssEncode(digest, hash, modulusBits(key) - 1), 'private');
  }
  if (messageType === 'RAW') return nodeSign(hash, message, { key, padding: constants.RSA_PKCS1_PADDING });
  return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([DIGEST_INFO[hash], digest]));
}

/** KMS Verify: true only for a valid signature over the message (or digest). */
export function verifySignature(
  material: Buffer,
  alg: SigningAlgorithm,
  message: Buffer,
  messageType: 'RAW' | 'DIGEST',
  signature: Buffer,
): boolean {
  const pub = createPublicKey(privateKeyObject(material));
  const hash = HASH_OF[alg];
  const digest = digestFor(alg, message, messageType);
  try {
    if (alg.startsWith('ECDSA_')) {
      if (messageType === 'RAW') return nodeVerify(hash, message, pub, signature);
      const curve = alg === 'ECDSA_SHA_256' ? p256 : p384;
      const jwk = pub.export({ format: 'jwk' });
      const point = Buffer.concat([Uint8Array.of(4), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
      return curve.verify(signature, digest, point, { prehash: false, format: 'der', lowS: false });
    }
    if (alg.startsWith('RSASSA_PSS_')) {
      if (messageType === 'RAW') return nodeVerify(hash, message, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_LEN[hash] }, signature);
      const em = rsaRaw(pub, signature, 'public');
      return emsaPssVerify(digest, em, hash, modulusBits(pub) - 1);
    }
    if (messageType === 'RAW') return nodeVerify(hash, message, { key: pub, padding: constants.RSA_PKCS1_PADDING }, signature);
    const recovered = publicDecrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, signature);
    const expected = Buffer.concat([DIGEST_INFO[hash], digest]);
    return recovered.byteLength === expected.byteLength && timingSafeEqual(recovered, expected);
  } catch {
    return false; // malformed signatures are simply invalid
  }
}

/** RSA-OAEP encryption with an asymmetric ENCRYPT_DECRYPT key (what KMS Encrypt returns). */
export function rsaOaepEncrypt(material: Buffer, alg: 'RSAES_OAEP_SHA_1' | 'RSAES_OAEP_SHA_256', plaintext: Buffer): Buffer {
  const pub = createPublicKey(privateKeyObject(material));
  const hash = alg === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256';
  const max = modulusBits(pub) / 8 - 2 * (hash === 'sha1' ? 20 : 32) - 2;
  if (plaintext.byteLength > max) throw validationError(`Plaintext must be at most ${max} bytes for ${alg} with this key.`);
  return publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, plaintext);
}

/** RSA-OAEP decryption; any failure is InvalidCiphertextException. */
export function rsaOaepDecrypt(material: Buffer, alg: 'RSAES_OAEP_SHA_1' | 'RSAES_OAEP_SHA_256', ciphertext: Buffer): Buffer {
  try {
    return privateDecrypt(
      { key: privateKeyObject(material), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: alg === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256' },
      ciphertext,
    );
  } catch {
    throw new KmsApiError('InvalidCiphertextException', 'The ciphertext is invalid for this key and algorithm.');
  }
}

function modulusBits(k: KeyObject): number {
  return k.asymmetricKeyDetails?.modulusLength ?? 0;
}

/** Raw RSA (no padding) in either direction, for PSS over a caller-supplied digest. */
function rsaRaw(k: KeyObject, data: Buffer, direction: 'private' | 'public'): Buffer {
  const size = modulusBits(k) / 8;
  const padded = Buffer.concat([Buffer.alloc(Math.max(0, size - data.byteLength)), data]);
  return direction === 'private'
    ? privateEncrypt({ key: k, padding: constants.RSA_NO_PADDING }, padded)
    : publicDecrypt({ key: k, padding: constants.RSA_NO_PADDING }, padded);
}

function mgf1(seed: Buffer, length: number, hash: string): Buffer {
  const out: Buffer[] = [];
  for (let counter = 0; out.length * HASH_LEN[hash as 'sha256'] < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    out.push(createHash(hash).update(seed).update(c).digest());
  }
  return Buffer.concat(out).subarray(0, length);
}

/** EMSA-PSS-ENCODE (RFC 8017 §9.1.1) with MGF1 over the same hash and salt length = hash length. */
function emsaPssEncode(mHash: Buffer, hash: 'sha256' | 'sha384' | 'sha512', emBits: number): Buffer {
  const hLen = HASH_LEN[hash];
  const emLen = Math.ceil(emBits / 8);
  const salt = randomBytes(hLen);
  const h = createHash(hash).update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  const db = Buffer.concat([Buffer.alloc(emLen - 2 * hLen - 2), Uint8Array.of(1), salt]);
  const masked = xor(db, mgf1(h, db.byteLength, hash));
  masked[0]! &= 0xff >> (8 * emLen - emBits);
  return Buffer.concat([masked, h, Uint8Array.of(0xbc)]);
}

/** EMSA-PSS-VERIFY (RFC 8017 §9.1.2) for the encoding above. */
function emsaPssVerify(mHash: Buffer, emFull: Buffer, hash: 'sha256' | 'sha384' | 'sha512', emBits: number): boolean {
  const hLen = HASH_LEN[hash];
  const emLen = Math.ceil(emBits / 8);
  const em = emFull.subarray(emFull.byteLength - emLen);
  if (emFull.subarray(0, emFull.byteLength - emLen).some((b) => b !== 0)) return false;
  if (em[emLen - 1] !== 0xbc) return false;
  const masked = em.subarray(0, emLen - hLen - 1);
  const h = em.subarray(emLen - hLen - 1, emLen - 1);
  if ((masked[0]! & ~(0xff >> (8 * emLen - emBits)) & 0xff) !== 0) return false;
  const db = xor(masked, mgf1(h, masked.byteLength, hash));
  db[0]! &= 0xff >> (8 * emLen - emBits);
  const psLen = emLen - 2 * hLen - 2;
  if (db.subarray(0, psLen).some((b) => b !== 0) || db[psLen] !== 1) return false;
  const salt = db.subarray(psLen + 1);
  const h2 = createHash(hash).update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  return timingSafeEqual(h, h2);
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.byteLength);
  for (let i = 0; i < a.byteLength; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}
