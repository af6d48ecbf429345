/**
 * Encryption operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
 * GenerateDataKeyWithoutPlaintext, GenerateDataKeyPair, GenerateRandom.
 *
 * Attested calls (Decrypt, GenerateDataKey, GenerateDataKeyPair, GenerateRandom with `Recipient`):
 * the document is verified first (a bad one is AccessDenied), then its PCRs feed the key policy,
 * and the secret goes back only as CiphertextForRecipient — the plaintext field is omitted.
 * `Recipient` on any other operation is a ValidationException (KMS does not support it there).
 */
import { randomBytes } from 'node:crypto';
import { zeroize } from '../../common/bytes.js';
import { blobKeyId, openBlob, sealBlob } from './blob.js';
import { buildCiphertextForRecipient } from './cms-builder.js';
import { secretField, type Call, type OpHandler } from './core.js';
import { KmsApiError, validationError } from './errors.js';
import {
  createDataKeyPair,
  DATA_KEY_PAIR_SPECS,
  ENCRYPTION_ALGORITHMS,
  rsaOaepDecrypt,
  rsaOaepEncrypt,
  type EncryptionAlgorithm,
} from './key-material.js';
import { readRecipient, type VerifiedRecipient } from './recipient.js';
import type { KeyRecord } from './state.js';

/** Refuses `Recipient` where KMS does not support it. */
export function refuseRecipient(call: Call): void {
  if (call.input.has('Recipient')) throw validationError(`Recipient is not supported for ${call.op}; it is accepted by Decrypt, GenerateDataKey, GenerateDataKeyPair and GenerateRandom.`);
}

/** Reads the common optional members (GrantTokens ignored; DryRun refused rather than ignored). */
function commonMembers(call: Call): void {
  call.input.stringList('GrantTokens', 10);
  if (call.input.bool('DryRun') === true) throw new KmsApiError('UnsupportedOperationException', 'DryRun is not supported by the simulator.');
}

/** Verifies the Recipient of an attested call, if any. */
async function attestation(call: Call, action: string, resource: string): Promise<VerifiedRecipient | undefined> {
  const recipient = readRecipient(call.input);
  if (!recipient) return undefined;
  call.audit.requestParameters = { ...call.audit.requestParameters, recipient: { keyEncryptionAlgorithm: recipient.keyEncryptionAlgorithm } };
  return call.sim.verifyRecipient(call, recipient, action, resource);
}

function encryptUnder(call: Call, key: KeyRecord, alg: EncryptionAlgorithm, plaintext: Buffer, ec: Record<string, string> | undefined): Buffer {
  call.sim.requireEncryptionAlgorithm(key, alg);
  if (alg === 'SYMMETRIC_DEFAULT') return sealBlob(call.sim.material(key), key.keyId, plaintext, ec);
  if (ec && Object.keys(ec).length > 0) throw validationError('EncryptionContext is not supported with asymmetric KMS keys.');
  return rsaOaepEncrypt(call.sim.material(key), alg, plaintext);
}

/**
 * Finds the key a ciphertext belongs to: symmetric blobs name their key (KeyId optional, and
 * must match when given); asymmetric ciphertexts need KeyId.
 */
function keyForCiphertext(call: Call, blob: Buffer, keyIdParam: string | undefined, alg: EncryptionAlgorithm): KeyRecord {
  const named = keyIdParam === undefined ? undefined : call.sim.resolveKey(keyIdParam);
  if (alg !== 'SYMMETRIC_DEFAULT') {
    if (!named) throw new KmsApiError('InvalidCiphertextException', 'KeyId is required to decrypt with an asymmetric KMS key.');
    return named;
  }
  const id = blobKeyId(blob);
  const owner = id === undefined ? undefined : call.sim.state.getKey(id);
  if (!owner) {
    if (named && named.keySpec !== 'SYMMETRIC_DEFAULT') {
      throw new KmsApiError('InvalidKeyUsageException', `Algorithm SYMMETRIC_DEFAULT is incompatible with key spec ${named.keySpec}.`);
    }
    throw new KmsApiError('InvalidCiphertextException', 'The ciphertext is invalid, or the encryption context does not match.');
  }
  if (named && named.keyId !== owner.keyId) {
    throw new KmsApiError('IncorrectKeyException', 'The key ID in the request does not identify a KMS key that can perform this operation.');
  }
  return owner;
}

function decryptUnder(call: Call, key: KeyRecord, alg: EncryptionAlgorithm, blob: Buffer, ec: Record<string, string> | undefined): Buffer {
  call.sim.requireEncryptionAlgorithm(key, alg);
  if (alg === 'SYMMETRIC_DEFAULT') return openBlob(call.sim.material(key), blob, ec);
  return rsaOaepDecrypt(call.sim.material(key), alg, blob);
}

