/** Errors of deploy/: an unusable deploy file, a directory not rendered or built yet, drift. */
import { AttestedPackError, type ErrorCategory, type ErrorOptions } from '../common/errors.js';

export type DeployErrorCode =
  /** The deploy file cannot be read or is not YAML. */
  | 'DEPLOY_FILE_UNREADABLE'
  /** The deploy file breaks the schema or a rule across fields; the message names the path. */
  | 'DEPLOY_FILE_INVALID'
  /**
   * The post-build files cannot be rendered: measurements.json is unreadable, missing where needed
   * (--rolling-from before the build), or the measurement of an image built with another /cmd.
   */
  | 'DEPLOY_NOT_RENDERED';

/** Raised by the deploy-file parser, the renderer and `deploy check`. */
export class DeployError extends AttestedPackError {
  static override defaultCategory: ErrorCategory = 'input';
  declare readonly code: DeployErrorCode;
  constructor(code: DeployErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
  }
}
