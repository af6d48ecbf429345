/** Shared foundations: the error hierarchy, byte helpers, atomic file writes, CLI output. */
export * from './errors.js';
export * from './bytes.js';
export * from './fs.js';
export * from './cli-output.js';
export * from './cli-usage.js';
export * from './measurements.js';
export * from './duration.js';
export * from './git-source.js';
