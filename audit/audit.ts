/**
 * `attested-pack audit`: from a receipt to rebuilt PCRs, in named steps that each return what the
 * next one needs or throw an AuditError:
 *   1 read the receipt: its source commit (`claims.tool.source`) and the PCRs of its attestation
 *     document (decoded here; verify-receipt checks the signature chain in step 6);
 *   2 check the source checkout: a git work tree at exactly that commit, with nothing uncommitted;
 *   3 tell the image kind from PCR1: the synthetic stand-in boot blobs give one known PCR1, so a
 *     document carrying it came from a simulation image (NOT BOOTABLE), anything else from a
 *     release image on nitro-cli's blobs (--blobs);
 *   4 rebuild with the checkout's *own* CLI (`node DIR/bin/attested-pack.mjs eif build --locked`):
 *     the build code is the one at that commit, and every input is checked against its lock;
 *   5 compare PCR0/1/2, naming each that differs and what it measures;
 *   6 run verify-receipt with the rebuilt measurements.json (plus the caller's extra flags).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeCoseSign1, parseAttestationPayload, parseReceipt } from '../attestation/index.js';
import type { Receipt } from '../attestation/receipt-types.js';
import { parseSourceRevision, sourceRevision } from '../common/git-source.js';
import { EXIT_CODES, type ErrorCategory } from '../common/errors.js';
import { parseMeasurements, type Measurements } from '../common/measurements.js';
import { syntheticPcr1, type ImageKind } from '../eif-build/lock.js';
import { runVerifyReceipt } from '../verify-receipt/cli.js';
import type { VerificationReport } from '../verify-receipt/report.js';
import { AuditError } from './errors.js';

/** What the audit needs. */
export interface AuditOptions {
  receiptPath: string;
  /** attested-pack checkout at the receipt's commit, after `npm ci` (and `npm ci --prefix eif-build/runtime` for release images). */
  sourceDir: string;
  /** nitro-cli's blobs (release images). */
  blobsDir?: string;
  /** Directory holding the locked Debian library paths (release images; default /). */
  libRoot?: string;
  /** measurements.json the operator published: its /cmd arguments after `node /app/enclave.mjs` are rebuilt too. */
  cmdFrom?: string;
  /** Keep the rebuilt enclave.eif and measurements.json here. */
  outDir?: string;
  /** Extra verify-receipt flags (e.g. --root, --artifact, --repo, --nonce). */
  verifyArgs?: string[];
  /** Node that runs the checkout's CLI (default: this one). */
  nodePath?: string;
}

/** One PCR compared. */
export interface PcrComparison {
  receipt: string;
  rebuilt: string;
  match: boolean;
}

/** The audit's answer. */
export interface AuditReport {
  ok: boolean;
  receipt: string;
  source: { dir: string; commit: string };
  kind: ImageKind;
  /** Human description of the image kind (says NOT BOOTABLE for simulation images). */
  kindNote: string;
  cmdArgs: string[];
  pcrs: Record<'PCR0' | 'PCR1' | 'PCR2', PcrComparison>;
  rebuildSeconds: number;
  /** verify-receipt's report with the rebuilt measurements (absent when the PCRs already differ). */
  verify?: VerificationReport;
  measurementsPath?: string;
}

const PCR_MEANING: Record<'PCR0' | 'PCR1' | 'PCR2', string> = {
  PCR0: 'the whole image',
  PCR1: 'the kernel, its cmdline and the bootstrap ramdisk (boot blobs)',
  PCR2: 'the user ramdisk: the enclave bundle, runtime, libraries, addon, /cmd and /env',
};

/** Step 1: the receipt, its source commit and its document's PCRs. */
export async function readReceiptForAudit(path: string): Promise<{ receipt: Receipt; commit: string; pcrs: Record<'PCR0' | 'PCR1' | 'PCR2', string> }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new AuditError('AUDIT_SOURCE_INVALID', `cannot read the receipt ${path}`, { cause: err });
  }
  const receipt = parseReceipt(text);
  const source = receipt.claims.tool.source;
  if (source === undefined) {
    throw new AuditError('AUDIT_NO_SOURCE', 'the receipt names no source commit (claims.tool.source)', {
      hint: 'receipts from enclaves built before the image carried its source, or from an unbundled enclave, cannot say what to rebuild; compare PCRs by hand with `attested-pack eif build --locked` at the commit you believe in',
    });
  }
  const rev = parseSourceRevision(source)!;
  if (rev.dirty) {
    throw new AuditError('AUDIT_DIRTY_IMAGE', `the enclave image was built from a checkout of ${rev.commit} with uncommitted changes (${source}): no commit rebuilds it`, {
      category: 'rejected',
      hint: 'images that keys trust must be built from a clean checkout of a published commit',
    });
  }
  const payload = parseAttestationPayload(decodeCoseSign1(Buffer.from(receipt.attestation, 'base64')).payload);
  const hex = (i: number): string => Buffer.from(payload.pcrs.get(i) ?? new Uint8Array()).toString('hex');
  return { receipt, commit: rev.commit, pcrs: { PCR0: hex(0), PCR1: hex(1), PCR2: hex(2) } };
}

