/**
 * The `verify-receipt` command line: flags → Expectations + inputs (a VerificationPlan) → the
 * eight checks → a report. Exit 0 verified, 1 a check failed, 2 usage or unreadable input —
 * including a missing binding (source, artifact, signer, keys) without --partial, so VERIFIED
 * always means the receipt is bound to what the auditor named. With --partial, nothing failed
 * prints PARTIAL and exits 0: the caller asked for it, and the verdict says what is unbound.
 * Offline: no network, no simulator, only files and `git`.
 */
import { Command, CommanderError, Option } from 'commander';
import { UsageError } from '../common/errors.js';
import { VERSION } from '../common/version.js';
import { processIo, reportError, type CliIo } from '../common/cli-output.js';
import { runChecks, type VerificationPlan } from './checks.js';
import { parseDuration } from './duration.js';
import { GitRepo } from './git.js';
import {
  PCR_FLAG_INDICES,
  loadArtifact,
  loadExpectedMeasurements,
  loadReceipt,
  loadTrustedRoots,
  loadVerifyKey,
  parseAtFlag,
  parseCommitFlag,
  parseExpectKey,
  parseManifestFlag,
  parseNonceFlag,
} from './inputs.js';
import { DEFAULT_MANIFEST_PATH, missingBindings, type Expectations } from './expectations.js';
import { formatHumanReport, formatJsonReport, type VerificationReport } from './report.js';

/** Parsed command-line options (commander's camelCase names). */
interface Flags {
  measurements?: string;
  policy?: string;
  artifact?: string;
  verifyKey?: string;
  kmsPublicKey?: string;
  repo?: string;
  commit?: string;
  expectKey?: string[];
  nonce?: string;
  maxAge?: string;
  at?: string;
  allowDebug?: boolean;
  manifest?: string;
  parentRoleArn?: string;
  partial?: boolean;
  root?: string[];
  json?: boolean;
  [pcr: `pcr${number}`]: string | undefined;
}

/** Injectable surroundings, so tests run the real CLI in-process. */
export interface VerifyReceiptEnv {
  io?: CliIo;
  /** The system clock (epoch ms); --at overrides it. */
  now?: () => number;
  /** Colour override; by default colour is used only when stdout is a terminal and NO_COLOR is unset. */
  colour?: boolean;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** Builds the commander program (no action: parsing only). */
export function buildVerifyReceiptProgram(): Command {
  const program = new Command('verify-receipt')
    .description('Verify an attested-pack receipt offline: the enclave that ran, the claims it attested, the artifact, the source and the keys.')
    .argument('<receipt>', 'receipt.json written by the pack step')
    .option('--measurements <file>', 'expected PCRs from measurements.json (written by `attested-pack eif build`)');
  for (const i of PCR_FLAG_INDICES) {
    program.option(
      `--pcr${i} <hex>`,
      i === 3 ? 'expected PCR3, the parent role (96 hex; or --parent-role-arn)' : i === 4 ? 'expected PCR4, the parent instance (96 hex)' : `expected PCR${i} (96 hex characters)`,
    );
  }
  program
    .option('--policy <file>', 'expected image: one the KMS key policy lets decrypt (kms:Decrypt with a Recipient, evaluated as KMS does)')
    .option('--parent-role-arn <arn>', "the parent instance's IAM role: pins PCR3 and is the Decrypt caller for --policy")
    .option('--artifact <file>', 'binds the artifact: sha256, ciphertextHash and (with a key) signature are checked')
    .option('--verify-key <spki-b64>', 'binds the signer: artifact signer public key, base64 DER SPKI (Ed25519 or ECDSA P-256)')
    .option('--kms-public-key <file>', 'binds the signer: public key file (DER, PEM, base64, or `aws kms get-public-key` JSON)')
    .option('--repo <dir>', 'binds the source: inputs must be the blobs at the receipt commit and exactly what the manifest scopes')
    .option('--commit <sha>', 'binds the source: the commit the receipt must be for')
    .option('--manifest <path>', `the manifest the pack must have read, relative to the repository root (default ${DEFAULT_MANIFEST_PATH})`)
    .option('--expect-key <key>', 'binds the keys: a KMS key ARN or age recipient the pack may use (repeatable); default: what the manifest names', collect)
    .option('--nonce <hex>', 'the nonce you sent with the pack request')
    .option('--max-age <duration>', 'reject receipts attested longer ago than this (30s, 15m, 1h, 7d, PT1H)')
    .option('--at <iso>', 'the clock for --max-age and the age shown (default: now)')
    .option('--allow-debug', 'accept documents from debug-mode enclaves (PCR0/1/2 all zero)')
    .option('--partial', 'report what the given flags can check (verdict PARTIAL) instead of refusing when a binding is missing')
    .option('--root <pem>', 'trust this root certificate instead of the AWS Nitro root G1 (repeatable; e.g. the simulator root)', collect)
    .addOption(new Option('--json', 'print the report as JSON'))
    .addHelpText(
      'after',
      '\nVERIFIED needs the source (--repo, or --commit), the artifact (--artifact), the signer (--verify-key or\n' +
        '--kms-public-key) and every key the pack used (--expect-key, or --repo when the manifest names them all).\n' +
        'Without one of them verify-receipt exits 2 naming it, unless --partial.\n' +
        '\nExit codes: 0 verified (or PARTIAL with --partial: nothing failed, some bindings not given), 1 a check failed,\n' +
        '2 usage error, unreadable input or a missing binding.\nChecks without their input are shown as skipped (—), never as passed.',
    )
    .helpOption('-h, --help', 'show this help')
    .version(VERSION, '-V, --version', 'print the attested-pack version')
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  return program;
}

/** Runs verify-receipt on `argv` (without node and script) and returns the exit code. */
export async function runVerifyReceipt(argv: readonly string[], env: VerifyReceiptEnv = {}): Promise<number> {
  const io = env.io ?? processIo;
  const json = argv.includes('--json');
  const program = buildVerifyReceiptProgram();
  let helpText = '';
  program.configureOutput({ writeOut: (t) => (helpText += t), writeErr: () => undefined });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.version') {
        io.stdout(`${VERSION}\n`);
        return 0;
      }
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') {
        io.stdout(helpText);
        return 0;
      }
      return reportError(new UsageError(err.message.replace(/^error: /, ''), { hint: 'run verify-receipt --help' }), json, io);
    }
    return reportError(err, json, io);
  }
  let plan: VerificationPlan | undefined;
  try {
    plan = await makePlan(program.args[0]!, program.opts<Flags>(), env.now ?? Date.now);
    const report = await runChecks(plan);
    printReport(report, json, env.colour ?? (io.isTty && process.env.NO_COLOR === undefined && process.env.TERM !== 'dumb'), io);
    return report.verdict === 'failed' ? 1 : 0;
  } catch (err) {
    return reportError(err, json, io);
  } finally {
    plan?.repo?.close();
  }
}

