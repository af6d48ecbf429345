/** CLI commands of simulator/ (registered by cli/main.ts). */
import type { Command } from 'commander';
import { registerKmsSimCommand } from './kms/cli.js';
import { registerSimCommand } from './sim/cli.js';

/** Adds this module's commands to the program. */
export function registerSimulatorCommands(program: Command): void {
  registerKmsSimCommand(program);
  registerSimCommand(program);
}
