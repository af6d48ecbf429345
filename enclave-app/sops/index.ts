/**
 * enclave-app/sops: a complete, exact SOPS codec. Decrypt (age, KMS via an injected function,
 * PGP, Shamir key groups; MAC always verified) and encrypt (age, KMS) YAML, JSON, dotenv, INI
 * and binary files the way sops does. See reference/sops-format.md for the format.
 */
export { SopsError, isSopsError, describePath, type SopsErrorCode } from './errors.js';
export {
  SopsMap,
  SopsComment,
  SopsInt,
  SopsFloat,
  SopsBytes,
  SopsTime,
  sopsMap,
  isLeaf,
  type SopsValue,
  type SopsSeq,
  type SopsMapItem,
  type SopsMapEntry,
  type SopsTree,
} from './tree.js';
export {
  decryptSops,
  decryptSopsFile,
  decryptSopsWithDataKey,
  loadSopsFile,
  readSopsMetadata,
  sopsFileMetadata,
  type LoadedSopsFile,
  macAad,
  type SopsDecrypted,
  type SopsDecryptOptions,
  type SopsFileMetadata,
} from './decrypt.js';
export { gcmBackend, type GcmBackend } from './gcm-batch.js';
export { encryptSops, encryptSopsFile, type SopsEncryptOptions, type SopsMasterKeySpec } from './encrypt.js';
export { recoverDataKey, describeMasterKey, type SopsKeySources, type KeyAttempt } from './data-key.js';
export type {
  SopsFormat,
  SopsMetadata,
  SopsMasterKey,
  SopsKeyType,
  AgeMasterKey,
  KmsMasterKey,
  PgpMasterKey,
  OtherMasterKey,
} from './metadata.js';
export { detectSopsFormat, parseSopsFormat } from './format.js';
export { parseExtractPath, extractValue, type ExtractStep } from './extract.js';
export { emitPlainFile, loadPlainFile, loadEncryptedFile } from './stores/index.js';
export { emitYamlValue } from './stores/yaml-emit.js';
export { emitJsonValue } from './stores/json.js';
export { parseAgeIdentities, ageUnwrap, ageWrap } from './keys/age.js';
export { kmsRegionFromArn, type KmsUnwrap, type KmsUnwrapRequest, type KmsWrap, type KmsWrapRequest } from './keys/kms.js';
export { splitArmoredKeys } from './keys/pgp.js';
export { shamirSplit, shamirCombine } from './shamir.js';
export { layoutForVersion, DEFAULT_SOPS_VERSION, type SopsLayout } from './layout.js';
export { DEFAULT_RULE, compileRe2, type CryptRule, type CryptRuleKind } from './rules.js';
export { goFormatFloatF, goFormatFloatYaml, goFormatFloatJson } from './go-format.js';
export { createSdkKms, type SdkKmsOptions } from './keys/kms-sdk.js';
