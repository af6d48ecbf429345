/** Runs the real verify-receipt CLI in-process with captured output. */
import { runVerifyReceipt } from '../../../verify-receipt/cli.js';
import type { VerificationReport } from '../../../verify-receipt/report.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(args: string[], opts: { isTty?: boolean; now?: number; colour?: boolean } = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runVerifyReceipt(args, {
    io: { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), isTty: opts.isTty ?? false },
    ...(opts.now === undefined ? {} : { now: () => opts.now! }),
    ...(opts.colour === undefined ? {} : { colour: opts.colour }),
  });
  return { code, stdout, stderr };
}

/** Runs with --json and parses the report. */
export async function runCliJson(args: string[], opts: { now?: number } = {}): Promise<{ code: number; report: VerificationReport }> {
  const r = await runCli([...args, '--json'], opts);
  return { code: r.code, report: JSON.parse(r.stdout) as VerificationReport };
}

/** The status of check `id` in a report. */
export function statusOf(report: VerificationReport, id: number): string {
  return report.checks.find((c) => c.id === id)!.status;
}
