/**
 * How every attested-pack command ends: a result printed for people or as JSON, and errors
 * as one line of cause plus one line of hint, mapped to the documented exit codes.
 * Stack traces are shown only with ATTESTED_PACK_DEBUG=1.
 */
import { EXIT_CODES, toAttestedPackError, UsageError, type AttestedPackError } from './errors.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** True when stdout is a terminal (colour and symbols may be used). */
  isTty: boolean;
}

export const processIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  isTty: Boolean(process.stdout.isTTY),
};

/** Formats an error for a person: `error [CODE]: message` and `hint: ...`. */
export function formatError(err: AttestedPackError): string {
  let out = `error [${err.code}]: ${err.message}\n`;
  if (err.hint) out += `hint: ${err.hint}\n`;
  return out;
}

/** Prints an error (human or JSON) and returns the exit code for it. */
export function reportError(err: unknown, json: boolean, io: CliIo = processIo): number {
  const e = toAttestedPackError(err);
  if (json) {
    io.stdout(JSON.stringify({ ok: false, error: e.toJSON() }, null, 2) + '\n');
  } else {
    io.stderr(formatError(e));
  }
  if (process.env.ATTESTED_PACK_DEBUG === '1') {
    const cause = (e as { cause?: unknown }).cause;
    io.stderr(String((cause instanceof Error ? cause.stack : undefined) ?? e.stack) + '\n');
  }
  return e.exitCode;
}

/**
 * Runs a command body. The body returns an exit code (0 by default); thrown errors become
 * the right exit code. Sets `process.exitCode` rather than exiting, so streams flush.
 */
export async function runCommand(
  json: boolean,
  body: () => Promise<number | void> | number | void,
  io: CliIo = processIo,
): Promise<number> {
  let code: number;
  try {
    const r = await body();
    code = typeof r === 'number' ? r : EXIT_CODES.ok;
  } catch (err) {
    code = reportError(err, json, io);
  }
  process.exitCode = code;
  return code;
}

/** Parses an integer flag strictly, or throws a UsageError naming the flag. */
export function parseIntFlag(name: string, value: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`${name} must be a whole number, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}
