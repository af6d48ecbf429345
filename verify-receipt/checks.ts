/**
 * The eight checks of verify-receipt, run in order as named steps. Each returns a CheckResult
 * (pass / fail / skipped with one line of evidence) instead of throwing, so the auditor sees
 * every answer at once; what one step established (the verified document, the manifest at the
 * commit) is handed to the steps after it. A check whose input was not given is skipped,
 * never passed; a check that cannot trust its data (document not verified) is skipped too,
 * and the verdict is already "failed" by then.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { isAttestedPackError } from '../common/errors.js';
import { toHex } from '../common/bytes.js';
import type { Receipt, ReceiptClaims } from '../attestation/receipt-types.js';
import {
  checkClaimsBinding,
  checkNonceBinding,
  checkReceiptFreshness,
  receiptAttestationBytes,
  receiptDocumentTimestamp,
} from '../attestation/receipt.js';
import { verifyAttestationDocument, type VerifiedAttestation } from '../attestation/verify.js';
import type { TrustedRoot } from '../attestation/roots.js';
import { isDebugMode, isZeroPcr, pcrEquals } from '../attestation/pcr.js';
import { parseManifest } from '../enclave-app/clef/manifest.js';
import { resolvePackScope, type PackScope } from '../enclave-app/clef/scope.js';
import type { ClefManifest } from '../enclave-app/clef/manifest-types.js';
import { verifyArtifact } from '../enclave-app/clef/verify.js';
import { formatDuration } from '../common/duration.js';
import type { GitRepo } from './git.js';
import { makeReport, type CheckResult, type ReceiptSummary, type VerificationReport } from './report.js';
import { missingBindings, type Expectations, type KeyPolicyExpectation } from './expectations.js';
import { evaluatePolicy, label as statementLabel, type PolicyDecision, type PolicyPrincipal } from '../kms-policies/evaluate.js';
import type { ConditionClause, NormalizedStatement, ParsedPolicy } from '../kms-policies/policy.js';
import { callersNamedBy } from './inputs.js';

export type { ExpectedMeasurements } from './expectations.js';

/** Everything the checks need, already read and parsed by the CLI (or a test). */
export interface VerificationPlan {
  receiptPath: string;
  receipt: Receipt;
  trustedRoots: readonly TrustedRoot[];
  /** What the receipt must match (one object, whatever supplied it). */
  expect: Expectations;
  /** The verification clock (epoch ms): the system clock or --at. */
  now: number;
  clockSource: 'system' | '--at';
  artifact?: { path: string; bytes: Uint8Array };
  repo?: GitRepo;
  /**
   * The auditor asked for a partial verification (--partial): bindings it did not give are
   * reported as skipped and the verdict is PARTIAL, never VERIFIED.
   */
  partial?: boolean;
}

/** What earlier steps hand to later ones. */
interface State {
  documentTime?: number;
  verified?: VerifiedAttestation;
  manifest?: { manifest: ClefManifest; scope: PackScope; path: string };
}

const short = (hex: string, n = 16): string => (hex.length > n ? `${hex.slice(0, n)}…` : hex);

function codeOf(err: unknown): string | undefined {
  return isAttestedPackError(err) ? err.code : undefined;
}

function messageOf(err: unknown): string {
  // Unknown exceptions are not printed verbatim: they could carry data we did not vet.
  return isAttestedPackError(err) ? err.message : 'unexpected error';
}

function fail(id: number, name: string, evidence: string, code?: string, details?: Record<string, unknown>): CheckResult {
  return { id, name, status: 'fail', evidence, ...(code ? { code } : {}), ...(details ? { details } : {}) };
}

function pass(id: number, name: string, evidence: string, details?: Record<string, unknown>): CheckResult {
  return { id, name, status: 'pass', evidence, ...(details ? { details } : {}) };
}

function skipped(id: number, name: string, evidence: string, details?: Record<string, unknown>): CheckResult {
  return { id, name, status: 'skipped', evidence, ...(details ? { details } : {}) };
}

const NOT_VERIFIED = 'not run: the attestation document did not verify (check 1)';

/** Runs checks 1–8 in order and returns the report. Never throws for a failing check. */
export async function runChecks(plan: VerificationPlan): Promise<VerificationReport> {
  const state: State = {};
  const checks: CheckResult[] = [];
  checks.push(await checkAttestation(plan, state));
  checks.push(checkMeasurements(plan, state));
  checks.push(checkDebug(plan, state));
  checks.push(checkBinding(plan, state));
  checks.push(checkNonce(plan, state));
  checks.push(checkArtifact(plan));
  checks.push(await checkRepository(plan, state));
  checks.push(checkKeys(plan, state));
  const missing = missingBindings(plan.expect, { repo: plan.repo !== undefined, artifact: plan.artifact !== undefined }, plan.receipt);
  return makeReport(summarise(plan, state), checks, missing);
}