const encrypt: OpHandler = async (call) => {
  const { input, sim } = call;
  refuseRecipient(call);
  const keyIdParam = input.string('KeyId', { required: true, max: 2048 });
  const plaintext = input.blob('Plaintext', { required: true, max: 4096 });
  const ec = input.stringMap('EncryptionContext');
  const alg = input.enumOf('EncryptionAlgorithm', ENCRYPTION_ALGORITHMS) ?? 'SYMMETRIC_DEFAULT';
  commonMembers(call);
  call.audit.requestParameters = { keyId: keyIdParam, encryptionAlgorithm: alg, ...(ec ? { encryptionContext: ec } : {}) };
  try {
    const key = sim.resolveKey(keyIdParam);
    sim.noteResource(call, key);
    sim.authorize(call, 'kms:Encrypt', key, { ...(ec ? { encryptionContext: ec } : {}), conditionKeys: { 'kms:EncryptionAlgorithm': alg } });
    sim.requireUsable(key, 'ENCRYPT_DECRYPT');
    const blob = encryptUnder(call, key, alg, plaintext, ec);
    return { CiphertextBlob: blob.toString('base64'), KeyId: key.arn, EncryptionAlgorithm: alg };
  } finally {
    zeroize(plaintext);
  }
};

const decrypt: OpHandler = async (call) => {
  const { input, sim } = call;
  const blob = input.blob('CiphertextBlob', { required: true, max: 6144 });
  const keyIdParam = input.string('KeyId', { max: 2048 });
  const ec = input.stringMap('EncryptionContext');
  const alg = input.enumOf('EncryptionAlgorithm', ENCRYPTION_ALGORITHMS) ?? 'SYMMETRIC_DEFAULT';
  commonMembers(call);
  call.audit.requestParameters = { ...(keyIdParam ? { keyId: keyIdParam } : {}), encryptionAlgorithm: alg, ...(ec ? { encryptionContext: ec } : {}) };
  const key = keyForCiphertext(call, blob, keyIdParam, alg);
  sim.noteResource(call, key);
  call.audit.requestParameters.keyId = key.arn;
  const att = await attestation(call, 'kms:Decrypt', key.arn);
  sim.authorize(call, 'kms:Decrypt', key, {
    ...(ec ? { encryptionContext: ec } : {}),
    ...(att ? { attestation: att } : {}),
    conditionKeys: { 'kms:EncryptionAlgorithm': alg },
  });
  sim.requireUsable(key, 'ENCRYPT_DECRYPT');
  const plaintext = decryptUnder(call, key, alg, blob, ec);
  try {
    return secretField({ KeyId: key.arn, EncryptionAlgorithm: alg }, 'Plaintext', plaintext, att, buildCiphertextForRecipient);
  } finally {
    zeroize(plaintext);
  }
};

const reEncrypt: OpHandler = async (call) => {
  const { input, sim } = call;
  refuseRecipient(call);
  const blob = input.blob('CiphertextBlob', { required: true, max: 6144 });
  const sourceKeyIdParam = input.string('SourceKeyId', { max: 2048 });
  const destinationKeyIdParam = input.string('DestinationKeyId', { required: true, max: 2048 });
  const sourceEc = input.stringMap('SourceEncryptionContext');
  const destinationEc = input.stringMap('DestinationEncryptionContext');
  const sourceAlg = input.enumOf('SourceEncryptionAlgorithm', ENCRYPTION_ALGORITHMS) ?? 'SYMMETRIC_DEFAULT';
  const destinationAlg = input.enumOf('DestinationEncryptionAlgorithm', ENCRYPTION_ALGORITHMS) ?? 'SYMMETRIC_DEFAULT';
  commonMembers(call);
  call.audit.requestParameters = {
    destinationKeyId: destinationKeyIdParam,
    sourceEncryptionAlgorithm: sourceAlg,
    destinationEncryptionAlgorithm: destinationAlg,
    ...(sourceEc ? { sourceEncryptionContext: sourceEc } : {}),
    ...(destinationEc ? { destinationEncryptionContext: destinationEc } : {}),
  };
  const source = keyForCiphertext(call, blob, sourceKeyIdParam, sourceAlg);
  const destination = sim.resolveKey(destinationKeyIdParam);
  sim.noteResource(call, source);
  sim.noteResource(call, destination);
  sim.authorize(call, 'kms:ReEncryptFrom', source, { ...(sourceEc ? { encryptionContext: sourceEc } : {}) });
  sim.authorize(call, 'kms:ReEncryptTo', destination, { ...(destinationEc ? { encryptionContext: destinationEc } : {}) });
  sim.requireUsable(source, 'ENCRYPT_DECRYPT');
  sim.requireUsable(destination, 'ENCRYPT_DECRYPT');
  const plaintext = decryptUnder(call, source, sourceAlg, blob, sourceEc);
  try {
    const out = encryptUnder(call, destination, destinationAlg, plaintext, destinationEc);
    return {
      CiphertextBlob: out.toString('base64'),
      SourceKeyId: source.arn,
      KeyId: destination.arn,
      SourceEncryptionAlgorithm: sourceAlg,
      DestinationEncryptionAlgorithm: destinationAlg,
    };
  } finally {
    zeroize(plaintext);
  }
};

