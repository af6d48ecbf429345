/**
 * simulator/kms: a local KMS that the real @aws-sdk/client-kms cannot tell from AWS KMS for the
 * calls attested-pack makes — AWS JSON 1.1 on loopback, SigV4, key policies evaluated by
 * kms-policies/, attested Recipient calls answered with KMS's exact CiphertextForRecipient, durable
 * state, a CloudTrail-shaped audit log, and fault knobs.
 */
export {
  startKmsSimulator,
  OPERATIONS,
  DEFAULT_BODY_LIMIT,
  type KmsSimulatorOptions,
  type KmsSimulatorHandle,
  type KmsCallRecord,
} from './server.js';
export { KmsApiError, KmsSimError, type KmsErrorType, type KmsSimErrorCode } from './errors.js';
export { type KmsFaults } from './faults.js';
export { type SimCredential, MAX_SIGNATURE_SKEW_MS } from './sigv4.js';
export {
  attestationRecipientVerifier,
  DEFAULT_MAX_ATTESTATION_AGE_MS,
  type RecipientDocumentVerifier,
  type VerifiedRecipient,
} from './recipient.js';
export { buildCiphertextForRecipient, encodeEnvelope, CMS_CONTENT_CHUNK, type EnvelopeFields } from './cms-builder.js';
export { KmsState, STATE_FILE, type KeyRecord, type AliasRecord, type KeyState } from './state.js';
export { type AuditEvent, type AuditIdentity } from './audit.js';
export { defaultKeyPolicy } from './ops-keys.js';
export {
  DEMO_CREDENTIALS,
  DEMO_ACCOUNT_ID,
  DEMO_ENCLAVE_ROLE_ARN,
  DEMO_RUNTIME_ROLE_ARN,
  DEMO_KEYS,
  createDemoKeys,
} from './demo.js';
export { KEY_SPECS, type KeySpec, type KeyUsage } from './key-material.js';
