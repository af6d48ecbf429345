/**
 * `POST /v1/pack`: the one call CI makes. Checks the caller may pack this identity ×
 * environment, decodes the files, attaches the parent role's credentials, waits for an enclave
 * slot and relays the enclave's artifact and receipt unchanged.
 */
import type { FastifyInstance } from 'fastify';
import type { PackRequest, SigningMode } from '../../enclave-app/protocol.js';
import { authorizePack } from '../auth/principal.js';
import type { CredentialSource } from '../credentials.js';
import type { EnclaveLink } from '../enclave-link.js';
import type { EnclaveQueue } from '../enclave-queue.js';
import { HostProxyError } from '../errors.js';
import { commonErrorResponses, packRequestSchema, packResponseSchema } from '../schemas.js';

/** The JSON body of POST /v1/pack (validated by `packRequestSchema`). */
export interface PackHttpRequest {
  identity: string;
  environment: string;
  commit: string;
  repository: string;
  nonce: string;
  manifest: { path: string; content: string };
  files: Array<{ path: string; content: string }>;
  options?: { ttlSeconds?: number; signing?: SigningMode };
}

/** The JSON answer: the artifact bytes as base64 and the receipt as a JSON object. */
export interface PackHttpResponse {
  artifact: string;
  receipt: Record<string, unknown>;
}

export interface PackRouteOptions {
  link: EnclaveLink;
  queue: EnclaveQueue;
  credentials: CredentialSource;
  packTimeoutMs: number;
  requestTimeoutMs: number;
}

function decodeFile(f: { path: string; content: string }): { path: string; content: Uint8Array } {
  // A plain Uint8Array of its own (not a view into Buffer's shared pool), decoded in one pass.
  const content = new Uint8Array(Buffer.byteLength(f.content, 'base64'));
  const written = Buffer.from(content.buffer, content.byteOffset, content.byteLength).write(f.content, 'base64');
  return { path: f.path, content: written === content.byteLength ? content : content.subarray(0, written) };
}

/** A Buffer over the same bytes (no copy), for Buffer's encoders. */
const bufferView = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** Builds the enclave request from the HTTP body and the authenticated caller. */
export function toPackRequest(body: PackHttpRequest, requestedBy: string): PackRequest {
  const paths = new Set<string>([body.manifest.path]);
  body.files.forEach((f, i) => {
    if (paths.has(f.path)) {
      throw new HostProxyError('INVALID_REQUEST', `body.files[${i}].path: ${JSON.stringify(f.path)} is sent twice`, {
        hint: 'send each file once; the manifest travels in `manifest`',
        details: { field: `body.files[${i}].path` },
      });
    }
    paths.add(f.path);
  });
  const options: PackRequest['options'] = { signing: body.options?.signing ?? 'sealed' };
  if (body.options?.ttlSeconds !== undefined) options.ttlSeconds = body.options.ttlSeconds;
  return {
    identity: body.identity,
    environment: body.environment,
    commit: body.commit,
    repository: body.repository,
    nonce: new Uint8Array(Buffer.from(body.nonce, 'hex')),
    requestedBy,
    manifest: decodeFile(body.manifest),
    files: body.files.map(decodeFile),
    options,
  };
}

function parseReceipt(bytes: Uint8Array): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(bufferView(bytes).toString('utf8'));
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new HostProxyError('ENCLAVE_PROTOCOL', 'the enclave answered with a receipt that is not a JSON object', {
    hint: 'the enclave image and the proxy disagree on the protocol; check their versions',
  });
}

/** Registers POST /v1/pack. */
export async function packRoutes(app: FastifyInstance, opts: PackRouteOptions): Promise<void> {
  app.post<{ Body: PackHttpRequest }>(
    '/v1/pack',
    {
      config: { authenticate: true },
      schema: {
        summary: 'Pack the scoped SOPS files of one Clef service identity × environment inside the enclave',
        security: [{ bearer: [] }],
        body: packRequestSchema,
        response: { 200: packResponseSchema, ...commonErrorResponses },
      },
    },
    async (request, reply) => {
      const principal = request.principal;
      if (!principal) throw new HostProxyError('AUTH_MISSING', 'missing Authorization header');
      const body = request.body;
      authorizePack(principal, body);
      const packRequest = toPackRequest(body, principal.name);
      const deadline = Date.now() + opts.requestTimeoutMs;
      request.log.info(
        { identity: body.identity, environment: body.environment, commit: body.commit, files: body.files.length, principal: principal.name },
        'pack accepted',
      );
      const result = await opts.queue.run(async () => {
        const credentials = await opts.credentials.get();
        if (credentials) packRequest.credentials = credentials;
        const timeoutMs = Math.max(1, Math.min(opts.packTimeoutMs, deadline - Date.now()));
        return opts.link.request('pack', packRequest, { timeoutMs });
      }, () => AbortSignal.timeout(opts.requestTimeoutMs));
      const response: PackHttpResponse = {
        artifact: bufferView(result.artifact).toString('base64'),
        receipt: parseReceipt(result.receipt),
      };
      request.log.info({ identity: body.identity, environment: body.environment, artifactBytes: result.artifact.byteLength }, 'pack done');
      // The answer is exactly {artifact, receipt} with the receipt just parsed from JSON: the
      // engine's JSON.stringify writes the same bytes as the schema's serializer, which walks
      // the receipt's free-form object key by key (tested in test/host-proxy).
      reply.type('application/json; charset=utf-8').serializer(JSON.stringify);
      return response;
    },
  );
}
