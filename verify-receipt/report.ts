/**
 * What verify-receipt prints: one line per check (✔ pass, ✘ fail, — skipped) with its evidence,
 * a summary, and the verdict; or the same as JSON for machines. Colour only on a terminal.
 */

/** Outcome of one check. `skipped` means an input was not given; it is never a pass. */
export type CheckStatus = 'pass' | 'fail' | 'skipped';

/** One numbered check of the issue-8 list, with the evidence a person or a machine can audit. */
export interface CheckResult {
  /** 1..8, in the order the checks are listed and run. */
  id: number;
  /** Stable machine name, e.g. `attestation`, `measurements`. */
  name: string;
  status: CheckStatus;
  /** One line of evidence: what was compared with what, or why it was skipped. */
  evidence: string;
  /** Stable error code when the check failed (e.g. ATTESTATION_CERT_EXPIRED, RECEIPT_BINDING_MISMATCH). */
  code?: string;
  /** Structured evidence for --json (values compared, files named, sub-results). */
  details?: Record<string, unknown>;
}

/** Facts about the receipt shown above the checks. */
export interface ReceiptSummary {
  receiptPath: string;
  identity: string;
  environment: string;
  commit: string;
  repository: string;
  requestedBy: string;
  claimsTime: string;
  toolVersion: string;
  /** Document timestamp (ISO) when the document could be decoded. */
  documentTime?: string;
  /** Age of the document relative to the verification clock, in ms. */
  ageMs?: number;
  /** Human form of `ageMs`. */
  age?: string;
  /** What "now" was: the system clock or --at. */
  clock: { now: string; source: 'system' | '--at' };
  moduleId?: string;
}

/**
 * The whole verification: summary, checks and verdict. `verified` needs no failed check and
 * every binding (source, artifact, signer, keys); `partial` means nothing failed but `missing`
 * names what was not bound (only reachable with --partial); `failed` means a check said no.
 */
export interface VerificationReport {
  /** True only for `verified`. */
  ok: boolean;
  verdict: 'verified' | 'partial' | 'failed';
  receipt: ReceiptSummary;
  checks: CheckResult[];
  counts: { pass: number; fail: number; skipped: number };
  /** The flags a VERIFIED verdict still needs (empty when verified). */
  missing: string[];
}

/** Builds the report object: failed if a check failed, partial if a binding is missing, else verified. */
export function makeReport(receipt: ReceiptSummary, checks: CheckResult[], missing: readonly string[] = []): VerificationReport {
  const counts = { pass: 0, fail: 0, skipped: 0 };
  for (const c of checks) counts[c.status === 'pass' ? 'pass' : c.status === 'fail' ? 'fail' : 'skipped'] += 1;
  const verdict = counts.fail > 0 ? 'failed' : missing.length > 0 ? 'partial' : 'verified';
  return { ok: verdict === 'verified', verdict, receipt, checks, counts, missing: [...missing] };
}

const SYMBOL: Readonly<Record<CheckStatus, string>> = { pass: '✔', fail: '✘', skipped: '—' };
const COLOUR: Readonly<Record<CheckStatus, string>> = { pass: '\x1b[32m', fail: '\x1b[31m', skipped: '\x1b[2m' };
const RESET = '\x1b[0m';
const BOLD = '\x1b[1m';

/** Formats the report for people; `colour` adds ANSI colours (only when printing to a terminal). */
export function formatHumanReport(report: VerificationReport, colour: boolean): string {
  const paint = (code: string, text: string): string => (colour ? `${code}${text}${RESET}` : text);
  const r = report.receipt;
  const lines: string[] = [];
  lines.push(`${paint(BOLD, 'receipt')} ${r.receiptPath}`);
  lines.push(
    `  identity ${r.identity} · environment ${r.environment} · commit ${r.commit}` +
      (r.repository ? ` · repository ${r.repository}` : ''),
  );
  const when = r.documentTime
    ? `  attested ${r.documentTime}` + (r.age === undefined ? '' : ` · age ${r.age} (now = ${r.clock.now}, ${r.clock.source === '--at' ? '--at' : 'system clock'})`)
    : `  attested: document could not be decoded`;
  lines.push(when);
  lines.push(`  packed ${r.claimsTime} by attested-pack ${r.toolVersion}` + (r.requestedBy ? ` · requested by ${r.requestedBy}` : ''));
  lines.push('');
  const nameWidth = Math.max(...report.checks.map((c) => c.name.length));
  for (const c of report.checks) {
    const head = paint(COLOUR[c.status], `${SYMBOL[c.status]} ${c.id} ${c.name.padEnd(nameWidth)}`);
    lines.push(`${head}  ${c.evidence}${c.code && c.status === 'fail' ? ` [${c.code}]` : ''}`);
  }
  lines.push('');
  const { pass, fail, skipped } = report.counts;
  const tally = `${pass} passed, ${fail} failed, ${skipped} skipped`;
  if (report.verdict === 'partial') {
    lines.push(paint(COLOUR.skipped, 'PARTIAL') + ` (${tally}; not bound, so not verified: ${report.missing.join('; ')})`);
  } else {
    lines.push(
      report.ok
        ? paint(COLOUR.pass, `VERIFIED`) + ` (${tally}${skipped > 0 ? '; skipped checks were not verified' : ''})`
        : paint(COLOUR.fail, `NOT VERIFIED`) + ` (${tally})`,
    );
  }
  return lines.join('\n') + '\n';
}

/** Formats the report as JSON (every check with status, evidence and details). */
export function formatJsonReport(report: VerificationReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}
