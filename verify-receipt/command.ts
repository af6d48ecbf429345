/**
 * `attested-pack verify-receipt …`: the auditor's CLI as a subcommand of attested-pack (the README's
 * CLI reference lists it there). Every argument after `verify-receipt` goes unchanged to the same
 * parser the standalone `verify-receipt` program uses, so both accept exactly the same flags and
 * print the same help; the checks load only when the command runs.
 */
import type { Command } from 'commander';

/** Adds `verify-receipt` to the attested-pack program. */
export function registerVerifyReceiptCommand(program: Command): void {
  program
    .command('verify-receipt')
    .description('verify a receipt offline, fail-closed: the same program as `verify-receipt` (`attested-pack verify-receipt --help` lists its flags)')
    .argument('[arguments...]', 'RECEIPT and the verify-receipt flags')
    // Its own parser handles --help and every flag: nothing is consumed here.
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (_args: string[], _flags: unknown, command: Command) => {
      const { runVerifyReceipt } = await import('./cli.js');
      // The words after `verify-receipt` exactly as typed: commander drops a `--` from
      // command.args (`verify-receipt -- -odd-name.json` needs it); rawArgs keeps it.
      const raw = (command.parent as { rawArgs?: unknown } | null)?.rawArgs;
      const at = Array.isArray(raw) ? raw.indexOf('verify-receipt') : -1;
      process.exitCode = await runVerifyReceipt(at >= 0 ? (raw as string[]).slice(at + 1) : command.args);
    });
}