function summarise(plan: VerificationPlan, state: State): ReceiptSummary {
  const { request } = plan.receipt.claims;
  const summary: ReceiptSummary = {
    receiptPath: plan.receiptPath,
    identity: request.identity,
    environment: request.environment,
    commit: request.commit,
    repository: request.repository,
    requestedBy: request.requestedBy,
    claimsTime: plan.receipt.claims.time,
    toolVersion: plan.receipt.claims.tool.version,
    clock: { now: new Date(plan.now).toISOString(), source: plan.clockSource },
  };
  if (state.documentTime !== undefined) {
    summary.documentTime = new Date(state.documentTime).toISOString();
    summary.ageMs = plan.now - state.documentTime;
    summary.age = formatDuration(summary.ageMs);
  }
  if (state.verified) summary.moduleId = state.verified.moduleId;
  return summary;
}

// ---------------------------------------------------------------------------------------------
// 1. The document: COSE signature and chain to the pinned root at the document's own time;
//    with --max-age, freshness against the verification clock.

async function checkAttestation(plan: VerificationPlan, state: State): Promise<CheckResult> {
  const ID = 1;
  const NAME = 'attestation';
  let timestamp: number;
  try {
    timestamp = receiptDocumentTimestamp(plan.receipt);
  } catch (err) {
    return fail(ID, NAME, `the attestation document cannot be decoded: ${messageOf(err)}`, codeOf(err));
  }
  state.documentTime = timestamp;
  const at = new Date(timestamp).toISOString();
  try {
    state.verified = await verifyAttestationDocument(receiptAttestationBytes(plan.receipt), {
      trustedRoots: plan.trustedRoots,
      at: timestamp,
      // PCRs and debug mode are checks 2 and 3, reported separately.
      expectedPcrs: 'skip',
      allowDebug: true,
    });
  } catch (err) {
    return fail(ID, NAME, `not valid at its own time ${at}: ${messageOf(err)}`, codeOf(err), { documentTime: at });
  }
  const v = state.verified;
  const age = formatDuration(plan.now - timestamp);
  const clock = plan.clockSource === '--at' ? '--at' : 'now';
  const rootSubject = v.chainSubjects[v.chainSubjects.length - 1] ?? '(root)';
  const root = /CN=([^,]+)/.exec(rootSubject)?.[0] ?? rootSubject;
  const details = {
    documentTime: at,
    ageMs: plan.now - timestamp,
    moduleId: v.moduleId,
    chain: v.chainSubjects,
    rootSha256: v.rootSha256,
    ...(plan.expect.maxAgeMs === undefined ? {} : { maxAgeMs: plan.expect.maxAgeMs }),
  };
  const chain = `ES384 signature and ${v.chainSubjects.length}-certificate chain to ${root} (sha256 ${short(v.rootSha256, 12)}) valid at document time ${at}`;
  try {
    checkReceiptFreshness(timestamp, plan.now, plan.expect.maxAgeMs);
  } catch (err) {
    const why =
      codeOf(err) === 'ATTESTATION_STALE'
        ? `attested ${age} before ${clock}, older than --max-age ${formatDuration(plan.expect.maxAgeMs ?? 0)}`
        : messageOf(err);
    return fail(ID, NAME, `${chain}, but ${why}`, codeOf(err), details);
  }
  const freshness = plan.expect.maxAgeMs === undefined ? `age ${age} (no --max-age)` : `age ${age} ≤ --max-age ${formatDuration(plan.expect.maxAgeMs)}`;
  return pass(ID, NAME, `${chain}; ${freshness}`, details);
}

// ---------------------------------------------------------------------------------------------
// 2. PCRs against the expected measurements.

