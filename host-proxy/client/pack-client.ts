/**
 * `attested-pack pack`: the CI side of a pack, as named steps in order —
 * inputs at HEAD → credentials → request with a fresh nonce → send (with the retry policy) →
 * check the answer (nonce, request, inputs, artifact hash) → verify the receipt (with measurements) →
 * write artifact and receipt atomically.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { fileDigests } from '../../common/bytes.js';
import { writeFilesAtomic } from '../../common/fs.js';
import { UsageError } from '../../common/errors.js';
import type { SigningMode } from '../../enclave-app/protocol.js';
import { HostProxyError, ProxyAnswerError } from '../errors.js';
import type { PackHttpRequest } from '../plugins/pack.js';
import { collectPackInputs, repositoryName, runGit } from './git-inputs.js';
import { requestGithubOidcToken } from './github-oidc-token.js';
import { checkDefaultPathInside, conventionalArtifactPath, defaultReceiptPath } from './paths.js';
import { DEFAULT_RETRY_POLICY, isRetryable, retryDelayMs, type AttemptOutcome, type RetryPolicy } from './retry.js';

/** What the user asked for (the CLI flags, parsed). */
export interface PackClientOptions {
  /** Base URL of the host proxy, e.g. https://packer.internal:8443. */
  proxy: string;
  identity: string;
  environment: string;
  /** Directory holding clef.yaml (inside a git checkout); default '.'. */
  repoDir?: string;
  /** Artifact path; default Clef's `.clef/packed/<identity>/<environment>.age.json`. */
  out?: string;
  /** Receipt path; default `<artifact>.receipt.json`. */
  receipt?: string;
  /** measurements.json: verify the receipt against it before writing anything. */
  measurements?: string;
  /** PEM roots for that verification (default: the pinned AWS Nitro root G1). */
  roots?: string[];
  /** A proxy bearer token (else ATTESTED_PACK_TOKEN, else --github-oidc, else none). */
  token?: string;
  /** Request a GitHub Actions OIDC token for this audience. */
  githubOidcAudience?: string;
  signing?: SigningMode;
  ttlSeconds?: number;
  allowDirty?: boolean;
  /** `owner/name`; default GITHUB_REPOSITORY or the origin remote. */
  repository?: string;
  /** Permit plain http to a non-loopback proxy (the token would cross the network in clear). */
  allowHttp?: boolean;
  /** Retries after the first attempt (default 4). */
  retries?: number;
  /** Per-attempt deadline (default 300 s). */
  timeoutMs?: number;
}

/** Injected effects (tests substitute them). */
export interface PackClientDeps {
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  env?: NodeJS.ProcessEnv;
  /** One line of progress (the CLI writes it to stderr). */
  progress?: (line: string) => void;
  now?: () => number;
}

/** What a successful pack produced. */
export interface PackClientResult {
  identity: string;
  environment: string;
  commit: string;
  repository: string;
  output: string;
  receipt: string;
  artifactSha256: string;
  artifactSize: number;
  revision: string | null;
  keyCount: number | null;
  namespaceCount: number | null;
  /** True when the receipt was verified against measurements. */
  verified: boolean;
  attempts: number;
}

interface PackAnswer {
  artifact: Uint8Array;
  receipt: Record<string, unknown>;
}

