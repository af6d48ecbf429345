/**
 * `attested-pack sim`, step 6 and the whole run: the `pack` client against the proxy (what CI
 * runs), then `verify-receipt` with the measurements, the artifact, the repository, the expected
 * keys, the nonce we sent and the signing key's public half (what an auditor runs). Produces the
 * summary the CLI prints (or emits as one JSON object).
 */
import { writeFileAtomic } from '../../common/fs.js';
import { GetPublicKeyCommand } from '@aws-sdk/client-kms';
import type { SigningMode } from '../../enclave-app/protocol.js';
import { runPackClient, type PackClientResult } from '../../host-proxy/index.js';
import { runVerifyReceipt, type VerificationReport } from '../../verify-receipt/index.js';
import { DEMO_ENVIRONMENT, DEMO_IDENTITY } from '../demo-repo.js';
import { CheckRecorder, type SimCheck } from './checks.js';
import { startSim, type SimHandle, type SimReuse, type StartSimOptions } from './launcher.js';
import { outputPaths, simPaths } from './paths.js';
import { SimError } from './errors.js';
import { SIM_REPOSITORY } from './deploy-step.js';
import { EXIT_CODES, toAttestedPackError } from '../../common/errors.js';

export { SIM_REPOSITORY } from './deploy-step.js';

/** One pack through the proxy. */
export interface SimPackOptions {
  identity?: string;
  environment?: string;
  signing?: SigningMode;
  /** Verify the receipt against measurements.json in the client as well (default true). */
  clientVerifies?: boolean;
  /** Client retries on 503/429 (default 1). */
  retries?: number;
  /** Replaces fetch (tests record the HTTP exchange). */
  fetch?: typeof fetch;
  progress?: (line: string) => void;
}

/** A finished pack: the client's result and the nonce it sent. */
export interface SimPackOutcome {
  result: PackClientResult;
  /** The nonce the client sent (hex), as read from its outgoing request. */
  nonce: string;
  artifact: string;
  receipt: string;
}

/** Runs the pack client (host-proxy's `runPackClient`) against the simulation's proxy. */
export async function packThroughProxy(sim: SimHandle, o: SimPackOptions = {}): Promise<SimPackOutcome> {
  const identity = o.identity ?? DEMO_IDENTITY;
  const environment = o.environment ?? DEMO_ENVIRONMENT;
  const out = outputPaths(sim.paths, identity, environment);
  let nonce = '';
  const baseFetch = o.fetch ?? fetch;
  // The nonce is the client's own secret-free freshness value: read it from the request it sends,
  // so verify-receipt can be told which nonce to expect (check 5).
  const recordingFetch: typeof fetch = (input, init) => {
    if (typeof init?.body === 'string') {
      try {
        const n = (JSON.parse(init.body) as { nonce?: unknown }).nonce;
        if (typeof n === 'string') nonce = n;
      } catch {
        // not a pack body
      }
    }
    return baseFetch(input, init);
  };
  const result = await runPackClient(
    {
      proxy: sim.proxy.url,
      identity,
      environment,
      repoDir: sim.repo.dir,
      out: out.artifact,
      receipt: out.receipt,
      token: sim.proxy.token,
      signing: o.signing ?? 'kms',
      repository: SIM_REPOSITORY,
      retries: o.retries ?? 1,
      timeoutMs: 60_000,
      ...(o.clientVerifies === false ? {} : { measurements: sim.measured.measurementsPath, roots: [sim.paths.nsmRootPem] }),
    },
    { fetch: recordingFetch, env: {}, ...(o.progress ? { progress: o.progress } : {}) },
  );
  return { result, nonce, artifact: result.output, receipt: result.receipt };
}

/** The bindings both auditor invocations share: the simulation's root, the artifact, the demo repository. */
function commonBindings(sim: SimHandle, artifact: string): string[] {
  return ['--root', sim.paths.nsmRootPem, '--artifact', artifact, '--repo', sim.repo.dir];
}

/**
 * The auditor's invocation for a simulation pack: `--expect` with the expectations.json rendered
 * from the demo's deploy file (PCRs, parent role, manifest, repository, keys, signer), plus what
 * an expectations file cannot hold — the simulated NSM root (`--root`; without it the AWS root is
 * required and a simulated document fails), the artifact, the repository checkout and the nonce.
 */
export function expectReceiptArgs(sim: SimHandle, p: { receipt: string; artifact: string; nonce?: string }): string[] {
  return [
    p.receipt,
    '--expect',
    sim.paths.expectations,
    ...commonBindings(sim, p.artifact),
    ...(p.nonce ? ['--nonce', p.nonce] : []),
  ];
}

/**
 * The same bindings as individual flags (measurements.json instead of --expect): what
 * `attested-pack audit -- …` takes, since the audit supplies the rebuilt --measurements itself.
 * The signer is `--verify-key` (sealed Ed25519 SPKI, base64) or `--kms-public-key` (KMS-signed).
 */