function checkMeasurements(plan: VerificationPlan, state: State): CheckResult {
  const ID = 2;
  const NAME = 'measurements';
  const v = state.verified;
  if (!v) return skipped(ID, NAME, NOT_VERIFIED);
  const { source, alternatives, keyPolicy, pins } = plan.expect.measurements;
  // The parent pins (PCR3 role, PCR4 instance) hold whatever the image source.
  const pinned = [...(pins ?? new Map<number, { value: string; from: string }>())].sort((x, y) => x[0] - y[0]);
  const pinProblems = pinned
    .filter(([i, p]) => !pcrEquals(v.pcrs.get(i) ?? '', p.value))
    .map(([i, p]) => `PCR${i} ${v.pcrs.has(i) ? `is ${short(v.pcrs.get(i)!)}` : 'is absent'}, ${p.from} expects ${short(p.value)}`);
  const pinText = pinned.length > 0 ? `; ${pinned.map(([i, p]) => `PCR${i} = ${p.from}`).join(', ')}` : '';
  if (pinProblems.length > 0) {
    return fail(ID, NAME, `${pinProblems.join('; ')}: another parent role or instance ran this enclave`, 'ATTESTATION_PCR_MISMATCH', {
      source,
      pins: Object.fromEntries(pinned.map(([i, p]) => [`PCR${i}`, p])),
    });
  }
  if (keyPolicy) return checkAgainstKeyPolicy(ID, NAME, keyPolicy, v.pcrs, plan, pinText);
  const tried = alternatives.map((alt) => ({ label: alt.label, ...comparePcrs(v.pcrs, alt.pcrs) }));
  const match = tried.find((t) => t.mismatches.length === 0);
  if (match) {
    const from = match.label ? `${source}, ${match.label}` : source;
    return pass(ID, NAME, `${match.matched.map((m) => `PCR${m.pcr} ${short(m.value)}`).join(', ')} equal ${from}${pinText}`, {
      source,
      ...(match.label ? { alternative: match.label } : {}),
      pcrs: Object.fromEntries(match.matched.map((m) => [`PCR${m.pcr}`, m.value])),
    });
  }
  const text = tried
    .map((t) => {
      const what = t.mismatches
        .map((m) =>
          m.actual === null
            ? `PCR${m.pcr} absent from the document (expected ${m.expected.map((e) => short(e)).join(' or ')})`
            : `PCR${m.pcr} differs: document ${short(m.actual)}, expected ${m.expected.map((e) => short(e)).join(' or ')}`,
        )
        .join('; ');
      return t.label ? `${t.label}: ${what}` : what;
    })
    .join(' | ');
  return fail(ID, NAME, `${text} (from ${source})`, 'ATTESTATION_PCR_MISMATCH', {
    source,
    mismatches: tried.map((t) => ({ ...(t.label ? { alternative: t.label } : {}), pcrs: t.mismatches })),
  });
}

/** Condition keys the caller cannot choose: they come from the Recipient document or the principal. */
function callerCannotChoose(key: string): boolean {
  const k = key.toLowerCase();
  return k.startsWith('kms:recipientattestation:') || k === 'aws:principalarn' || k === 'aws:principalaccount' || k === 'kms:calleraccount';
}

/** A value that satisfies a non-negated clause (the first value, wildcards filled in). */
function satisfyingValue(c: ConditionClause): string | undefined {
  if (c.operator === 'Null') return c.values.includes('true') ? undefined : 'x';
  if (c.operator.includes('Not')) return undefined; // absent satisfies a negated operator
  const v = c.values[0];
  return v === undefined ? undefined : v.replace(/[*?]/g, 'x');
}

/**
 * Ways the policy allows `kms:Decrypt` without a Recipient, evaluated as an adversarial caller
 * would ask: for every Allow statement, every principal it names (plus the expected callers), with
 * each condition the caller controls set to a value that satisfies it (encryption context, request
 * keys such as kms:ViaService, absent for negated operators). The whole policy decides, so Denies
 * (e.g. the generated deny-unless-ImageSha384 statements) still refuse.
 */
function unattestedDecryptPaths(kp: KeyPolicyExpectation, resource: string): string[] {
  const policy = kp.policy as ParsedPolicy;
  const paths: string[] = [];
  for (const s of policy.statements as NormalizedStatement[]) {
    if (s.effect !== 'Allow' || s.principalNegated) continue;
    // Account roots are left out: the evaluator models them as the account administrator only, not as
    // the IAM delegation they are in AWS (`kms-policy check` flags that path, SECURITY.md says so).
    const named = callersNamedBy(s.principal.any ? ['*'] : s.principal.aws).filter((p) => !/:root$/.test(p.arn));
    const principals: PolicyPrincipal[] = [...kp.callers, ...named];
    const encryptionContext: Record<string, string> = Object.create(null) as Record<string, string>;
    const extra: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const c of s.conditions) {
      if (callerCannotChoose(c.key)) {
        // Attestation keys are absent without a Recipient: only negated / IfExists / Null:true clauses can hold.
        continue;
      }
      const v = satisfyingValue(c);
      if (v === undefined) continue;
      const lower = c.key.toLowerCase();
      if (lower.startsWith('kms:encryptioncontext:')) encryptionContext[c.key.slice('kms:EncryptionContext:'.length)] = v;
      else if (lower === 'kms:encryptioncontextkeys') encryptionContext[v] = 'x';
      else extra[c.key] = v;
    }
    for (const principal of principals) {
      const d = evaluatePolicy(policy, { action: 'kms:Decrypt', resource, principal, encryptionContext, extraConditionKeys: extra });
      if (d.allowed) {
        paths.push(`${principal.arn} by ${d.deciding.map(statementLabel).join(', ')}`);
        break;
      }
    }
  }
  return [...new Set(paths)];
}

