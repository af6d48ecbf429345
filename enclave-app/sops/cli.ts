/** Operator commands `attested-pack sops decrypt|encrypt` (registered from enclave-app/cli.ts). */
import type { Command } from 'commander';

/** Adds the `sops` command group to the program. */
export function registerSopsCommands(program: Command): void {
  program.command('sops').description('Decrypt and encrypt SOPS files (YAML, JSON, dotenv, INI, binary)');
}
