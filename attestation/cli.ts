/** CLI commands of attestation/ (registered by cli/main.ts). */
import type { Command } from 'commander';

/** Adds this module's commands to the program. */
export function registerAttestationCommands(_program: Command): void {
  // Commands are added by the issue that builds this module.
}