/** Runs one pack through the proxy. Throws typed errors; the CLI maps them to exit codes. */
export async function runPackClient(options: PackClientOptions, deps: PackClientDeps = {}): Promise<PackClientResult> {
  const env = deps.env ?? process.env;
  const progress = deps.progress ?? (() => undefined);
  const fetchImpl = deps.fetch ?? fetch;
  const repoDir = resolve(options.repoDir ?? '.');
  const endpoint = packEndpoint(options.proxy, options.allowHttp === true);

  if (options.token !== undefined && options.githubOidcAudience !== undefined) {
    throw new UsageError('--token and --github-oidc are alternatives: pass one of them');
  }
  const inputs = await collectPackInputs({ repoDir, identity: options.identity, environment: options.environment, allowDirty: options.allowDirty === true });
  if (inputs.dirty.length > 0) progress(`warning: packing HEAD although ${inputs.dirty.length} tracked file(s) have uncommitted changes (--allow-dirty)`);
  for (const m of inputs.missing) progress(`note: ${m} does not exist at HEAD; skipped (as clef pack does)`);
  const repository = options.repository ?? (await repositoryName(repoDir, env));
  // Explicit paths are the CI owner's choice; default ones come from the repository and must
  // stay inside it (checked before anything is sent).
  const output = resolve(options.out ?? conventionalArtifactPath(repoDir, options.identity, options.environment));
  const receiptPath = resolve(options.receipt ?? defaultReceiptPath(output));
  if (options.out === undefined) {
    const toplevel = (await runGit(repoDir, ['rev-parse', '--show-toplevel'])).toString('utf8').replace(/\n$/, '');
    await checkDefaultPathInside(output, toplevel);
    if (options.receipt === undefined) await checkDefaultPathInside(receiptPath, toplevel);
  }
  progress(`read clef.yaml and ${inputs.files.length} file(s) at ${inputs.commit.slice(0, 12)} for ${options.identity}/${options.environment}`);

  // Asked for only now: GitHub OIDC tokens are short-lived.
  const authorization = await bearerFor(options, env, fetchImpl);
  const nonce = randomBytes(32).toString('hex');
  const request: PackHttpRequest = {
    identity: options.identity,
    environment: options.environment,
    commit: inputs.commit,
    repository,
    nonce,
    manifest: { path: inputs.manifest.path, content: Buffer.from(inputs.manifest.content).toString('base64') },
    files: inputs.files.map((f) => ({ path: f.path, content: Buffer.from(f.content).toString('base64') })),
    options: { signing: options.signing ?? 'none', ...(options.ttlSeconds !== undefined ? { ttlSeconds: options.ttlSeconds } : {}) },
  };

  const { answer, attempts } = await sendWithRetry(endpoint, JSON.stringify(request), authorization, options, deps, fetchImpl, progress);
  const artifactSha256 = checkAnswer(answer, request);
  progress(`receipt matches the request (nonce, commit, identity, environment, repository, ${request.files.length + 1} input files) and the artifact (sha256 ${artifactSha256.slice(0, 16)}…)`);

  let verified = false;
  if (options.measurements !== undefined) {
    await verifyAgainstMeasurements(answer.receipt, nonce, options.measurements, options.roots ?? [], deps.now ?? Date.now);
    verified = true;
    progress(`receipt verified: attestation document, PCRs of ${options.measurements}, claims binding, nonce`);
  } else {
    progress('warning: the receipt was NOT verified cryptographically (no --measurements): a hostile proxy could have fabricated it; verify it with verify-receipt before use');
  }

  // Both files or neither: a new artifact must never sit next to an old receipt.
  await writeFilesAtomic([
    { path: output, data: answer.artifact },
    { path: receiptPath, data: JSON.stringify(answer.receipt, null, 2) + '\n' },
  ]);
  progress(`wrote ${output} and ${receiptPath}`);

  const art = (claimsOf(answer.receipt).artifact ?? {}) as Record<string, unknown>;
  return {
    identity: options.identity,
    environment: options.environment,
    commit: inputs.commit,
    repository,
    output,
    receipt: receiptPath,
    artifactSha256,
    artifactSize: answer.artifact.byteLength,
    revision: typeof art.revision === 'string' ? art.revision : null,
    keyCount: typeof art.keyCount === 'number' ? art.keyCount : null,
    namespaceCount: Array.isArray(art.namespaces) ? art.namespaces.length : null,
    verified,
    attempts,
  };
}