function printReport(report: VerificationReport, json: boolean, colour: boolean, io: CliIo): void {
  io.stdout(json ? formatJsonReport(report) : formatHumanReport(report, colour));
}

/** Reads every input and validates every flag before any check runs (so usage errors exit 2). */
async function makePlan(receiptPath: string, f: Flags, clock: () => number): Promise<VerificationPlan> {
  const pcrFlags = new Map<number, string>();
  for (const i of PCR_FLAG_INDICES) {
    const v = f[`pcr${i}`];
    if (v !== undefined) pcrFlags.set(i, v);
  }
  const maxAgeMs = f.maxAge === undefined ? undefined : parseDuration(f.maxAge);
  const at = f.at === undefined ? undefined : parseAtFlag(f.at);
  const nonce = f.nonce === undefined ? undefined : parseNonceFlag(f.nonce);
  const commit = f.commit === undefined ? undefined : parseCommitFlag(f.commit);
  const keys = (f.expectKey ?? []).map(parseExpectKey);
  const manifestPath = f.manifest === undefined ? DEFAULT_MANIFEST_PATH : parseManifestFlag(f.manifest);

  const receipt = await loadReceipt(receiptPath);
  const measurements = await loadExpectedMeasurements({
    pcrFlags,
    ...(f.measurements === undefined ? {} : { measurements: f.measurements }),
    ...(f.policy === undefined ? {} : { policy: f.policy }),
    ...(f.parentRoleArn === undefined ? {} : { parentRoleArn: f.parentRoleArn }),
  });
  const trustedRoots = await loadTrustedRoots(f.root ?? []);
  const signer = await loadVerifyKey({
    ...(f.verifyKey === undefined ? {} : { verifyKey: f.verifyKey }),
    ...(f.kmsPublicKey === undefined ? {} : { kmsPublicKey: f.kmsPublicKey }),
  });
  if (signer && f.artifact === undefined) throw new UsageError('a verify key checks the artifact signature: pass --artifact too');
  const expect: Expectations = {
    measurements,
    allowDebug: f.allowDebug === true,
    manifestPath: { path: manifestPath, from: f.manifest === undefined ? 'default' : '--manifest' },
    ...(commit === undefined ? {} : { commit }),
    ...(nonce === undefined ? {} : { nonce }),
    ...(maxAgeMs === undefined ? {} : { maxAgeMs }),
    ...(keys.length === 0 ? {} : { keys }),
    ...(signer === undefined ? {} : { signer }),
  };
  // Refuse before reading more: VERIFIED must mean bound to the auditor's source, artifact and signer.
  const missing = missingBindings(expect, { repo: f.repo !== undefined, artifact: f.artifact !== undefined }, receipt);
  if (missing.length > 0 && f.partial !== true) {
    throw new UsageError(`not enough to verify this receipt: missing ${missing.join('; ')}`, {
      hint: 'pass the missing flags (see the README, "Verifying a receipt"), or --partial to see what the given ones check (verdict PARTIAL)',
    });
  }
  const artifact = f.artifact === undefined ? undefined : await loadArtifact(f.artifact);
  const repo = f.repo === undefined ? undefined : await GitRepo.open(f.repo);

  return {
    receiptPath,
    receipt,
    trustedRoots,
    expect,
    now: at ?? clock(),
    clockSource: at === undefined ? 'system' : '--at',
    ...(f.partial === true ? { partial: true } : {}),
    ...(artifact === undefined ? {} : { artifact }),
    ...(repo === undefined ? {} : { repo }),
  };
}