/**
 * Check 2 against a key policy: the evaluator the KMS simulator enforces decides. The image
 * counts only if `kms:Decrypt` with a Recipient carrying the document's PCRs is allowed for a
 * caller by an image-pinning statement (Deny, Action, Principal and every condition honoured),
 * and the same caller would be refused without the Recipient (else the policy pins nothing).
 */
function checkAgainstKeyPolicy(
  ID: number,
  NAME: string,
  kp: KeyPolicyExpectation,
  pcrs: ReadonlyMap<number, string>,
  plan: VerificationPlan,
  pinText: string,
): CheckResult {
  const keys = plan.receipt.claims.keys;
  // Key policies name their own key as "*"; a statement naming a key ARN is matched against the pack's key.
  const resource = keys.source[0] ?? keys.seal ?? 'arn:aws:kms:us-east-1:000000000000:key/unknown';
  // Fail closed: any principal the policy names that can meet some Allow's conditions without a
  // Recipient (the caller chooses the encryption context and other request keys) defeats the pin.
  const open = unattestedDecryptPaths(kp, resource);
  if (open.length > 0) {
    return fail(ID, NAME, `key policy ${kp.path} lets a caller decrypt without any attestation: ${open.join(' | ')}; it pins no image`, 'ATTESTATION_PCR_MISMATCH', {
      source: `key policy ${kp.path}`,
    });
  }
  const tried: string[] = [];
  for (const caller of kp.callers) {
    const attested = evaluatePolicy(kp.policy, { action: 'kms:Decrypt', resource, principal: caller, recipientAttestation: { pcrs } });
    if (!attested.allowed) {
      tried.push(`${caller.arn}: ${whyRefused(attested, kp, pcrs)}`);
      continue;
    }
    const pinning = attested.deciding.filter((d) => kp.pinningStatements.has(d.index));
    const plain = evaluatePolicy(kp.policy, { action: 'kms:Decrypt', resource, principal: caller });
    if (plain.allowed) {
      tried.push(`${caller.arn} may decrypt without any attestation (${plain.deciding.map(statementLabel).join(', ')}): the policy pins no image for it`);
      continue;
    }
    if (pinning.length === 0) {
      tried.push(`${caller.arn} is allowed by ${attested.deciding.map(statementLabel).join(', ')}, none of which pins the image`);
      continue;
    }
    const shown = [0, 1, 2].filter((i) => pcrs.has(i)).map((i) => `PCR${i} ${short(pcrs.get(i)!)}`).join(', ');
    return pass(
      ID,
      NAME,
      `key policy ${kp.path} allows kms:Decrypt for ${caller.arn} with a Recipient carrying this document's PCRs (${shown}) by ${pinning.map(statementLabel).join(', ')}, and refuses it without one${pinText}`,
      {
        source: `key policy ${kp.path}`,
        caller: caller.arn,
        statements: pinning.map((d) => ({ index: d.index, ...(d.sid === undefined ? {} : { sid: d.sid }) })),
        pcrs: Object.fromEntries([...pcrs].filter(([i]) => i <= 4 || i === 8).map(([i, h]) => [`PCR${i}`, h])),
      },
    );
  }
  return fail(ID, NAME, `key policy ${kp.path} does not let this image decrypt: ${tried.join(' | ')}`, 'ATTESTATION_PCR_MISMATCH', {
    source: `key policy ${kp.path}`,
    callers: kp.callers.map((c) => c.arn),
    tried,
  });
}

/** Why the policy refuses this image for a caller: the Deny that applied, or the PCRs the pinning statements want. */
function whyRefused(decision: PolicyDecision, kp: KeyPolicyExpectation, pcrs: ReadonlyMap<number, string>): string {
  if (decision.decision === 'explicit-deny') return `denied by ${decision.deciding.map((d) => `${statementLabel(d)} (${d.reason})`).join(', ')}`;
  const near = decision.statements.filter((st) => kp.pinningStatements.has(st.index) && st.principalMatched && st.actionMatched && st.resourceMatched);
  if (near.length === 0) return 'no image-pinning Allow statement lets it call kms:Decrypt';
  return near
    .map((st) => {
      const wanted = new Map(Object.entries(kp.pinningStatements.get(st.index)!.pcrs).map(([i, v]) => [Number(i), v]));
      const { mismatches } = comparePcrs(pcrs, wanted);
      const what =
        mismatches.length > 0
          ? mismatches
              .map((m) =>
                m.actual === null
                  ? `PCR${m.pcr} absent from the document (expected ${m.expected.map((e) => short(e)).join(' or ')})`
                  : `PCR${m.pcr} differs: document ${short(m.actual)}, expected ${m.expected.map((e) => short(e)).join(' or ')}`,
              )
              .join('; ')
          : st.reason;
      return `${statementLabel(st)}: ${what}`;
    })
    .join('; ');
}

