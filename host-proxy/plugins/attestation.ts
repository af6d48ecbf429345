/**
 * `GET /v1/attestation?nonce=HEX`: a fresh attestation document for pre-flight checks (a CI job
 * can verify the enclave's measurements before sending anything).
 */
import type { FastifyInstance } from 'fastify';
import type { EnclaveLink } from '../enclave-link.js';
import type { EnclaveQueue } from '../enclave-queue.js';
import { attestationQuerySchema, attestationResponseSchema, commonErrorResponses } from '../schemas.js';

/** Registers GET /v1/attestation. */
export async function attestationRoutes(app: FastifyInstance, opts: { link: EnclaveLink; queue: EnclaveQueue; attestTimeoutMs: number; requestTimeoutMs: number }): Promise<void> {
  app.get<{ Querystring: { nonce: string } }>(
    '/v1/attestation',
    {
      config: { authenticate: true },
      schema: {
        summary: 'A fresh attestation document with the caller\'s nonce',
        security: [{ bearer: [] }],
        querystring: attestationQuerySchema,
        response: { 200: attestationResponseSchema, ...commonErrorResponses },
      },
    },
    async (request) => {
      const nonce = new Uint8Array(Buffer.from(request.query.nonce, 'hex'));
      const res = await opts.queue.run(
        () => opts.link.request('attest', { nonce }, { timeoutMs: opts.attestTimeoutMs }),
        AbortSignal.timeout(opts.requestTimeoutMs),
      );
      return { document: Buffer.from(res.document).toString('base64') };
    },
  );
}
