/**
 * Sealed Ed25519 signing keys: the private half is encrypted under a KMS key whose policy allows
 * Decrypt only with Recipient conditions on the enclave's measurements, so only that enclave
 * image can unseal it — and a valid signature by it proves the enclave made the artifact.
 *
 * `createSealedKey` runs on the operator's machine (plain KMS Encrypt); `unsealSigningKey` runs
 * in the enclave (attested Decrypt → CiphertextForRecipient → PKCS#8 → KeyObject).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { bytesEqual, zeroize } from '../../common/bytes.js';
import { InputError } from '../../common/errors.js';
import { parseSealedKeyFile as parseSealedKeyFileText, SEALED_KEY_FILE_TYPE, type SealedKeyFile, type SealedSigningKey } from '../protocol.js';
import type { KmsPort, RecipientMaterial } from '../kms/client.js';
import { PackError } from './errors.js';

/** Generates an Ed25519 pair and seals the private half with `encrypt` (KMS Encrypt under the seal key). */
export async function createSealedKey(
  kmsKeyId: string,
  encrypt: (plaintext: Uint8Array) => Promise<{ ciphertextBlob: Uint8Array; keyId: string }>,
): Promise<SealedKeyFile> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  try {
    const out = await encrypt(pkcs8);
    return {
      type: SEALED_KEY_FILE_TYPE,
      kmsKeyId: out.keyId || kmsKeyId,
      ciphertextBlob: Buffer.from(out.ciphertextBlob).toString('base64'),
      publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    };
  } finally {
    zeroize(pkcs8);
  }
}

/** Parses a sealed-key file strictly into the protocol form (InputError naming the source). */
export function parseSealedKeyFile(text: string, source = 'sealed key file'): SealedSigningKey {
  const parsed = parseSealedKeyFileText(text);
  if (!parsed.ok) {
    throw new InputError('SEALED_KEY_INVALID', `${source} ${parsed.reason}`, { hint: 'pass the file written by `attested-pack sealed-key create`' });
  }
  return parsed.key;
}

/**
 * Unseals inside the enclave. Any KMS refusal surfaces as the KMS error (e.g. KMS_ACCESS_DENIED
 * naming the seal key); a key that does not match its recorded public half is refused.
 */
export async function unsealSigningKey(
  sealed: SealedSigningKey,
  kms: KmsPort,
  recipient: RecipientMaterial,
): Promise<{ privateKey: KeyObject; publicKeySpki: Uint8Array; sealKeyId: string }> {
  const pkcs8 = await kms.decryptForRecipient({ ciphertextBlob: sealed.ciphertextBlob, keyId: sealed.kmsKeyId, recipient });
  try {
    let privateKey: KeyObject;
    try {
      // A view, not a copy: the only buffer holding the key is the one zeroised below.
      privateKey = createPrivateKey({ key: Buffer.from(pkcs8.buffer, pkcs8.byteOffset, pkcs8.byteLength), format: 'der', type: 'pkcs8' });
    } catch {
      throw new PackError('PACK_SIGNING_NOT_READY', `the key sealed under ${sealed.kmsKeyId} is not a PKCS#8 private key`);
    }
    if (privateKey.asymmetricKeyType !== 'ed25519') {
      throw new PackError('PACK_SIGNING_NOT_READY', `the key sealed under ${sealed.kmsKeyId} is not Ed25519`);
    }
    const spki = new Uint8Array(createPublicKey(privateKey).export({ type: 'spki', format: 'der' }));
    if (!bytesEqual(spki, sealed.publicKey)) {
      throw new PackError('PACK_SIGNING_NOT_READY', `the key sealed under ${sealed.kmsKeyId} does not match its recorded public key`, {
        hint: 'the sealed key file was edited or mixed up; create a new one with `attested-pack sealed-key create`',
      });
    }
    return { privateKey, publicKeySpki: spki, sealKeyId: sealed.kmsKeyId };
  } finally {
    zeroize(pkcs8);
  }
}
