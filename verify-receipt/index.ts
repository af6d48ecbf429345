/**
 * verify-receipt/: the auditor's CLI. Offline, fail-closed verification of a pack receipt
 * against the enclave measurements, the artifact, the git history and the expected keys.
 */
export { runVerifyReceipt, buildVerifyReceiptProgram, type VerifyReceiptEnv } from './cli.js';
export { runChecks, type VerificationPlan } from './checks.js';
export {
  DEFAULT_MANIFEST_PATH,
  missingBindings,
  type Expectations,
  type ExpectedMeasurements,
  type KeyPolicyExpectation,
  type PcrAlternative,
} from './expectations.js';
export { makeReport, formatHumanReport, formatJsonReport, type CheckResult, type CheckStatus, type ReceiptSummary, type VerificationReport } from './report.js';
export { parseDuration, formatDuration } from './duration.js';
export { GitRepo, type BlobLookup } from './git.js';
export { VerifyInputError, type VerifyInputErrorCode } from './errors.js';
export {
  loadExpectedMeasurements,
  loadReceipt,
  loadTrustedRoots,
  loadVerifyKey,
  loadArtifact,
  PCR_FLAG_INDICES,
  PARENT_PCR_INDICES,
  parseRoleArnFlag,
  parseManifestFlag,
  type MeasurementSources,
} from './inputs.js';
