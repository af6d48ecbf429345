/**
 * enclave-app/: what runs inside the enclave. Read in the order the data moves: protocol →
 * server → pack pipeline (clef scope, attested KMS, SOPS, merge, artifact, receipt) → adapters
 * (KMS client, NSM).
 */
export * from './protocol.js';
export { startEnclaveServer, type EnclaveServer, type EnclaveServerOptions, type EnclaveLogEvent } from './server.js';
export { runPack, digests, type PackPorts, type AttestPort, type SigningSetup } from './pack/pipeline.js';
export { PackError, type PackErrorCode } from './pack/errors.js';
export { RecipientKeyRing, type RecipientKey, type RecipientKeyRingOptions } from './pack/recipient-keys.js';
export { createSealedKey, parseSealedKeyFile as readSealedKeyText, unsealSigningKey } from './pack/sealed-key.js';
export { KmsConnection, RelayTlsAgent, mapSdkError, type KmsPort, type KmsConnectionOptions, type RecipientMaterial, type RecipientDecryptRequest } from './kms/client.js';
export { KmsError, type KmsErrorCode } from './kms/errors.js';
export { decryptCiphertextForRecipient, parseCiphertextForRecipient, CmsError } from './kms/cms.js';
export * as nsm from './nsm/index.js';
export * as sops from './sops/index.js';
export * as clef from './clef/index.js';
