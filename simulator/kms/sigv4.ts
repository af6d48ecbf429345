/**
 * SigV4 authentication of incoming requests with the signer the AWS SDK itself uses
 * (@smithy/signature-v4): the request is re-signed with the secret of the access key it claims,
 * over exactly the headers it says it signed, and the two signatures are compared in constant
 * time. Before that: the Authorization header's grammar, the credential scope (date, region,
 * service `kms`), the x-amz-date skew (±5 minutes, as AWS), the session token, and — when the
 * client sent x-amz-content-sha256 — that it really is the hash of the body.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { Sha256 } from '@aws-crypto/sha256-js';
import { KmsApiError } from './errors.js';

/** A configured access key and the principal it authenticates as. */
export interface SimCredential {
  accessKeyId: string;
  secretAccessKey: string;
  /** When set, requests must carry exactly this x-amz-security-token. */
  sessionToken?: string;
  /** The caller's ARN (IAM user/role, or STS assumed-role session). */
  principalArn: string;
}

/** The request as received (header names lower-case, as Node gives them). */
export interface ReceivedRequest {
  method: string;
  /** Path and query, e.g. `/` or `/?a=b`. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** AWS's tolerance between x-amz-date and the server clock. */
export const MAX_SIGNATURE_SKEW_MS = 5 * 60 * 1000;

const AUTH_RE =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;_.-]+),\s*Signature=([0-9a-f]{64})$/;

/** Authenticates a request; returns the matching credential or throws the KMS error AWS would send. */
export async function authenticate(
  req: ReceivedRequest,
  credentials: ReadonlyMap<string, SimCredential>,
  opts: { region: string; now: number; service?: string },
): Promise<SimCredential> {
  const service = opts.service ?? 'kms';
  const auth = header(req, 'authorization');
  if (auth === undefined) throw new KmsApiError('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const m = AUTH_RE.exec(auth.trim());
  if (!m) {
    throw new KmsApiError(
      'IncompleteSignatureException',
      'Authorization header requires \'Credential\', \'SignedHeaders\' and \'Signature\' parameters for AWS4-HMAC-SHA256.',
    );
  }
  const [, accessKeyId, scopeDate, scopeRegion, scopeService, signedHeaderList, claimedSignature] = m as unknown as string[];

  const cred = credentials.get(accessKeyId!);
  if (!cred) throw new KmsApiError('UnrecognizedClientException', 'The security token included in the request is invalid.');

  const amzDate = header(req, 'x-amz-date');
  if (amzDate === undefined || !/^\d{8}T\d{6}Z$/.test(amzDate)) {
    throw new KmsApiError('IncompleteSignatureException', 'Authorization requires a valid x-amz-date header (YYYYMMDDTHHMMSSZ).');
  }
  const signingDate = parseAmzDate(amzDate);
  if (signingDate === undefined || amzDate.slice(0, 8) !== scopeDate) {
    throw new KmsApiError('InvalidSignatureException', `Credential should be scoped to a valid date: '${amzDate.slice(0, 8)}'.`);
  }
  if (scopeRegion !== opts.region) {
    throw new KmsApiError('InvalidSignatureException', `Credential should be scoped to a valid region, not '${scopeRegion}'.`);
  }
  if (scopeService !== service) {
    throw new KmsApiError('InvalidSignatureException', `Credential should be scoped to correct service: '${service}'.`);
  }
  checkSkew(amzDate, signingDate.getTime(), opts.now);
  checkSessionToken(req, cred);

  const signed = signedHeaderList!.split(';');
  if (!signed.includes('host') || !signed.includes('x-amz-date')) {
    throw new KmsApiError('InvalidSignatureException', "'Host' and 'X-Amz-Date' must be SignedHeaders in the AWS Authorization.");
  }
  const headers: Record<string, string> = {};
  for (const name of signed) {
    const v = header(req, name);
    if (v === undefined) throw new KmsApiError('InvalidSignatureException', `Signed header '${name}' is missing from the request.`);
    headers[name] = v;
  }
  const payloadHash = header(req, 'x-amz-content-sha256');
  if (payloadHash !== undefined && payloadHash !== createHash('sha256').update(req.body).digest('hex')) {
    throw new KmsApiError('InvalidSignatureException', 'The provided x-amz-content-sha256 header does not match what was computed.');
  }

  const expected = await resign(req, headers, cred, { region: scopeRegion!, service, signingDate, signed });
  if (!constantTimeHexEqual(expected, claimedSignature!)) {
    throw new KmsApiError(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    );
  }
  return cred;
}

/** Signs the received request again, over its signed headers only, and returns the signature hex. */
async function resign(
  req: ReceivedRequest,
  headers: Record<string, string>,
  cred: SimCredential,
  o: { region: string; service: string; signingDate: Date; signed: string[] },
): Promise<string> {
  const url = new URL(req.url, 'http://simulator.invalid');
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of url.searchParams) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const [hostname] = (headers.host ?? '').split(':');
  const request = new HttpRequest({
    method: req.method,
    protocol: 'http:',
    hostname: hostname ?? '',
    path: url.pathname,
    query,
    headers,
    body: req.body,
  });
  const signer = new SignatureV4({
    credentials: {
      accessKeyId: cred.accessKeyId,
      secretAccessKey: cred.secretAccessKey,
      ...(cred.sessionToken === undefined ? {} : { sessionToken: cred.sessionToken }),
    },
    region: o.region,
    service: o.service,
    sha256: Sha256,
    applyChecksum: false, // never add x-amz-content-sha256: sign exactly what the client signed
  });
  const out = await signer.sign(request, {
    signingDate: o.signingDate,
    signingRegion: o.region,
    signingService: o.service,
    signableHeaders: new Set(o.signed),
  });
  const auth = String((out.headers as Record<string, string>).authorization ?? '');
  const m = /SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(auth);
  // If the signer did not sign the same header set, the signature cannot match.
  if (!m || m[1] !== o.signed.join(';')) return '0'.repeat(64);
  return m[2]!;
}

function checkSkew(amzDate: string, signedAt: number, now: number): void {
  const fmt = (t: number) => new Date(t).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  if (signedAt < now - MAX_SIGNATURE_SKEW_MS) {
    throw new KmsApiError(
      'InvalidSignatureException',
      `Signature expired: ${amzDate} is now earlier than ${fmt(now - MAX_SIGNATURE_SKEW_MS)} (${fmt(now)} - 5 min.)`,
    );
  }
  if (signedAt > now + MAX_SIGNATURE_SKEW_MS) {
    throw new KmsApiError(
      'InvalidSignatureException',
      `Signature not yet current: ${amzDate} is still later than ${fmt(now + MAX_SIGNATURE_SKEW_MS)} (${fmt(now)} + 5 min.)`,
    );
  }
}

function checkSessionToken(req: ReceivedRequest, cred: SimCredential): void {
  const token = header(req, 'x-amz-security-token');
  const ok =
    cred.sessionToken === undefined
      ? token === undefined
      : token !== undefined && token.length === cred.sessionToken.length && timingSafeEqual(Buffer.from(token), Buffer.from(cred.sessionToken));
  if (!ok) throw new KmsApiError('UnrecognizedClientException', 'The security token included in the request is invalid.');
}

function parseAmzDate(s: string): Date | undefined {
  const iso = `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) || d.toISOString().replace(/\.\d{3}/, '') !== iso ? undefined : d;
}

function header(req: ReceivedRequest, name: string): string | undefined {
  const v = req.headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : v;
}

function constantTimeHexEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.byteLength === y.byteLength && timingSafeEqual(x, y);
}