export function verifyReceiptArgs(sim: SimHandle, p: { receipt: string; artifact: string; nonce?: string; kmsPublicKey?: string; verifyKey?: string }): string[] {
  return [
    p.receipt,
    '--measurements',
    sim.measured.measurementsPath,
    ...commonBindings(sim, p.artifact),
    '--expect-key',
    sim.keys.source,
    '--expect-key',
    sim.keys.wrap,
    '--expect-key',
    sim.keys.sign,
    // Sealed signing decrypts under the seal key; the parent role's PCR3 as --expect pins it.
    ...(sim.sealedKey ? ['--expect-key', sim.keys.seal] : []),
    '--parent-role-arn',
    sim.deployment.config.parentRoleArn,
    ...(p.kmsPublicKey ? ['--kms-public-key', p.kmsPublicKey] : []),
    ...(p.verifyKey ? ['--verify-key', p.verifyKey] : []),
    ...(p.nonce ? ['--nonce', p.nonce] : []),
  ];
}

/** Writes the signing key's public half as `aws kms get-public-key` prints it (read as the runtime role). */
export async function writeSigningPublicKey(sim: SimHandle): Promise<string> {
  const pub = await sim.runtime.send(new GetPublicKeyCommand({ KeyId: sim.keys.sign }));
  await writeFileAtomic(sim.paths.signPublicKey, JSON.stringify({ KeyId: pub.KeyId ?? sim.keys.sign, PublicKey: Buffer.from(pub.PublicKey!).toString('base64') }, null, 2) + '\n');
  return sim.paths.signPublicKey;
}

/** Runs verify-receipt (the same code as the CLI) with `--json` and returns its report. */
export async function verifyWithCli(args: readonly string[]): Promise<{ code: number; report: VerificationReport | undefined; error: string | undefined }> {
  let stdout = '';
  let stderr = '';
  const code = await runVerifyReceipt([...args, '--json'], { io: { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), isTty: false } });
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    parsed = undefined;
  }
  const o = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as { checks?: unknown; error?: { code?: string; message?: string } };
  if (Array.isArray(o.checks)) return { code, report: o as VerificationReport, error: undefined };
  return { code, report: undefined, error: o.error ? `${o.error.code}: ${o.error.message}` : stderr.trim() || 'verify-receipt printed no report' };
}

/** Step 6: pack, then verify; every outcome becomes a check. Returns the pack outcome when it packed. */
export async function packAndVerify(sim: SimHandle, recorder: CheckRecorder): Promise<{ pack?: SimPackOutcome; verifyArgs?: string[]; verifyFlags?: string[]; error?: unknown }> {
  let pack: SimPackOutcome;
  // The signer the deploy file (and so expectations.json) names: the sealed key when there is one.
  // When the enclave could not unseal it (KMS refused: the sealed-signing-key check already
  // failed), the pack is asked for KMS signing so it still shows KMS's own refusal of the source
  // key; were it to succeed, `--expect` would reject its signer.
  const signing: SigningMode = sim.sealedKey && sim.unseal?.ok !== false ? 'sealed' : 'kms';
  try {
    pack = await recorder.step(
      'pack',
      'pack through the proxy',
      async () => {
        const p = await packThroughProxy(sim, { signing, progress: (l) => recorder.note(`sim: pack: ${l}`) });
        const r = p.result;
        return {
          value: p,
          evidence: `${r.identity}/${r.environment} at ${r.commit.slice(0, 12)}: ${r.keyCount ?? '?'} keys from ${r.namespaceCount ?? '?'} namespaces, ${signing === 'sealed' ? 'signed by the sealed key' : 'KMS-signed'}, ${(r.artifactSize / 1024).toFixed(1)} KB`,
        };
      },
      'sim: packing api-gateway/production through the proxy',
    );
  } catch (err) {
    return { error: err };
  }
  recorder.add({
    name: 'client-checks',
    title: 'pack client checked the answer',
    status: pack.result.verified ? 'pass' : 'fail',
    evidence: pack.result.verified
      ? 'nonce, commit, identity, environment and artifact sha256 match the request; attestation chain, PCRs and claims binding verified'
      : 'the client did not verify the receipt',
  });

  let args: string[];
  let flags: string[];
  try {
    const kmsPublicKey = await writeSigningPublicKey(sim);
    const p = { receipt: pack.receipt, artifact: pack.artifact, nonce: pack.nonce };
    args = expectReceiptArgs(sim, p);
    flags = verifyReceiptArgs(sim, { ...p, ...(sim.sealedKey ? { verifyKey: sim.deployment.config.signer.publicKey } : { kmsPublicKey }) });
  } catch (err) {
    recorder.fail('verify-receipt', 'verify-receipt', err);
    return { pack, error: err };
  }
  recorder.note(`sim: running verify-receipt --expect ${sim.paths.expectations}`);
  const v = await verifyWithCli(args);
  if (!v.report) {
    recorder.add({ name: 'verify-receipt', title: 'verify-receipt', status: 'fail', evidence: v.error ?? 'no report', code: 'SIM_CHECK_FAILED' });
    return { pack, verifyArgs: args, verifyFlags: flags };
  }
  for (const c of v.report.checks) {
    recorder.add({
      name: `verify-receipt:${c.name}`,
      title: `verify-receipt ${c.id}. ${c.name}`,
      status: c.status,
      evidence: c.evidence,
      ...(c.code ? { code: c.code } : {}),
    });
  }
  return { pack, verifyArgs: args, verifyFlags: flags };
}

