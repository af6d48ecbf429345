/**
 * attestation/: Nitro attestation documents — strict COSE_Sign1/CBOR decoding, verification
 * against a pinned root with an injected clock and a PCR policy, PCR formulas, and a simulated
 * NSM that signs real-format documents under a local PKI. Depends on nothing of ours but common/.
 */
export { AttestationError, ATTESTATION_ERROR_CODES, type AttestationErrorCode } from './errors.js';
export {
  verifyAttestationDocument,
  checkRsaRecipientKey,
  documentSha256,
  type VerifyAttestationOptions,
  type VerifiedAttestation,
} from './verify.js';
export {
  awsNitroRootG1,
  trustedRootFromPem,
  trustedRootFromDer,
  derToPem,
  pemToDerList,
  AWS_NITRO_ROOT_G1_PEM,
  AWS_NITRO_ROOT_G1_SHA256,
  type TrustedRoot,
} from './roots.js';
export { decodeCoseSign1, sigStructure, type CoseSign1 } from './cose.js';
export { parseAttestationPayload, PAYLOAD_LIMITS, type AttestationPayload } from './payload.js';
export { decodeDocumentText, readDocumentFile } from './document-input.js';
export {
  extendPcr,
  pcr3ForRoleArn,
  pcr4ForInstanceId,
  pcr8ForSigningCertificate,
  instanceIdFromModuleId,
  normalizePcrHex,
  pcrEquals,
  isZeroPcr,
  isDebugMode,
  PCR_LENGTH,
  ZERO_PCR,
  ZERO_PCR_HEX,
} from './pcr.js';
export { SingleUseNonces } from './nonces.js';
export * from './receipt.js';
export {
  SimulatedNsmPki,
  SimulatedNsmError,
  buildAttestationDocument,
  signCoseSign1,
  type SimulatedNsmErrorCode,
  type AttestRequest,
  type SimulatedChain,
  type PkiLevel,
} from './simulated-nsm.js';