/** Step 0: the proxy URL, refusing clear-text to anything but loopback unless allowed. */
export function packEndpoint(proxy: string, allowHttp: boolean): URL {
  let base: URL;
  try {
    base = new URL(proxy.endsWith('/') ? proxy : `${proxy}/`);
  } catch {
    throw new UsageError(`--proxy must be a URL such as https://packer.internal:8443, got ${JSON.stringify(proxy)}`);
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new UsageError(`--proxy must be an http(s) URL, got ${base.protocol}`);
  const host = base.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || (isIP(host) === 4 && host.startsWith('127.')) || host === '::1';
  if (base.protocol === 'http:' && !loopback && !allowHttp) {
    throw new UsageError(`--proxy ${base.origin} is plain http: the token and the ciphertext would cross the network unprotected`, {
      hint: 'use https, or pass --allow-http if the network path is otherwise protected',
    });
  }
  return new URL('v1/pack', base);
}

/** Step 3: the Authorization header, or undefined for an unauthenticated local proxy. */
async function bearerFor(options: PackClientOptions, env: NodeJS.ProcessEnv, fetchImpl: typeof fetch): Promise<string | undefined> {
  if (options.token !== undefined) return `Bearer ${options.token}`;
  if (options.githubOidcAudience !== undefined) return `Bearer ${await requestGithubOidcToken(options.githubOidcAudience, env, fetchImpl)}`;
  if (env.ATTESTED_PACK_TOKEN) return `Bearer ${env.ATTESTED_PACK_TOKEN}`;
  return undefined;
}

function networkCode(err: unknown): string {
  let e: unknown = err;
  for (let i = 0; i < 4 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return 'UNKNOWN';
}

/** Step 4: POST with the documented retry policy (retry.ts). */
async function sendWithRetry(
  endpoint: URL,
  body: string,
  authorization: string | undefined,
  options: PackClientOptions,
  deps: PackClientDeps,
  fetchImpl: typeof fetch,
  progress: (line: string) => void,
): Promise<{ answer: PackAnswer; attempts: number }> {
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...(options.retries !== undefined ? { retries: options.retries } : {}) };
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const timeoutMs = options.timeoutMs ?? 300_000;
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (authorization) headers.authorization = authorization;

  for (let attempt = 1; ; attempt++) {
    progress(`packing via ${endpoint.origin} (attempt ${attempt} of ${policy.retries + 1})`);
    let outcome: AttemptOutcome;
    let failure: Error;
    try {
      const res = await fetchImpl(endpoint, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
      const text = await res.text();
      if (res.status === 200) return { answer: parseAnswer(text), attempts: attempt };
      failure = answerError(res.status, text);
      outcome = { kind: 'response', status: res.status, retryAfter: res.headers.get('retry-after') };
    } catch (err) {
      if (err instanceof HostProxyError || err instanceof ProxyAnswerError) throw err;
      const name = (err as { name?: unknown }).name;
      if (name === 'TimeoutError' || name === 'AbortError') {
        throw new HostProxyError('PROXY_UNREACHABLE', `no answer from the proxy within ${Math.round(timeoutMs / 1000)} s`, {
          hint: 'the pack may still be running; not retried automatically — retry the job, or raise --timeout',
        });
      }
      const code = networkCode(err);
      outcome = { kind: 'network', code };
      failure = new HostProxyError('PROXY_UNREACHABLE', `cannot reach the proxy at ${endpoint.origin} (${code})`, {
        hint: 'check --proxy and that the host proxy is running',
        cause: err,
      });
    }
    if (!isRetryable(outcome) || attempt > policy.retries) throw failure;
    const waitMs = retryDelayMs(attempt, outcome, policy, deps.random, deps.now?.());
    const why = outcome.kind === 'response' ? `HTTP ${outcome.status} ${(failure as ProxyAnswerError).code}` : outcome.kind === 'network' ? outcome.code : 'timeout';
    progress(`proxy unavailable (${why}); retrying in ${Math.ceil(waitMs / 1000)} s (retry ${attempt} of ${policy.retries})`);
    await sleep(waitMs);
  }
}

function answerError(status: number, text: string): ProxyAnswerError {
  try {
    const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown; hint?: unknown } }).error;
    if (e && typeof e.code === 'string' && typeof e.message === 'string') {
      return new ProxyAnswerError(status, e.code, e.message, typeof e.hint === 'string' ? e.hint : undefined);
    }
  } catch {
    // not our error shape: fall through
  }
  return new ProxyAnswerError(status, `PROXY_HTTP_${status}`, `the proxy answered HTTP ${status}`, 'is --proxy pointing at an attested-pack host proxy?');
}

function parseAnswer(text: string): PackAnswer {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    v = undefined;
  }
  const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  const receipt = o.receipt;
  if (typeof o.artifact !== 'string' || typeof receipt !== 'object' || receipt === null || Array.isArray(receipt)) {
    throw new HostProxyError('PROXY_BAD_RESPONSE', 'the proxy answered 200 without an artifact and a receipt', {
      hint: 'is --proxy pointing at an attested-pack host proxy of the same version?',
    });
  }
  return { artifact: new Uint8Array(Buffer.from(o.artifact, 'base64')), receipt: receipt as Record<string, unknown> };
}

function claimsOf(receipt: Record<string, unknown>): Record<string, unknown> {
  const c = receipt.claims;
  return (typeof c === 'object' && c !== null ? c : {}) as Record<string, unknown>;
}

/**
 * Step 5: the answer is for this request — the receipt carries our fresh nonce (so it was made
 * for us, now), our commit, identity and environment, and the artifact's SHA-256. Returns the
 * artifact's SHA-256. Checked even without measurements; the signature chain is step 6.
 */
