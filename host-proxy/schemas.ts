/**
 * The HTTP API's shapes, declared once: fastify validates requests with them and
 * @fastify/swagger publishes them at /openapi.json.
 */

/**
 * Strict standard base64 (padding required, canonical). A character-class scan rather than
 * the usual grouped regex, which overflows the regexp stack on multi-megabyte bodies.
 */
export function isStrictBase64(text: string): boolean {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return false;
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  if (pad === 0) return true;
  // The bits dropped by the padding must be zero (canonical encoding).
  const last = text.charCodeAt(text.length - pad - 1);
  const value = last >= 97 ? last - 71 : last >= 65 ? last - 65 : last >= 48 ? last + 4 : last === 43 ? 62 : 63;
  return pad === 2 ? (value & 0x0f) === 0 : (value & 0x03) === 0;
}

/** Clef service identity names are DNS labels (clef-compat §1). */
const IDENTITY = { type: 'string', pattern: '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$', description: 'Clef service identity' } as const;
const ENVIRONMENT = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-z][a-z0-9_-]*$', description: 'Clef environment' } as const;
/** `format: base64` is checked by `isStrictBase64` (registered with Ajv in server.ts). */
const BASE64 = { type: 'string', format: 'base64', description: 'standard base64 with padding' } as const;
const NONCE_HEX = { type: 'string', pattern: '^(?:[0-9a-fA-F]{2}){1,512}$', description: '1..512 bytes as hex (a fresh random value per request)' } as const;

/** A repo-relative POSIX path: no leading slash, no `.`/`..` segments, no backslashes. */
const REPO_PATH = {
  type: 'string',
  minLength: 1,
  maxLength: 1024,
  pattern: '^(?!/)(?!.*(?:^|/)\\.{1,2}(?:/|$))(?!.*//)[^\\\\\\u0000]+$',
  description: 'repo-relative POSIX path',
} as const;

const FILE = {
  type: 'object',
  additionalProperties: false,
  required: ['path', 'content'],
  properties: { path: REPO_PATH, content: BASE64 },
} as const;

/** Body of POST /v1/pack. */
export const packRequestSchema = {
  $id: 'PackRequest',
  type: 'object',
  additionalProperties: false,
  required: ['identity', 'environment', 'commit', 'repository', 'nonce', 'manifest', 'files'],
  properties: {
    identity: IDENTITY,
    environment: ENVIRONMENT,
    commit: { type: 'string', pattern: '^[0-9a-f]{40}(?:[0-9a-f]{24})?$', description: 'full git commit id the inputs were read from' },
    repository: { type: 'string', maxLength: 200, pattern: '^(?:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)?$', description: 'owner/name, or empty' },
    nonce: NONCE_HEX,
    manifest: FILE,
    files: { type: 'array', maxItems: 4096, items: FILE },
    options: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ttlSeconds: { type: 'integer', minimum: 1, maximum: 31_536_000 },
        signing: { type: 'string', enum: ['kms', 'sealed', 'none'], default: 'sealed' },
      },
    },
  },
} as const;

/** Body of a successful pack. */
export const packResponseSchema = {
  type: 'object',
  required: ['artifact', 'receipt'],
  properties: {
    artifact: { type: 'string', description: 'base64 of the exact artifact bytes' },
    receipt: { type: 'object', additionalProperties: true, description: 'the receipt JSON (receiptVersion 1)' },
  },
} as const;

export const attestationQuerySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['nonce'],
  properties: { nonce: NONCE_HEX },
} as const;

export const attestationResponseSchema = {
  type: 'object',
  required: ['document'],
  properties: { document: { type: 'string', description: 'base64 COSE_Sign1 attestation document' } },
} as const;

/** Every error answer: `{error: {code, message, hint}}`. */
export const errorResponseSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, hint: { type: 'string' } },
    },
  },
} as const;

export const readyResponseSchema = {
  type: 'object',
  required: ['status'],
  properties: {
    status: { type: 'string', enum: ['ready', 'unready'] },
    enclave: {
      type: 'object',
      properties: {
        status: { type: 'string' },
        version: { type: 'string' },
        inFlight: { type: 'integer' },
        signingReady: { type: 'boolean' },
      },
    },
    error: errorResponseSchema.properties.error,
  },
} as const;

/** Error responses every authenticated route documents. */
export const commonErrorResponses = {
  400: errorResponseSchema,
  401: errorResponseSchema,
  403: errorResponseSchema,
  413: errorResponseSchema,
  422: errorResponseSchema,
  429: errorResponseSchema,
  500: errorResponseSchema,
  503: errorResponseSchema,
} as const;