/** Step 2: the checkout is at the commit and clean. */
export async function checkSource(dir: string, commit: string): Promise<void> {
  const rev = sourceRevision(dir);
  if (rev === undefined) {
    throw new AuditError('AUDIT_SOURCE_INVALID', `${dir} is not a git checkout`, { hint: `git clone <attested-pack repository> ${dir} && git -C ${dir} checkout ${commit} && (cd ${dir} && npm ci)` });
  }
  if (rev.commit !== commit) {
    throw new AuditError('AUDIT_WRONG_COMMIT', `${dir} is at ${rev.commit}, the receipt's image was built from ${commit}`, {
      details: { found: rev.commit, expected: commit },
      hint: `git -C ${dir} checkout ${commit}  (then npm ci there)`,
    });
  }
  if (rev.dirty) {
    throw new AuditError('AUDIT_DIRTY_SOURCE', `${dir} has uncommitted or untracked changes: it is not what ${commit} builds`, {
      hint: `git -C ${dir} status shows them; use a fresh clone, or git -C ${dir} stash -u`,
    });
  }
  try {
    await stat(join(dir, 'bin', 'attested-pack.mjs'));
    await stat(join(dir, 'dist', 'cli.mjs'));
  } catch {
    throw new AuditError('AUDIT_SOURCE_INVALID', `${dir} has no built attested-pack CLI (bin/attested-pack.mjs, dist/cli.mjs)`, { hint: `run npm ci in ${dir}` });
  }
}

/** /cmd arguments after `node /app/enclave.mjs`, from a published measurements.json. */
async function cmdArgsFrom(path: string): Promise<string[]> {
  const m = parseMeasurements(await readFile(path, 'utf8'), path);
  const cmd = m.buildInputs.cmd;
  if (cmd === undefined) throw new AuditError('AUDIT_SOURCE_INVALID', `${path} records no /cmd (buildInputs.cmd)`);
  const lines = cmd.split('\n').slice(0, -1);
  if (lines[0] !== '/usr/bin/node' || lines[1] !== '/app/enclave.mjs') throw new AuditError('AUDIT_SOURCE_INVALID', `${path}: /cmd does not start with /usr/bin/node /app/enclave.mjs`);
  return lines.slice(2);
}

function run(command: string, args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', fail);
    child.on('close', (code) => done({ code: code ?? 4, stdout, stderr }));
  });
}

const CATEGORY_OF_EXIT: Record<number, ErrorCategory> = { [EXIT_CODES.rejected]: 'rejected', [EXIT_CODES.input]: 'input', [EXIT_CODES.unavailable]: 'unavailable' };

/** Step 4: the checkout's own CLI rebuilds the image from its lock. */
async function rebuild(o: AuditOptions, dir: string, kind: ImageKind, args: string[], work: string): Promise<Measurements> {
  const eif = join(work, 'enclave.eif');
  const measurementsPath = join(work, 'measurements.json');
  const argv = [join(dir, 'bin', 'attested-pack.mjs'), 'eif', 'build', '--locked', kind, '--project-root', dir, '-o', eif, '--measurements', measurementsPath, '--json'];
  if (o.blobsDir) argv.push('--blobs', resolve(o.blobsDir));
  if (o.libRoot) argv.push('--lib-root', resolve(o.libRoot));
  for (const a of args) argv.push(`--arg=${a}`);
  const r = await run(o.nodePath ?? process.execPath, argv, work);
  if (r.code !== 0) {
    let error: { code?: string; message?: string; hint?: string } = {};
    try {
      error = (JSON.parse(r.stdout) as { error?: typeof error }).error ?? {};
    } catch {
      error = { message: (r.stderr || r.stdout).trim().split('\n').slice(0, 3).join(' ') };
    }
    throw new AuditError('AUDIT_REBUILD_FAILED', `rebuilding the ${kind} image from ${dir} failed: [${error.code ?? `exit ${r.code}`}] ${error.message ?? ''}`.trim(), {
      category: CATEGORY_OF_EXIT[r.code] ?? 'internal',
      ...(error.hint ? { hint: error.hint } : {}),
      details: { buildErrorCode: error.code ?? null },
    });
  }
  return parseMeasurements(await readFile(measurementsPath, 'utf8'), measurementsPath);
}

