/**
 * deploy/: one deployment file (`attested-pack.deploy.yaml`) from which the image's /cmd, the key
 * policies, the host-proxy configuration, the launch template and the auditor's expectations are
 * rendered, and `deploy check`, which names every drift between the file and a rendered directory.
 */
export { DeployError, type DeployErrorCode } from './errors.js';
export { DEPLOY_SCHEMA, validateAgainstSchema } from './schema.js';
export { parseDeployFile, loadDeployFile, cellName, DEPLOY_FILE_NAME, type DeployConfig, type Cell, type Envelope, type OidcRule, type TokenRule } from './file.js';
export {
  renderDeployment,
  deployKeys,
  serveArgs,
  imageCmd,
  imageCmdText,
  eifBuildArgs,
  keyPolicy,
  rollingKeyPolicy,
  expectations,
  MEASUREMENTS_FILE,
  type DeployKey,
  type SimulationOverlay,
  type RenderedFiles,
} from './render.js';
export { checkDeployment, formatDriftReport, type DriftItem, type DriftReport } from './check.js';