/** Data key length from KeySpec or NumberOfBytes (exactly one of them, as KMS requires). */
function dataKeyLength(call: Call): number {
  const keySpec = call.input.enumOf('KeySpec', ['AES_256', 'AES_128'] as const);
  const n = call.input.int('NumberOfBytes', { min: 1, max: 1024 });
  if ((keySpec === undefined) === (n === undefined)) throw validationError('Please specify either number of bytes or key spec.');
  call.audit.requestParameters = { ...call.audit.requestParameters, ...(keySpec ? { keySpec } : { numberOfBytes: n }) };
  return keySpec === 'AES_128' ? 16 : keySpec === 'AES_256' ? 32 : n!;
}

function generateDataKey(withPlaintext: boolean): OpHandler {
  return async (call) => {
    const { input, sim } = call;
    if (!withPlaintext) refuseRecipient(call);
    const keyIdParam = input.string('KeyId', { required: true, max: 2048 });
    const ec = input.stringMap('EncryptionContext');
    call.audit.requestParameters = { keyId: keyIdParam, ...(ec ? { encryptionContext: ec } : {}) };
    const length = dataKeyLength(call);
    commonMembers(call);
    const key = sim.resolveKey(keyIdParam);
    sim.noteResource(call, key);
    const action = withPlaintext ? 'kms:GenerateDataKey' : 'kms:GenerateDataKeyWithoutPlaintext';
    const att = withPlaintext ? await attestation(call, action, key.arn) : undefined;
    sim.authorize(call, action, key, { ...(ec ? { encryptionContext: ec } : {}), ...(att ? { attestation: att } : {}) });
    sim.requireUsable(key, 'ENCRYPT_DECRYPT');
    if (key.keySpec !== 'SYMMETRIC_DEFAULT') throw new KmsApiError('InvalidKeyUsageException', `${key.arn} is not a symmetric encryption key.`);
    const dataKey = randomBytes(length);
    try {
      const body: Record<string, unknown> = { CiphertextBlob: sealBlob(sim.material(key), key.keyId, dataKey, ec).toString('base64'), KeyId: key.arn };
      return withPlaintext ? secretField(body, 'Plaintext', dataKey, att, buildCiphertextForRecipient) : body;
    } finally {
      zeroize(dataKey);
    }
  };
}

const generateDataKeyPair: OpHandler = async (call) => {
  const { input, sim } = call;
  const keyIdParam = input.string('KeyId', { required: true, max: 2048 });
  const ec = input.stringMap('EncryptionContext');
  const pairSpec = input.enumOf('KeyPairSpec', DATA_KEY_PAIR_SPECS, true)!;
  commonMembers(call);
  call.audit.requestParameters = { keyId: keyIdParam, keyPairSpec: pairSpec, ...(ec ? { encryptionContext: ec } : {}) };
  const key = sim.resolveKey(keyIdParam);
  sim.noteResource(call, key);
  const att = await attestation(call, 'kms:GenerateDataKeyPair', key.arn);
  sim.authorize(call, 'kms:GenerateDataKeyPair', key, {
    ...(ec ? { encryptionContext: ec } : {}),
    ...(att ? { attestation: att } : {}),
    conditionKeys: { 'kms:DataKeyPairSpec': pairSpec },
  });
  sim.requireUsable(key, 'ENCRYPT_DECRYPT');
  if (key.keySpec !== 'SYMMETRIC_DEFAULT') throw new KmsApiError('InvalidKeyUsageException', `${key.arn} is not a symmetric encryption key.`);
  const { privateDer, publicDer } = await createDataKeyPair(pairSpec);
  try {
    const body: Record<string, unknown> = {
      PrivateKeyCiphertextBlob: sealBlob(sim.material(key), key.keyId, privateDer, ec).toString('base64'),
      PublicKey: publicDer.toString('base64'),
      KeyId: key.arn,
      KeyPairSpec: pairSpec,
    };
    return secretField(body, 'PrivateKeyPlaintext', privateDer, att, buildCiphertextForRecipient);
  } finally {
    zeroize(privateDer);
  }
};

const generateRandom: OpHandler = async (call) => {
  const { input } = call;
  const n = input.int('NumberOfBytes', { min: 1, max: 1024 });
  input.string('CustomKeyStoreId', { max: 64 });
  call.audit.requestParameters = n === undefined ? {} : { numberOfBytes: n };
  if (n === undefined) throw validationError("1 validation error detected: Value null at 'numberOfBytes' failed to satisfy constraint: Member must not be null");
  // No key, so no key policy: any authenticated caller may ask (IAM decides in AWS). A Recipient
  // document is still verified, and a bad one is still a denial.
  const att = await attestation(call, 'kms:GenerateRandom', '*');
  const bytes = randomBytes(n);
  try {
    return secretField({}, 'Plaintext', bytes, att, buildCiphertextForRecipient);
  } finally {
    zeroize(bytes);
  }
};

/** Encryption operations by name. */
export const CRYPTO_OPERATIONS: Record<string, OpHandler> = {
  Encrypt: encrypt,
  Decrypt: decrypt,
  ReEncrypt: reEncrypt,
  GenerateDataKey: generateDataKey(true),
  GenerateDataKeyWithoutPlaintext: generateDataKey(false),
  GenerateDataKeyPair: generateDataKeyPair,
  GenerateRandom: generateRandom,
};
