/**
 * Commander's own refusals (unknown option, missing argument, unknown command, missing value)
 * in the project's shape: `error [USAGE]: …` plus a hint naming the right `--help`, or the
 * `--json` error object, exit 2. Shared by `attested-pack` and `verify-receipt`.
 */
import type { Command, CommanderError } from 'commander';
import { UsageError } from './errors.js';

/** True for the exits commander takes after printing help or the version (exit 0, not an error). */
export function isHelpOrVersionExit(err: CommanderError): boolean {
  return err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version';
}

/**
 * Silences commander's own error line on `cmd` and every subcommand (help still prints) and
 * makes them throw instead of exiting, so the caller reports the error in the project's format.
 */
export function quietCommanderErrors(cmd: Command): void {
  cmd.exitOverride();
  cmd.configureOutput({ outputError: () => undefined });
  for (const c of cmd.commands) quietCommanderErrors(c);
}

/** The command path `argv` selects (e.g. `attested-pack attestation verify`), for the hint. */
export function commandPath(program: Command, argv: readonly string[]): string {
  const names = [program.name()];
  let cmd = program;
  for (const token of argv) {
    if (token === '--') break;
    if (token.startsWith('-')) continue;
    const sub = cmd.commands.find((c) => c.name() === token || c.aliases().includes(token));
    if (!sub) break;
    names.push(sub.name());
    cmd = sub;
  }
  return names.join(' ');
}

/**
 * A commander parse error as a UsageError: one line of cause (its message without `error: `),
 * and a hint with commander's suggestion (`(Did you mean pack?)`) and where to look.
 */
export function usageErrorFromCommander(err: CommanderError, path: string): UsageError {
  const [first = '', ...rest] = err.message.replace(/^error: /, '').trim().split('\n');
  const suggestion = rest.map((l) => /^\(?(Did you mean [^)]*?)\)?$/.exec(l.trim())?.[1]).find((x) => x !== undefined);
  const where = `run \`${path} --help\` for the commands and options`;
  return new UsageError(first.trim(), {
    hint: suggestion ? `${suggestion.replace(/^Did/, 'did')} Or ${where}` : where,
    details: { commander: err.code },
  });
}

/** True when the user asked for JSON output (before a `--` terminator). */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}