/** Runs the audit; the report says whether the receipt's PCRs were reproduced and verified. */
export async function auditReceipt(o: AuditOptions): Promise<AuditReport> {
  const dir = resolve(o.sourceDir);
  const { commit, pcrs } = await readReceiptForAudit(o.receiptPath);
  await checkSource(dir, commit);
  const kind: ImageKind = pcrs.PCR1 === (await syntheticPcr1('x86_64')) ? 'simulation' : 'release';
  const kindNote = kind === 'simulation' ? 'simulation image: synthetic boot blobs, runtime referenced by hash (NOT BOOTABLE)' : 'release image on nitro-cli boot blobs';
  const cmdArgs = o.cmdFrom ? await cmdArgsFrom(o.cmdFrom) : [];
  const work = await mkdtemp(join(tmpdir(), 'attested-pack-audit-'));
  try {
    const started = Date.now();
    const m = await rebuild(o, dir, kind, cmdArgs, work);
    const rebuildSeconds = (Date.now() - started) / 1000;
    const compare = (k: 'PCR0' | 'PCR1' | 'PCR2'): PcrComparison => ({ receipt: pcrs[k], rebuilt: m[k], match: pcrs[k] === m[k] });
    const report: AuditReport = {
      ok: false,
      receipt: o.receiptPath,
      source: { dir, commit },
      kind,
      kindNote,
      cmdArgs,
      pcrs: { PCR0: compare('PCR0'), PCR1: compare('PCR1'), PCR2: compare('PCR2') },
      rebuildSeconds,
    };
    if (o.outDir) {
      await cp(work, resolve(o.outDir), { recursive: true });
      report.measurementsPath = join(resolve(o.outDir), 'measurements.json');
    }
    if (!Object.values(report.pcrs).every((p) => p.match)) return report;
    let out = '';
    const code = await runVerifyReceipt([o.receiptPath, '--measurements', join(work, 'measurements.json'), ...(o.verifyArgs ?? []), '--json'], {
      io: { stdout: (t) => (out += t), stderr: () => undefined, isTty: false },
    });
    const parsed = JSON.parse(out) as VerificationReport | { ok: false; error: { code: string; message: string; hint?: string } };
    if ('error' in parsed) {
      throw new AuditError('AUDIT_SOURCE_INVALID', `verify-receipt could not run: [${parsed.error.code}] ${parsed.error.message}`, { ...(parsed.error.hint ? { hint: parsed.error.hint } : {}) });
    }
    report.verify = parsed;
    // verify-receipt's own verdict decides, and only VERIFIED is a pass: a PARTIAL verdict (the
    // caller passed --partial) still prints every check, but the audit does not say REPRODUCED.
    report.ok = code === 0 && parsed.verdict === 'verified';
    return report;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The failing PCRs as one actionable line each. */
export function mismatchLines(r: AuditReport): string[] {
  return (['PCR0', 'PCR1', 'PCR2'] as const)
    .filter((k) => !r.pcrs[k].match)
    .map((k) => `${k} differs (${PCR_MEANING[k]}): the receipt's enclave reported ${r.pcrs[k].receipt}, ${r.source.commit} rebuilds to ${r.pcrs[k].rebuilt}`);
}

/** verify-receipt's verdict (older reports carry only `ok`). */
function verdictOf(v: VerificationReport): string {
  return (v as { verdict?: string }).verdict ?? (v.ok ? 'verified' : 'failed');
}

/** The report for people. */
export function formatAuditReport(r: AuditReport): string {
  const mark = (ok: boolean): string => (ok ? '✔' : '✘');
  const lines = [
    `audit of ${r.receipt}`,
    `  ✔ source       ${r.source.dir} at ${r.source.commit} (the receipt's claims.tool.source), clean`,
    `  ✔ image        ${r.kindNote}${r.cmdArgs.length ? `; /cmd arguments: ${r.cmdArgs.join(' ')}` : ''}`,
    `  ✔ rebuild      eif build --locked ${r.kind}: every input matched eif-build/image.lock.json (${r.rebuildSeconds.toFixed(1)} s)`,
    ...(['PCR0', 'PCR1', 'PCR2'] as const).map((k) => `  ${mark(r.pcrs[k].match)} ${k}         ${r.pcrs[k].match ? r.pcrs[k].rebuilt : `receipt ${r.pcrs[k].receipt}\n                 rebuilt ${r.pcrs[k].rebuilt}`}`),
  ];
  const bad = mismatchLines(r);
  if (bad.length > 0) {
    lines.push('', 'NOT REPRODUCED:', ...bad.map((l) => `  ${l}`), '  (verify-receipt not run: the rebuilt measurements are not the receipt\'s image)');
  } else if (r.verify) {
    const c = r.verify.counts;
    const verdict = verdictOf(r.verify);
    lines.push(`  ${mark(r.ok)} verify-receipt with the rebuilt measurements: ${verdict.toUpperCase()} (${c.pass} passed, ${c.fail} failed, ${c.skipped} skipped)`);
    for (const check of r.verify.checks) if (check.status !== 'pass') lines.push(`      ${check.status === 'fail' ? '✘' : '—'} ${check.name}: ${check.evidence}`);
    const image = `${r.source.commit} rebuilds the receipt's enclave image (${r.kind}${r.kind === 'simulation' ? ', NOT BOOTABLE' : ''})`;
    lines.push(
      '',
      !r.ok
        ? `FAILED: the PCRs were reproduced (${image}) but verify-receipt rejected the receipt.`
        : verdict === 'verified'
          ? `REPRODUCED: ${image}, and the receipt verifies against it.`
          : `REPRODUCED: ${image}; verify-receipt is ${verdict.toUpperCase()}: not everything the receipt claims was bound (see above).`,
    );
  }
  return lines.join('\n') + '\n';
}
