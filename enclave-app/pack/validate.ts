/** Checks a pack request's shape and limits before any work, naming the bad field. */
import { PACK_LIMITS, type PackRequest } from '../protocol.js';
import { PackError } from './errors.js';

const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const COMMIT_RE = /^[0-9a-fA-F]{40}([0-9a-fA-F]{24})?$/;
const MAX_FILES = PACK_LIMITS.maxFiles;
const MAX_PATH = PACK_LIMITS.maxPathLength;

function bad(field: string, what: string): PackError {
  return new PackError('PACK_BAD_REQUEST', `pack request ${field}: ${what}`, { details: { field } });
}

function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

function checkPath(field: string, p: unknown): void {
  if (typeof p !== 'string' || p.length === 0 || p.length > MAX_PATH) throw bad(field, 'must be a non-empty repo-relative path');
  if (p.startsWith('/') || p.includes('\\') || p.split('/').some((s) => s === '..' || s === '.' || s === '') || p.includes('\0')) {
    throw bad(field, 'must be a normalised repo-relative POSIX path (no "..", no leading "/")');
  }
}

/** Throws PACK_BAD_REQUEST for the first problem found. */
export function validatePackRequest(r: PackRequest): void {
  if (typeof r !== 'object' || r === null) throw bad('body', 'must be a map');
  if (typeof r.identity !== 'string' || !NAME_RE.test(r.identity)) throw bad('identity', 'must be a Clef service identity name');
  if (typeof r.environment !== 'string' || !/^[a-z][a-z0-9_-]*$/.test(r.environment)) throw bad('environment', 'must be a Clef environment name');
  if (typeof r.commit !== 'string' || !COMMIT_RE.test(r.commit)) throw bad('commit', 'must be a full git commit id (40 or 64 hex characters)');
  if (typeof r.repository !== 'string' || r.repository.length > 256) throw bad('repository', 'must be a string of at most 256 characters');
  if (typeof r.requestedBy !== 'string' || r.requestedBy.length > 512) throw bad('requestedBy', 'must be a string of at most 512 characters');
  if (!isBytes(r.nonce) || r.nonce.byteLength < PACK_LIMITS.minNonceBytes || r.nonce.byteLength > PACK_LIMITS.maxNonceBytes) {
    throw bad('nonce', `must be ${PACK_LIMITS.minNonceBytes}..${PACK_LIMITS.maxNonceBytes} bytes`);
  }
  if (typeof r.manifest !== 'object' || r.manifest === null) throw bad('manifest', 'is required');
  checkPath('manifest.path', r.manifest.path);
  if (!isBytes(r.manifest.content)) throw bad('manifest.content', 'must be bytes');
  if (!Array.isArray(r.files)) throw bad('files', 'must be a list');
  if (r.files.length > MAX_FILES) throw bad('files', `must hold at most ${MAX_FILES} files`);
  const seen = new Set<string>();
  r.files.forEach((f, i) => {
    if (typeof f !== 'object' || f === null) throw bad(`files[${i}]`, 'must be a map');
    checkPath(`files[${i}].path`, f.path);
    if (!isBytes(f.content)) throw bad(`files[${i}].content`, 'must be bytes');
    if (seen.has(f.path)) throw bad(`files[${i}].path`, `duplicates ${f.path}`);
    seen.add(f.path);
  });
  const o = r.options;
  if (typeof o !== 'object' || o === null) throw bad('options', 'is required');
  if (o.signing !== 'kms' && o.signing !== 'sealed' && o.signing !== 'none') throw bad('options.signing', 'must be "kms", "sealed" or "none"');
  if (o.ttlSeconds !== undefined && (!Number.isInteger(o.ttlSeconds) || o.ttlSeconds < 1 || o.ttlSeconds > PACK_LIMITS.maxTtlSeconds)) {
    throw bad('options.ttlSeconds', 'must be a whole number of seconds from 1 to one year');
  }
  const c = r.credentials;
  if (c !== undefined) {
    if (typeof c !== 'object' || c === null || typeof c.accessKeyId !== 'string' || typeof c.secretAccessKey !== 'string' || typeof c.region !== 'string') {
      throw bad('credentials', 'must hold accessKeyId, secretAccessKey and region');
    }
    if (c.sessionToken !== undefined && typeof c.sessionToken !== 'string') throw bad('credentials.sessionToken', 'must be a string');
  }
}
