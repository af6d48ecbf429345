/**
 * The `verify-receipt` command line: flags → a VerificationPlan → the eight checks → a report.
 * Exit 0 verified, 1 a check failed, 2 usage or unreadable input (never a pass without
 * expected measurements). Offline: no network, no simulator, only files and `git`.
 */
import { Command, CommanderError, Option } from 'commander';
import { UsageError } from '../common/errors.js';
import { processIo, reportError, type CliIo } from '../common/cli-output.js';
import { isHelpOrVersionExit, usageErrorFromCommander, wantsJson } from '../common/cli-usage.js';
import { runChecks, type VerificationPlan } from './checks.js';
import { DURATION_FORMS, parseDuration } from '../common/duration.js';
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
  parseNonceFlag,
} from './inputs.js';
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
  for (const i of PCR_FLAG_INDICES) program.option(`--pcr${i} <hex>`, `expected PCR${i} (96 hex characters)`);
  program
    .option('--policy <file>', "expected PCRs from a KMS key policy's kms:RecipientAttestation conditions")
    .option('--artifact <file>', 'the packed artifact: sha256, ciphertextHash and signature are checked')
    .option('--verify-key <spki-b64>', 'artifact signer public key, base64 DER SPKI (Ed25519 or ECDSA P-256)')
    .option('--kms-public-key <file>', 'artifact signer public key file (DER, PEM, base64, or `aws kms get-public-key` JSON)')
    .option('--repo <dir>', 'git repository: inputs must be the blobs at the receipt commit and exactly what clef.yaml scopes')
    .option('--commit <sha>', 'the commit the receipt must be for')
    .option('--expect-key <arn>', 'a KMS key ARN or age recipient the pack may use (repeatable); default: what clef.yaml names', collect)
    .option('--nonce <hex>', 'the nonce you sent with the pack request')
    .option('--max-age <duration>', `reject receipts attested longer ago than this (${DURATION_FORMS})`)
    .option('--at <iso>', 'the clock for --max-age and the age shown (default: now)')
    .option('--allow-debug', 'accept documents from debug-mode enclaves (PCR0/1/2 all zero)')
    .option('--root <pem>', 'trust this root certificate instead of the AWS Nitro root G1 (repeatable; e.g. the simulator root)', collect)
    .addOption(new Option('--json', 'print the report as JSON'))
    .addHelpText(
      'after',
      '\nExit codes: 0 verified, 1 a check failed, 2 usage error or unreadable input.\nChecks without their input are shown as skipped (—), never as passed.',
    )
    .helpOption('-h, --help', 'show this help')
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  return program;
}

/** Runs verify-receipt on `argv` (without node and script) and returns the exit code. */
export async function runVerifyReceipt(argv: readonly string[], env: VerifyReceiptEnv = {}): Promise<number> {
  const io = env.io ?? processIo;
  const json = wantsJson(argv);
  const program = buildVerifyReceiptProgram();
  let helpText = '';
  program.configureOutput({ writeOut: (t) => (helpText += t), writeErr: () => undefined });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (isHelpOrVersionExit(err)) {
        io.stdout(helpText);
        return 0;
      }
      return reportError(usageErrorFromCommander(err, 'verify-receipt'), json, io);
    }
    return reportError(err, json, io);
  }
  let plan: VerificationPlan | undefined;
  try {
    plan = await makePlan(program.args[0]!, program.opts<Flags>(), env.now ?? Date.now);
    const report = await runChecks(plan);
    printReport(report, json, env.colour ?? (io.isTty && process.env.NO_COLOR === undefined && process.env.TERM !== 'dumb'), io);
    return report.ok ? 0 : 1;
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
  const expectedNonce = f.nonce === undefined ? undefined : parseNonceFlag(f.nonce);
  const expectedCommit = f.commit === undefined ? undefined : parseCommitFlag(f.commit);
  const expectKeys = (f.expectKey ?? []).map(parseExpectKey);

  const receipt = await loadReceipt(receiptPath);
  const expected = await loadExpectedMeasurements({
    pcrFlags,
    ...(f.measurements === undefined ? {} : { measurements: f.measurements }),
    ...(f.policy === undefined ? {} : { policy: f.policy }),
  });
  const trustedRoots = await loadTrustedRoots(f.root ?? []);
  const verifyKey = await loadVerifyKey({
    ...(f.verifyKey === undefined ? {} : { verifyKey: f.verifyKey }),
    ...(f.kmsPublicKey === undefined ? {} : { kmsPublicKey: f.kmsPublicKey }),
  });
  if (verifyKey && f.artifact === undefined) throw new UsageError('a verify key checks the artifact signature: pass --artifact too');
  const artifact = f.artifact === undefined ? undefined : await loadArtifact(f.artifact);
  const repo = f.repo === undefined ? undefined : await GitRepo.open(f.repo);

  return {
    receiptPath,
    receipt,
    trustedRoots,
    expected,
    allowDebug: f.allowDebug === true,
    now: at ?? clock(),
    clockSource: at === undefined ? 'system' : '--at',
    ...(expectedNonce === undefined ? {} : { expectedNonce }),
    ...(maxAgeMs === undefined ? {} : { maxAgeMs }),
    ...(artifact === undefined ? {} : { artifact }),
    ...(verifyKey === undefined ? {} : { verifyKey }),
    ...(repo === undefined ? {} : { repo }),
    ...(expectedCommit === undefined ? {} : { expectedCommit }),
    ...(expectKeys.length === 0 ? {} : { expectKeys }),
  };
}
