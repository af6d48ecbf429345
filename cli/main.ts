/**
 * `attested-pack <command>`: the one CLI entry. Each module registers its own commands from
 * its `cli.ts`; this file only assembles them and maps usage errors to exit code 2.
 * Modules import their heavy dependencies lazily inside actions to keep start-up fast.
 */
import { Command, CommanderError } from 'commander';
import { EXIT_CODES } from '../common/errors.js';
import { reportError } from '../common/cli-output.js';
import { commandPath, isHelpOrVersionExit, quietCommanderErrors, usageErrorFromCommander, wantsJson } from '../common/cli-usage.js';
import { registerAttestationCommands } from '../attestation/cli.js';
import { registerKmsPolicyCommands } from '../kms-policies/cli.js';
import { registerEnclaveCommands } from '../enclave-app/cli.js';
import { registerHostProxyCommands } from '../host-proxy/cli.js';
import { registerSimulatorCommands } from '../simulator/cli.js';
import { registerEifCommands } from '../eif-build/cli.js';
import { registerDeployCommands } from '../deploy/cli.js';
import { registerAuditCommands } from '../audit/cli.js';
import { registerVerifyReceiptCommand } from '../verify-receipt/command.js';
import { VERSION } from './version.js';

/** Builds the command tree (exported so tests can drive it without spawning a process). */
export function buildProgram(): Command {
  const program = new Command('attested-pack')
    .description('Attested pack step for Clef/SOPS secrets in AWS Nitro Enclaves, with verifiable receipts')
    .version(VERSION)
    .exitOverride();
  registerAttestationCommands(program);
  registerKmsPolicyCommands(program);
  registerEnclaveCommands(program);
  registerHostProxyCommands(program);
  registerSimulatorCommands(program);
  registerEifCommands(program);
  registerDeployCommands(program);
  registerAuditCommands(program);
  registerVerifyReceiptCommand(program);
  // Commander's own refusals are reported by main() as `error [USAGE]` (or JSON), exit 2.
  quietCommanderErrors(program);
  return program;
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end with exit code 0; everything else commander rejects is usage.
      if (isHelpOrVersionExit(err)) return EXIT_CODES.ok;
      return reportError(usageErrorFromCommander(err, commandPath(program, argv)), wantsJson(argv));
    }
    throw err;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : EXIT_CODES.ok;
}
