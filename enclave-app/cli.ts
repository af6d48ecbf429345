/** CLI commands of enclave-app/ (registered by cli/main.ts). */
import type { Command } from 'commander';
import { registerSopsCommands } from './sops/cli.js';

/** Adds this module's commands to the program. */
export function registerEnclaveCommands(program: Command): void {
  registerSopsCommands(program);
  // Commands are added by the issue that builds this module.
}