function comparePcrs(
  actual: ReadonlyMap<number, string>,
  expected: ReadonlyMap<number, readonly string[]>,
): { matched: Array<{ pcr: number; value: string }>; mismatches: Array<{ pcr: number; expected: readonly string[]; actual: string | null }> } {
  const matched: Array<{ pcr: number; value: string }> = [];
  const mismatches: Array<{ pcr: number; expected: readonly string[]; actual: string | null }> = [];
  for (const [pcr, wants] of [...expected].sort((a, b) => a[0] - b[0])) {
    const got = actual.get(pcr);
    if (got !== undefined && wants.some((w) => pcrEquals(got, w))) matched.push({ pcr, value: got });
    else mismatches.push({ pcr, expected: wants, actual: got ?? null });
  }
  return { matched, mismatches };
}

// ---------------------------------------------------------------------------------------------
// 3. Debug mode refused unless --allow-debug.

function checkDebug(plan: VerificationPlan, state: State): CheckResult {
  const ID = 3;
  const NAME = 'debug-mode';
  const v = state.verified;
  if (!v) return skipped(ID, NAME, NOT_VERIFIED);
  if (isDebugMode(v.pcrs)) {
    return plan.expect.allowDebug
      ? pass(ID, NAME, 'debug-mode enclave (PCR0/1/2 all zero) accepted because of --allow-debug', { debugMode: true, allowed: true })
      : fail(ID, NAME, 'the document comes from a debug-mode enclave (PCR0/1/2 all zero): its memory was open to the host', 'ATTESTATION_DEBUG_MODE', {
          debugMode: true,
        });
  }
  for (const i of [0, 1, 2]) {
    const value = v.pcrs.get(i);
    if (value === undefined || isZeroPcr(value)) {
      return fail(ID, NAME, `PCR${i} is ${value === undefined ? 'absent' : 'all zero'}: the image is not measured`, 'ATTESTATION_DEBUG_MODE', {
        pcr: i,
      });
    }
  }
  return pass(ID, NAME, 'production enclave: PCR0, PCR1 and PCR2 are measured (non-zero)', { debugMode: false });
}

// ---------------------------------------------------------------------------------------------
// 4. user_data = SHA-384(JCS(claims)).

