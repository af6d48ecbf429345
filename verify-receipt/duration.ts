/** `--max-age` durations: the shared parser in common/ (also used by `attestation verify`). */
export { formatDuration, parseDuration } from '../common/duration.js';
