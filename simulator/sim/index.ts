/**
 * simulator/sim: the one-command local simulation (`attested-pack sim`, `npm start`) and the
 * programmatic API tests use to bring the whole chain up. Read in order: paths → launcher
 * (steps 1–5: state-lock.ts, measure.ts, demo-step.ts, sealed-key.ts, enclave-process.ts, proxy.ts,
 * enclave-checks.ts) → run (step 6) → report.
 */
export { SimError, type SimErrorCode } from './errors.js';
export { simPaths, outputPaths, DEFAULT_STATE_DIR, type SimPaths } from './paths.js';
export { CheckRecorder, type SimCheck, type SimCheckStatus } from './checks.js';
export { bundleAndMeasure, measureBundle, defaultEnclaveEntry, type MeasuredEnclave } from './measure.js';
export { startEnclaveProcess, endStaleEnclave, enclaveServeArgs, type EnclaveProcess, type EnclaveProcessOptions } from './enclave-process.js';
export { startSimProxy, writeProxyConfig, type SimProxy, type SimProxyOptions, type UnsealOutcome } from './proxy.js';
export { ensureSealedKey } from './sealed-key.js';
export { writeDemoRepo } from './demo-step.js';
export { checkEnclaveAttests, sealedKeyCheck } from './enclave-checks.js';
export { lockStateDir } from './state-lock.js';
export { startSim, SIM_REGION, type StartSimOptions, type SimHandle, type SimReuse } from './launcher.js';
export {
  runSim,
  packThroughProxy,
  packAndVerify,
  verifyReceiptArgs,
  expectReceiptArgs,
  verifyWithCli,
  writeSigningPublicKey,
  SIM_REPOSITORY,
  type RunSimOptions,
  type SimPackOptions,
  type SimPackOutcome,
  type SimSummary,
} from './run.js';
export { formatSimAccount, displayPath, shellWord } from './report.js';
export { registerSimCommand, INTERRUPTED_EXIT_CODE } from './cli.js';