function checkBinding(plan: VerificationPlan, state: State): CheckResult {
  const ID = 4;
  const NAME = 'claims-binding';
  const v = state.verified;
  if (!v) return skipped(ID, NAME, NOT_VERIFIED);
  try {
    const digest = checkClaimsBinding(plan.receipt.claims, v);
    return pass(ID, NAME, `user_data = SHA-384(JCS(claims)) = ${short(digest)}`, { claimsDigest: digest });
  } catch (err) {
    return fail(ID, NAME, messageOf(err), codeOf(err), isAttestedPackError(err) ? err.details : undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// 5. Nonce: the document's nonce is the claims' nonce (always), and the auditor's (when given).

function checkNonce(plan: VerificationPlan, state: State): CheckResult {
  const ID = 5;
  const NAME = 'nonce';
  const v = state.verified;
  if (!v) return skipped(ID, NAME, NOT_VERIFIED);
  const claimed = plan.receipt.claims.request.nonce;
  try {
    checkNonceBinding(plan.receipt.claims, v);
  } catch (err) {
    return fail(ID, NAME, messageOf(err), codeOf(err), isAttestedPackError(err) ? err.details : undefined);
  }
  if (plan.expect.nonce === undefined) {
    return skipped(ID, NAME, `no --nonce given (the document nonce equals the claims' nonce ${short(claimed)})`, { nonce: claimed });
  }
  try {
    checkNonceBinding(plan.receipt.claims, v, plan.expect.nonce);
  } catch (err) {
    return fail(ID, NAME, messageOf(err), codeOf(err), isAttestedPackError(err) ? err.details : undefined);
  }
  return pass(ID, NAME, `document nonce = claims nonce = --nonce ${short(claimed)}`, { nonce: claimed });
}

// ---------------------------------------------------------------------------------------------
// 6. The artifact: its bytes are the claimed ones, its ciphertextHash holds, its signature
//    verifies with the auditor's key (when given).

function checkArtifact(plan: VerificationPlan): CheckResult {
  const ID = 6;
  const NAME = 'artifact';
  if (!plan.artifact) return skipped(ID, NAME, 'no --artifact given');
  const claims = plan.receipt.claims;
  const file = plan.artifact.path;
  const problems: string[] = [];
  const sha = createHash('sha256').update(plan.artifact.bytes).digest('hex');
  if (sha !== claims.artifact.sha256) {
    problems.push(`${file} has sha256 ${short(sha)}, the receipt claims ${short(claims.artifact.sha256)}`);
  }
  let verified;
  try {
    verified = verifyArtifact(plan.artifact.bytes, plan.expect.signer ? { verifyKey: plan.expect.signer.key } : { skipSignature: true });
  } catch (err) {
    problems.push(`${file}: ${messageOf(err)}`);
    return fail(ID, NAME, problems.join('; '), codeOf(err), { sha256: sha, problems });
  }
  const a = verified.artifact;
  const compare = (what: string, artifactValue: unknown, claimValue: unknown): void => {
    if (artifactValue !== claimValue) {
      problems.push(`artifact ${what} ${JSON.stringify(artifactValue)} ≠ receipt ${JSON.stringify(claimValue)}`);
    }
  };
  compare('identity', a.identity, claims.request.identity);
  compare('environment', a.environment, claims.request.environment);
  compare('revision', a.revision, claims.artifact.revision);
  compare('ciphertextHash', a.ciphertextHash, claims.artifact.ciphertextHash);
  compare('envelope.keyId', a.envelope?.keyId ?? null, claims.keys.wrap);
  compare('signatureAlgorithm', a.signatureAlgorithm ?? null, claims.artifact.signatureAlgorithm);
  let signature: string;
  if (plan.expect.signer) {
    signature = `${verified.signatureAlgorithm ?? ''} signature verifies with ${plan.expect.signer.source}`;
    const claimedKey = claims.keys.signingPublicKey;
    if (claimedKey !== null && claimedKey !== plan.expect.signer.key.spki) {
      problems.push(`the receipt says the artifact was signed by another key (${short(claimedKey, 24)}) than ${plan.expect.signer.source}`);
    }
  } else {
    signature = 'the signature is not checked (no --verify-key / --kms-public-key)';
  }
  const details = {
    file,
    sha256: sha,
    ciphertextHash: a.ciphertextHash,
    revision: a.revision,
    signature: plan.expect.signer ? 'pass' : 'skipped',
    problems,
  };
  if (problems.length > 0) return fail(ID, NAME, problems.join('; '), 'ARTIFACT_MISMATCH', details);
  // Without the signer's key the artifact's origin is not established: that is not a pass.
  if (!plan.expect.signer) return skipped(ID, NAME, `sha256 ${short(sha)} = claim; ciphertextHash holds; but ${signature}`, details);
  return pass(ID, NAME, `sha256 ${short(sha)} = claim; ciphertextHash holds; ${signature}`, details);
}

// ---------------------------------------------------------------------------------------------
// 7. The repository: the commit exists, every input is the blob at its path in that commit,
//    and the inputs are exactly what clef.yaml at that commit scopes.

async function checkRepository(plan: VerificationPlan, state: State): Promise<CheckResult> {
  const ID = 7;
  const NAME = 'repository';
  const claims = plan.receipt.claims;
  const commit = claims.request.commit;
  // The manifest path is an expectation: a pack from another manifest in the same commit
  // (e.g. archive/clef.yaml pointing production at dev files) answers another question.
  const manifestInput = claims.inputs.find((i) => i.role === 'manifest')!;
  const want = plan.expect.manifestPath;
  if (manifestInput.path !== want.path) {
    const how = want.from === 'default' ? `the default ${want.path} at the repository root (pass --manifest PATH if the repository keeps it elsewhere)` : `${want.from} ${want.path}`;
    return fail(ID, NAME, `the pack read manifest ${manifestInput.path}, not ${how}`, 'MANIFEST_PATH_MISMATCH', {
      manifest: manifestInput.path,
      expected: want.path,
      expectedFrom: want.from,
    });
  }
  // The repository name, when expected (--expect): a pack of another repository with the same layout answers another question.
  if (plan.expect.repository !== undefined && claims.request.repository !== plan.expect.repository) {
    return fail(ID, NAME, `the pack was requested for repository ${claims.request.repository}, not ${plan.expect.repository} (${plan.expect.manifestPath.from === '--expect' ? '--expect' : 'expected'})`, 'REPOSITORY_NAME_MISMATCH', {
      repository: claims.request.repository,
      expected: plan.expect.repository,
    });
  }
  if (!plan.repo) {
    if (plan.expect.commit === undefined) return skipped(ID, NAME, `manifest ${want.path} as expected; no --repo or --commit given`);
    if (!commitMatches(commit, plan.expect.commit)) {
      return fail(ID, NAME, `the receipt is for commit ${commit}, not --commit ${plan.expect.commit}`, 'COMMIT_MISMATCH');
    }
    // The commit is only what the host claims: without --repo nothing compares the inputs with it.
    return skipped(ID, NAME, `commit ${short(commit, 12)} equals --commit and the manifest is ${want.path}, but the input blobs were not compared with that commit (no --repo given)`, {
      commit,
      manifest: want.path,
    });
  }
  const repo = plan.repo;
  const resolved = await repo.resolveCommit(commit);
  if (resolved === undefined) {
    return fail(ID, NAME, `commit ${commit} does not exist in ${repo.dir}`, 'COMMIT_NOT_FOUND', {
      commit,
      hint: 'fetch the repository history (git fetch) or pass the right --repo',
    });
  }
  if (plan.expect.commit !== undefined) {
    const expected = (await repo.resolveCommit(plan.expect.commit)) ?? plan.expect.commit;
    if (expected !== resolved) {
      return fail(ID, NAME, `the receipt is for commit ${resolved}, not --commit ${plan.expect.commit}`, 'COMMIT_MISMATCH', {
        commit: resolved,
        expected,
      });
    }
  }
  const problems: string[] = [];
  const files: Array<{ path: string; status: string; receiptBlob: string; commitBlob: string | null }> = [];
  const lookups = await repo.readAt(resolved, claims.inputs.map((i) => i.path));
  let manifestBytes: Uint8Array | undefined;
  claims.inputs.forEach((input, n) => {
    const found = lookups[n]!;
    if (!found.found || found.type !== 'blob') {
      problems.push(`${input.path} is not a file in commit ${short(resolved, 12)}`);
      files.push({ path: input.path, status: 'missing', receiptBlob: input.gitBlobId, commitBlob: null });
      return;
    }
    if (found.oid !== input.gitBlobId) {
      problems.push(`${input.path} differs: blob ${short(found.oid, 12)} at the commit, ${short(input.gitBlobId, 12)} in the receipt`);
      files.push({ path: input.path, status: 'differs', receiptBlob: input.gitBlobId, commitBlob: found.oid });
      return;
    }
    const sha = toHex(createHash('sha256').update(found.content).digest());
    if (sha !== input.sha256) {
      problems.push(`${input.path}: sha256 ${short(sha)} at the commit, ${short(input.sha256)} in the receipt`);
      files.push({ path: input.path, status: 'differs', receiptBlob: input.gitBlobId, commitBlob: found.oid });
      return;
    }
    files.push({ path: input.path, status: 'match', receiptBlob: input.gitBlobId, commitBlob: found.oid });
    if (input.role === 'manifest') manifestBytes = found.content;
  });

  const scopeResult = manifestBytes
    ? await checkScope(repo, resolved, manifestInput.path, manifestBytes, claims, state)
    : { problems: [`cannot resolve the scope: ${manifestInput.path} at the commit is not the receipt's manifest`], missing: [], extra: [] };
  problems.push(...scopeResult.problems);
  const details = { commit: resolved, files, missing: scopeResult.missing, extra: scopeResult.extra, problems };
  if (problems.length > 0) return fail(ID, NAME, problems.join('; '), 'REPOSITORY_MISMATCH', details);
  const sops = claims.inputs.length - 1;
  return pass(
    ID,
    NAME,
    `commit ${short(resolved, 12)} holds all ${claims.inputs.length} inputs byte for byte; they are exactly the ${sops} file(s) ${manifestInput.path} scopes for ${claims.request.identity}/${claims.request.environment}`,
    details,
  );
}

function commitMatches(full: string, given: string): boolean {
  const g = given.toLowerCase();
  return g.length >= 7 && full.startsWith(g);
}

async function checkScope(
  repo: GitRepo,
  commit: string,
  manifestPath: string,
  manifestBytes: Uint8Array,
  claims: ReceiptClaims,
  state: State,
): Promise<{ problems: string[]; missing: string[]; extra: string[] }> {
  let manifest: ClefManifest;
  let scope: PackScope;
  const dir = posix.dirname(manifestPath);
  const inRepo = (p: string): string => (dir === '.' ? p : posix.join(dir, p));
  try {
    manifest = parseManifest(manifestBytes);
    // Clef skips cells whose file does not exist: ask the commit which candidate files it has.
    const candidates = resolvePackScope(manifest, claims.request.identity, claims.request.environment).files.map((c) => inRepo(c.path));
    const lookups = await repo.readAt(commit, candidates);
    const present = new Set(lookups.filter((l) => l.found && l.type === 'blob').map((l) => l.path));
    scope = resolvePackScope(manifest, claims.request.identity, claims.request.environment, {
      fileExists: (p) => present.has(inRepo(p)),
    });
  } catch (err) {
    if (!isAttestedPackError(err)) throw err;
    return { problems: [`${manifestPath} at the commit does not scope this pack: ${err.message}`], missing: [], extra: [] };
  }
  state.manifest = { manifest, scope, path: manifestPath };
  const expected = new Map(scope.files.map((c) => [inRepo(c.path), c.namespace]));
  const used = claims.inputs.filter((i) => i.role === 'sops');
  const missing = [...expected.keys()].filter((p) => !used.some((i) => i.path === p));
  const extra = used.filter((i) => !expected.has(i.path)).map((i) => i.path);
  const problems: string[] = [];
  for (const p of missing) problems.push(`${p} is in scope at the commit but missing from the receipt`);
  for (const p of extra) problems.push(`${p} is in the receipt but not in the scope of ${manifestPath} at the commit`);
  for (const i of used) {
    const ns = expected.get(i.path);
    if (ns !== undefined && i.namespace !== undefined && i.namespace !== ns) {
      problems.push(`${i.path} is namespace ${ns} at the commit, the receipt says ${i.namespace}`);
    }
  }
  return { problems, missing, extra };
}

// ---------------------------------------------------------------------------------------------
// 8. Key ARNs: every KMS key the pack used is one the auditor expects (--expect-key), or one
//    the manifest at the commit names.

function checkKeys(plan: VerificationPlan, state: State): CheckResult {
  const ID = 8;
  const NAME = 'keys';
  const keys = plan.receipt.claims.keys;
  const used: Array<{ role: string; arn: string }> = [
    ...keys.source.map((arn) => ({ role: 'source', arn })),
    ...(keys.wrap ? [{ role: 'wrap', arn: keys.wrap }] : []),
    ...(keys.sign ? [{ role: 'sign', arn: keys.sign }] : []),
    ...(keys.seal ? [{ role: 'seal', arn: keys.seal }] : []),
  ];
  if (plan.expect.keys && plan.expect.keys.length > 0) {
    // An age envelope is a key too: with --expect-key, its recipients must be expected as well.
    used.push(...keys.ageRecipients.map((r) => ({ role: 'age recipient', arn: r })));
  }
  const listed = used.map((u) => `${u.role} ${u.arn}`);
  if (plan.expect.keys && plan.expect.keys.length > 0) {
    const expected = new Set(plan.expect.keys);
    const unexpected = used.filter((u) => !expected.has(u.arn));
    if (unexpected.length > 0) {
      return fail(ID, NAME, unexpected.map((u) => `${u.role} key ${u.arn} is not an --expect-key`).join('; '), 'KEY_NOT_EXPECTED', {
        used,
        unexpected,
      });
    }
    return pass(ID, NAME, `all ${used.length} key(s) used are expected: ${listed.join(', ')}`, { used, source: '--expect-key' });
  }
  const m = state.manifest;
  if (!m) {
    return skipped(ID, NAME, plan.repo ? 'no --expect-key, and no valid manifest from check 7 to compare with' : 'no --expect-key or --repo given', {
      used,
    });
  }
  const problems: string[] = [];
  const unchecked: string[] = [];
  const env = m.manifest.environments.find((e) => e.name === plan.receipt.claims.request.environment);
  const sourceArns = new Set(
    [m.manifest.sops.aws_kms_arn, env?.sops?.aws_kms_arn].filter((a): a is string => typeof a === 'string'),
  );
  for (const arn of keys.source) {
    if (!sourceArns.has(arn)) problems.push(`source key ${arn} is not named by ${m.path}`);
  }
  const envelope = m.scope.envelope;
  if (envelope.kind === 'kms') {
    if (keys.wrap !== envelope.keyId) {
      const alias = /:alias\//.test(envelope.keyId);
      problems.push(
        `wrap key ${keys.wrap ?? 'none'} is not ${envelope.keyId} from ${m.path}` +
          (alias ? ' (an alias: pass the key ARN it resolves to with --expect-key)' : ''),
      );
    }
  } else {
    if (keys.wrap !== null) problems.push(`wrap key ${keys.wrap} used, but ${m.path} names an age recipient`);
    const want = [...envelope.recipients].sort();
    const got = [...keys.ageRecipients].sort();
    if (JSON.stringify(want) !== JSON.stringify(got)) problems.push(`age recipients ${got.join(',') || 'none'} ≠ ${want.join(',')} from ${m.path}`);
  }
  if (keys.sign) unchecked.push(`sign ${keys.sign}`);
  if (keys.seal) unchecked.push(`seal ${keys.seal}`);
  const details = { used, source: m.path, problems, unchecked };
  if (problems.length > 0) return fail(ID, NAME, problems.join('; '), 'KEY_NOT_IN_MANIFEST', details);
  const named = `source and ${envelope.kind === 'kms' ? 'wrap keys' : 'age recipients'} are the ones ${m.path} names`;
  // A key nobody compared is not a checked key: the verdict cannot be VERIFIED with it.
  if (unchecked.length > 0) return skipped(ID, NAME, `${named}; but ${unchecked.join(', ')} not named by ${m.path}, not checked (pass --expect-key)`, details);
  return pass(ID, NAME, named, details);
}
