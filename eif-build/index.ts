/**
 * eif-build: the enclave image, reproducibly — esbuild bundle, rootfs, newc cpio, EIF v4
 * writer/reader/signer, PCR0/1/2/8 as AWS computes them, describe, measurements.json.
 * Depends on nothing of ours except common/.
 */
export { EifError, type EifErrorCode } from './errors.js';
export { bufferSource, fileSource, readAll, type ByteSource } from './byte-source.js';
export { crc32, crc32Combine } from './crc32.js';
export { pcrFromDigest, pcrOfBytes, pcrExtendRaw, PcrHasher, PCR_BYTES } from './pcr.js';
export {
  EIF_HEADER_SIZE,
  EIF_VERSION,
  MAX_SECTIONS,
  SECTION_HEADER_SIZE,
  SectionType,
  encodeHeader,
  encodeSectionHeader,
  parseHeader,
  type EifArch,
  type EifHeader,
  type SectionTypeName,
} from './header.js';
export { buildMetadata, encodeMetadata, formatBuildTime, kernelInfoFromConfig, sourceDateEpoch, type EifMetadata } from './metadata.js';
export { cpioArchive, LINUXKIT_MTIME, LINUXKIT_INO_START, type CpioArchive, type CpioEntry, type CpioOptions } from './cpio.js';
export { bootstrapRamdisk, type BootstrapInputs } from './bootstrap-ramdisk.js';
export { readElfDynamic, resolveRuntimeClosure, defaultLibraryDirs, type ElfDynamicInfo, type RuntimeFile } from './elf.js';
export {
  planRootfs,
  userRamdisk,
  entriesFromTree,
  writeTree,
  withParentsSorted,
  ADDON_ENV_VAR,
  IMAGE_BUNDLE_PATH,
  IMAGE_NODE_PATH,
  INIT_DIRECTORIES,
  type RootfsPlan,
  type RootfsSpec,
  type RuntimeChoice,
} from './rootfs.js';
export { bundleEnclave, findProjectRoot, DEFAULT_ENCLAVE_ENTRY, type BundleOptions, type BundleResult } from './bundle.js';
export {
  defaultBlobsDir,
  gitBlobId,
  loadBootBlobs,
  NITRO_CLI_CMDLINE,
  sha256File,
  sha256Of,
  SYNTHETIC_BLOBS_LABEL,
  syntheticBootBlobs,
  trimCmdline,
  type BlobPaths,
  type BootBlobs,
} from './blobs.js';
export {
  buildSignatureSection,
  decodeSignatureSection,
  encodePcrInfo,
  encodeSignatureSection,
  pcr8OfCertificate,
  verifyCose,
  SIGNATURE_MAX_SIZE,
} from './signature.js';
export { writeEif, type EifContents, type EifPcrs, type EifSigner, type WrittenEif } from './eif-writer.js';
export { describeEif, inspectEif, verifyEif, HASH_ALGORITHM, type EifDescription, type EifInspection, type EifSectionInfo } from './eif-reader.js';
export { buildEif, writeMeasurements, type BootChoice, type BuildEifOptions, type BuildEifResult, type UserRamdiskChoice } from './build.js';
export { measureEnclaveBundle, type MeasureEnclaveOptions } from './measure.js';
export {
  generateImageLock,
  lockedBuild,
  parseImageLock,
  readImageLock,
  syntheticPcr1,
  writeImageLock,
  IMAGE_FILE_TIMESTAMP,
  IMAGE_LOCK_PATH,
  RUNTIME_PREFIX,
  type ImageKind,
  type ImageLock,
  type LockedBuildOptions,
  type LockedBuildResult,
} from './lock.js';
export { compileAddon, ADDON_FILE_NAME, type Toolchain } from './addon.js';
