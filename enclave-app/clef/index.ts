/**
 * enclave-app/clef: Clef compatibility — clef.yaml parsing, pack scope, the merge into Clef's
 * plaintext, packed artifact v1 (KMS envelope or age), clef-sig-v3 signing and verification,
 * and the runtime's decrypt. Read in data order: manifest → scope → merge → writer → verify.
 */
export { ClefError, isClefError, type ClefErrorCode } from './errors.js';
export * from './manifest-types.js';
export { parseManifest, parseManifestCached, validateManifest, formatYamlPath } from './manifest.js';
export { parseAwsKmsArn, regionFromKmsArn, type AwsKmsArn } from './aws-arn.js';
export { checkAgeRecipient } from './age-recipient.js';
export {
  cellPath,
  findServiceIdentity,
  resolvePackScope,
  type EnvelopeConfig,
  type PackScope,
  type ResolveScopeOptions,
  type ScopedCell,
} from './scope.js';
export {
  clefStringify,
  mergeNamespaces,
  mergeScopedValues,
  type CoercedValue,
  type MergeOptions,
  type MergedPlaintext,
  type NamespaceValues,
  type SopsValueLike,
} from './merge.js';
export {
  SIGNATURE_ALGORITHMS,
  SIGNATURE_PAYLOAD_VERSION,
  buildSigningPayload,
  serializeArtifact,
  type KmsEnvelope,
  type PackedArtifact,
  type SignatureAlgorithm,
} from './artifact.js';
export { fromBase64Strict, sha256HexOfString, toBase64 } from './encoding.js';
export {
  createDigestSigner,
  createEcdsaP256Signer,
  createEd25519Signer,
  signArtifact,
  type ArtifactSigner,
  type SignResult,
  type SigningKeyInput,
} from './signer.js';
export { importVerifyKey, verifySignatureBytes, type VerifyKey, type VerifyKeyInput } from './verify-key.js';
export {
  packArtifact,
  startKmsWrap,
  type PackArtifactOptions,
  type PendingKmsWrap,
  type PackedArtifactFile,
  type WrapKeyPort,
  type WrapKeyResult,
} from './writer.js';
export {
  MAX_ARTIFACT_BYTES,
  parseArtifact,
  verifyArtifact,
  type ParsedArtifact,
  type VerifiedArtifact,
  type VerifyArtifactOptions,
} from './verify.js';
export {
  decryptArtifact,
  parseClefPlaintext,
  type ClefPlaintext,
  type DecryptArtifactOptions,
  type UnwrapKeyPort,
  type UnwrapKeyRequest,
} from './runtime-decrypt.js';
