/**
 * One error shape for every answer: `{error: {code, message, hint}}` with the status from
 * `httpStatusFor`, `Retry-After` where waiting helps, and schema failures turned into 400s that
 * name the offending field (`body.files[0].content: must match format "base64"`).
 * Logs carry the code and status only — never the body or the raw error text of foreign errors.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { isAttestedPackError, toAttestedPackError, type AttestedPackError } from '../../common/errors.js';
import { HostProxyError, httpStatusFor } from '../errors.js';

/** The body of every error answer. */
export interface ErrorBody {
  error: { code: string; message: string; hint?: string };
}

interface AjvError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** `/files/0/path` → `files[0].path`. */
function fieldPath(context: string, instancePath: string, extra?: string): string {
  const parts = instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (extra !== undefined) parts.push(extra);
  let out = context;
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : `.${p}`;
  return out;
}

/** Converts a fastify schema failure into INVALID_REQUEST naming the field. */
export function validationError(context: string, errors: readonly AjvError[]): HostProxyError {
  const first = errors[0] ?? {};
  const params = first.params ?? {};
  let path: string;
  let what = first.message ?? 'is invalid';
  if (first.keyword === 'required' && typeof params.missingProperty === 'string') {
    path = fieldPath(context, first.instancePath ?? '', params.missingProperty);
    what = 'is required';
  } else if (first.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') {
    path = fieldPath(context, first.instancePath ?? '', params.additionalProperty);
    what = 'is not a known field';
  } else {
    path = fieldPath(context, first.instancePath ?? '');
  }
  return new HostProxyError('INVALID_REQUEST', `${path}: ${what}`, {
    hint: 'see /openapi.json for the request schema',
    details: { field: path },
  });
}

function asHttpError(err: FastifyError | AttestedPackError | Error, bodyLimit: number): { status: number; error: AttestedPackError } {
  const fe = err as FastifyError;
  if (Array.isArray(fe.validation)) {
    return { status: 400, error: validationError(fe.validationContext ?? 'body', fe.validation as AjvError[]) };
  }
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return {
      status: 413,
      error: new HostProxyError('BODY_TOO_LARGE', `the request body exceeds the proxy's limit of ${bodyLimit} bytes`, {
        hint: 'pack fewer namespaces at once, or ask the operator to raise limits.bodyLimitBytes',
      }),
    };
  }
  // Fastify's own client errors (bad JSON, wrong content type…) have fixed, data-free messages.
  if (typeof fe.code === 'string' && fe.code.startsWith('FST_') && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, error: new HostProxyError('INVALID_REQUEST', fe.message, { hint: 'send a JSON body as described by /openapi.json' }) };
  }
  const e = toAttestedPackError(err);
  return { status: httpStatusFor(e), error: e };
}

/** Sends an error answer (shared by the error handler and routes answering errors themselves). */
export function sendError(reply: FastifyReply, status: number, error: AttestedPackError, defaultRetryAfter: number): FastifyReply {
  const retryAfter = error instanceof HostProxyError ? error.retryAfterSeconds : undefined;
  if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
  else if (status === 503) reply.header('retry-after', String(defaultRetryAfter));
  const body: ErrorBody = { error: { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) } };
  return reply.status(status).type('application/json; charset=utf-8').send(body);
}

function logError(request: FastifyRequest, status: number, err: unknown, error: AttestedPackError): void {
  // Our messages are written to be safe to show (no secrets, no body values).
  const fields: Record<string, unknown> = { status, code: error.code, category: error.category, message: error.message };
  if (!isAttestedPackError(err) && error.code === 'INTERNAL') {
    // Foreign errors may quote their input in the message: log only their type.
    fields.errorType = err instanceof Error ? err.name : typeof err;
    if (process.env.ATTESTED_PACK_DEBUG === '1' && err instanceof Error) fields.stack = err.stack;
  }
  if (status >= 500) request.log.error(fields, `request failed: ${error.code}`);
  else request.log.info(fields, `request refused: ${error.code}`);
}

/** Registers the error and not-found handlers for the whole server. */
export const errorsPlugin = fp(
  async (app: FastifyInstance, opts: { retryAfterSeconds: number; bodyLimit: number }) => {
    app.setErrorHandler((err, request, reply) => {
      const { status, error } = asHttpError(err as FastifyError, opts.bodyLimit);
      logError(request, status, err, error);
      return sendError(reply, status, error, opts.retryAfterSeconds);
    });
    app.setNotFoundHandler((request, reply) =>
      sendError(reply, 404, new HostProxyError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`, { hint: 'see /openapi.json' }), opts.retryAfterSeconds),
    );
  },
  { name: 'attested-pack-errors' },
);