/** What `sim --json` prints. */
export interface SimSummary {
  ok: boolean;
  stateDir: string;
  identity: string;
  environment: string;
  repository: string;
  artifact: string | null;
  receipt: string | null;
  measurements: string | null;
  demoRepo: string | null;
  commit: string | null;
  nsmRoot: string;
  signPublicKey: string | null;
  sealedKey: string | null;
  keys: Record<string, string> | null;
  pcr0: string | null;
  reused: SimReuse | null;
  checks: SimCheck[];
  /** The auditor step's verify-receipt command line (`--expect` expectations.json; argv after the program name). */
  verifyReceiptArgs: string[] | null;
  /** The same bindings as individual flags with --measurements (what `attested-pack audit -- …` takes). */
  verifyReceiptFlags: string[] | null;
  /** The demo's deploy file and its rendered expectations.json. */
  deployFile: string | null;
  expectations: string | null;
  /** Present with --keep-running. */
  services?: { proxy: string; token: string; kms: string; enclave: string; enclavePid: number };
  /** The error that stopped the run early, if any. */
  error?: { code: string; message: string; hint?: string };
}

/** Options of the whole run. */
export interface RunSimOptions extends StartSimOptions {
  /** Leave the services up; the caller closes `handle` (the CLI waits for Ctrl-C). */
  keepRunning?: boolean;
}

/** Runs the whole simulation (steps 1–6). Closes everything unless `keepRunning` (then the caller closes `handle`). */
export async function runSim(o: RunSimOptions): Promise<{ summary: SimSummary; exitCode: number; handle: SimHandle | undefined }> {
  const recorder = new CheckRecorder(o.progress);
  let handle: SimHandle | undefined;
  let failure: unknown;
  let packed: { pack?: SimPackOutcome; verifyArgs?: string[]; verifyFlags?: string[]; error?: unknown } = {};
  try {
    handle = await startSim(o, recorder);
    packed = await packAndVerify(handle, recorder);
    failure = packed.error;
    if (o.signal?.aborted) throw new SimError('SIM_INTERRUPTED', 'interrupted; everything started was shut down');
  } catch (err) {
    failure = err;
    if (!recorder.checks.some((c) => c.status === 'fail')) recorder.fail('run', 'simulation', err);
  }
  if (failure !== undefined && process.env.ATTESTED_PACK_DEBUG === '1') {
    const cause = (failure as { cause?: unknown }).cause ?? failure;
    recorder.note(`sim: debug: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`);
  }
  const e = failure === undefined ? undefined : toAttestedPackError(failure);
  const error = e ? { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) } : undefined;
  const summary = summarize(o, handle, recorder, packed, error);
  const exitCode = summary.ok ? EXIT_CODES.ok : (e?.exitCode ?? EXIT_CODES.rejected);
  if (handle && !o.keepRunning) {
    await handle.close();
    return { summary, exitCode, handle: undefined };
  }
  if (handle) {
    summary.services = { proxy: handle.proxy.url, token: handle.proxy.token, kms: handle.kms.endpoint, enclave: handle.enclave.url, enclavePid: handle.enclave.pid };
  }
  return { summary, exitCode, handle };
}

function summarize(
  o: RunSimOptions,
  h: SimHandle | undefined,
  recorder: CheckRecorder,
  packed: { pack?: SimPackOutcome; verifyArgs?: string[]; verifyFlags?: string[] },
  error: SimSummary['error'],
): SimSummary {
  const paths = h?.paths ?? simPaths(o.stateDir);
  return {
    ok: recorder.ok && error === undefined,
    stateDir: paths.stateDir,
    identity: DEMO_IDENTITY,
    environment: DEMO_ENVIRONMENT,
    repository: SIM_REPOSITORY,
    artifact: packed.pack?.artifact ?? null,
    receipt: packed.pack?.receipt ?? null,
    measurements: h?.measured.measurementsPath ?? null,
    demoRepo: h?.repo.dir ?? null,
    commit: h?.repo.commit ?? null,
    nsmRoot: paths.nsmRootPem,
    signPublicKey: packed.verifyArgs ? paths.signPublicKey : null,
    sealedKey: h?.sealedKey ? paths.sealedKey : null,
    keys: h ? { ...h.keys } : null,
    pcr0: h?.measured.measurements.PCR0 ?? null,
    reused: h?.reused ?? null,
    checks: recorder.checks,
    verifyReceiptArgs: packed.verifyArgs ?? null,
    verifyReceiptFlags: packed.verifyFlags ?? null,
    deployFile: h ? paths.deployFile : null,
    expectations: packed.verifyArgs ? paths.expectations : null,
    ...(error ? { error } : {}),
  };
}
