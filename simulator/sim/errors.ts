/** Failures of the `sim` launcher itself (the parts it drives raise their own typed errors). */
import { AttestedPackError, type ErrorCategory } from '../../common/errors.js';

/**
 * Codes of the launcher:
 * - SIM_ENCLAVE_START_FAILED  the enclave child process exited or stayed silent before listening
 * - SIM_ENCLAVE_EXITED        the enclave child process ended while the simulation needed it
 * - SIM_STATE_INVALID         a file in the state directory is unusable (the hint says which to delete)
 * - SIM_STATE_BUSY            another `sim` is using the same state directory
 * - SIM_PORT_IN_USE           the host proxy's --port is taken
 * - SIM_INTERRUPTED           Ctrl-C (SIGINT) or SIGTERM arrived before the run finished
 * - SIM_CHECK_FAILED          a step of the run failed (its own error is the cause)
 */
export type SimErrorCode =
  | 'SIM_ENCLAVE_START_FAILED'
  | 'SIM_ENCLAVE_EXITED'
  | 'SIM_STATE_INVALID'
  | 'SIM_STATE_BUSY'
  | 'SIM_PORT_IN_USE'
  | 'SIM_INTERRUPTED'
  | 'SIM_CHECK_FAILED';

/** An error of the local simulation launcher. */
export class SimError extends AttestedPackError {
  declare readonly code: SimErrorCode;
  static override defaultCategory: ErrorCategory = 'unavailable';
}