export function checkAnswer(answer: PackAnswer, request: PackHttpRequest): string {
  const claims = claimsOf(answer.receipt);
  const req = (claims.request ?? {}) as Record<string, unknown>;
  if (typeof req.nonce !== 'string' || req.nonce.toLowerCase() !== request.nonce) {
    throw new HostProxyError('NONCE_MISMATCH', "the receipt's nonce is not the nonce this client sent: it was not made for this request", {
      hint: 'do not use this artifact; a replayed or substituted receipt is a security incident — report it to the proxy operator',
    });
  }
  for (const field of ['commit', 'identity', 'environment', 'repository'] as const) {
    if (req[field] !== request[field]) {
      throw new HostProxyError('RECEIPT_MISMATCH', `the receipt's ${field} ${JSON.stringify(req[field])} is not the requested ${JSON.stringify(request[field])}`, {
        hint: 'do not use this artifact; report it to the proxy operator',
      });
    }
  }
  checkInputs(claims.inputs, request);
  const sha = createHash('sha256').update(answer.artifact).digest('hex');
  const art = (claims.artifact ?? {}) as Record<string, unknown>;
  if (art.sha256 !== sha) {
    throw new HostProxyError('RECEIPT_MISMATCH', "the artifact's SHA-256 differs from the one in the receipt", {
      hint: 'do not use this artifact; report it to the proxy operator',
    });
  }
  return sha;
}

/** One input as the client knows it: path, SHA-256 and git blob id of the bytes it sent. */
function inputKey(path: unknown, sha256: unknown, gitBlobId: unknown): string {
  return JSON.stringify([path, sha256, gitBlobId]);
}

/**
 * Step 5 (inputs): the receipt's `inputs` are exactly the files this client sent — the manifest
 * and every SOPS file, each by path, SHA-256 and git blob id; no file missing, none added, none
 * listed twice. Otherwise something between here and the enclave swapped a file (say, back to
 * its previous blob) or dropped one, and the receipt, genuine as it is, describes another pack.
 * Generic over the entries: extra per-input fields (role, namespace, lastmodified) are not ours
 * to judge here.
 */
export function checkInputs(inputs: unknown, request: Pick<PackHttpRequest, 'manifest' | 'files'>): void {
  const expected = new Map<string, string>();
  for (const f of [request.manifest, ...request.files]) {
    const bytes = Buffer.from(f.content, 'base64');
    const { sha256, gitBlobId } = fileDigests(bytes);
    expected.set(inputKey(f.path, sha256, gitBlobId), f.path);
  }
  const fail = (what: string): never => {
    throw new HostProxyError('RECEIPT_INPUTS_MISMATCH', `the receipt's inputs are not the files this client sent: ${what}`, {
      hint: 'do not use this artifact: a file was replaced (e.g. rolled back) or dropped between this client and the enclave — report it to the proxy operator',
    });
  };
  if (!Array.isArray(inputs)) return fail('the receipt has no inputs list');
  const seen = new Set<string>();
  for (const entry of inputs as unknown[]) {
    const e = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    const key = inputKey(e.path, e.sha256, e.gitBlobId);
    if (seen.has(key)) fail(`${JSON.stringify(e.path)} is listed twice`);
    seen.add(key);
    if (!expected.has(key)) {
      const sent = [...expected.values()].includes(e.path as string);
      fail(sent ? `${JSON.stringify(e.path)} has other contents (git blob ${String(e.gitBlobId).slice(0, 12)}) than the file sent` : `${JSON.stringify(e.path)} was not sent`);
    }
  }
  for (const [key, path] of expected) if (!seen.has(key)) fail(`${JSON.stringify(path)} was sent but is not in the receipt`);
}

/** Step 6: the attestation document chains to the trusted root, has the expected PCRs and binds the claims and our nonce. */
async function verifyAgainstMeasurements(receipt: Record<string, unknown>, nonce: string, measurementsPath: string, rootPaths: readonly string[], now: () => number): Promise<void> {
  const [{ parseMeasurements }, { verifyReceipt }, { awsNitroRootG1, trustedRootFromPem }] = await Promise.all([
    import('../../common/measurements.js'),
    import('../../attestation/receipt.js'),
    import('../../attestation/roots.js'),
  ]);
  const readText = async (path: string, flag: string): Promise<string> => {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      throw new UsageError(`${flag} ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  const m = parseMeasurements(await readText(measurementsPath, '--measurements'), measurementsPath);
  const expectedPcrs: Record<number, string> = { 0: m.PCR0, 1: m.PCR1, 2: m.PCR2 };
  if (m.PCR8 !== undefined) expectedPcrs[8] = m.PCR8;
  const trustedRoots = rootPaths.length === 0 ? [awsNitroRootG1()] : await Promise.all(rootPaths.map(async (p) => trustedRootFromPem(await readText(p, '--root'))));
  await verifyReceipt(receipt, { trustedRoots, at: now(), expectedPcrs, expectedNonce: nonce, maxAgeMs: 15 * 60_000 });
}
