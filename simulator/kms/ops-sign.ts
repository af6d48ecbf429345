/**
 * Signing operations: Sign, Verify, GetPublicKey. KMS cannot gate these on attestation
 * (`Recipient` is refused), which is why attested-pack prefers a sealed signing key.
 */
import { type Call, type OpHandler } from './core.js';
import { KmsApiError } from './errors.js';
import {
  encryptionAlgorithmsFor,
  publicKeyDer,
  signingAlgorithmsFor,
  signMessage,
  SIGNING_ALGORITHMS,
  verifySignature,
  type SigningAlgorithm,
} from './key-material.js';
import { refuseRecipient } from './ops-crypto.js';
import type { KeyRecord } from './state.js';

/** Reads the members Sign and Verify share and checks the algorithm against the key. */
function signingRequest(call: Call, action: 'kms:Sign' | 'kms:Verify'): { key: KeyRecord; message: Buffer; messageType: 'RAW' | 'DIGEST'; alg: SigningAlgorithm } {
  const { input, sim } = call;
  refuseRecipient(call);
  const keyIdParam = input.string('KeyId', { required: true, max: 2048 });
  const message = input.blob('Message', { required: true, max: 4096 });
  const messageType = input.enumOf('MessageType', ['RAW', 'DIGEST'] as const) ?? 'RAW';
  const alg = input.enumOf('SigningAlgorithm', SIGNING_ALGORITHMS, true)!;
  input.stringList('GrantTokens', 10);
  call.audit.requestParameters = { keyId: keyIdParam, messageType, signingAlgorithm: alg };
  const key = sim.resolveKey(keyIdParam);
  sim.noteResource(call, key);
  sim.authorize(call, action, key, { conditionKeys: { 'kms:SigningAlgorithm': alg, 'kms:MessageType': messageType } });
  sim.requireUsable(key, 'SIGN_VERIFY');
  if (!(signingAlgorithmsFor(key.keySpec, key.keyUsage) ?? []).includes(alg)) {
    throw new KmsApiError('InvalidKeyUsageException', `Algorithm ${alg} is incompatible with key spec ${key.keySpec}.`);
  }
  return { key, message, messageType, alg };
}

const sign: OpHandler = async (call) => {
  const { key, message, messageType, alg } = signingRequest(call, 'kms:Sign');
  const signature = signMessage(call.sim.material(key), alg, message, messageType);
  return { KeyId: key.arn, Signature: signature.toString('base64'), SigningAlgorithm: alg };
};

const verify: OpHandler = async (call) => {
  const signature = call.input.blob('Signature', { required: true, max: 6144 });
  const { key, message, messageType, alg } = signingRequest(call, 'kms:Verify');
  if (!verifySignature(call.sim.material(key), alg, message, messageType, signature)) {
    throw new KmsApiError('KMSInvalidSignatureException', 'The signature is not valid for this message, key and algorithm.');
  }
  return { KeyId: key.arn, SignatureValid: true, SigningAlgorithm: alg };
};

const getPublicKey: OpHandler = async (call) => {
  const { input, sim } = call;
  refuseRecipient(call);
  const keyIdParam = input.string('KeyId', { required: true, max: 2048 });
  input.stringList('GrantTokens', 10);
  call.audit.requestParameters = { keyId: keyIdParam };
  const key = sim.resolveKey(keyIdParam);
  sim.noteResource(call, key);
  sim.authorize(call, 'kms:GetPublicKey', key);
  sim.requireUsable(key);
  if (key.keySpec === 'SYMMETRIC_DEFAULT') throw new KmsApiError('UnsupportedOperationException', `${key.arn} key usage is not asymmetric: GetPublicKey is not supported.`);
  const enc = encryptionAlgorithmsFor(key.keySpec, key.keyUsage);
  const sig = signingAlgorithmsFor(key.keySpec, key.keyUsage);
  return {
    KeyId: key.arn,
    PublicKey: publicKeyDer(sim.material(key)).toString('base64'),
    CustomerMasterKeySpec: key.keySpec,
    KeySpec: key.keySpec,
    KeyUsage: key.keyUsage,
    ...(enc ? { EncryptionAlgorithms: enc } : {}),
    ...(sig ? { SigningAlgorithms: sig } : {}),
  };
};

/** Signing operations by name. */
export const SIGN_OPERATIONS: Record<string, OpHandler> = { Sign: sign, Verify: verify, GetPublicKey: getPublicKey };
