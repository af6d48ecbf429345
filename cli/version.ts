/** Re-export: the version lives in common/ so every module can record it. */
export { VERSION } from '../common/version.js';
