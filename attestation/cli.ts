/** CLI commands of attestation/ (registered by cli/main.ts): `attestation inspect` and `attestation verify`. */
import type { Command } from 'commander';
import { runCommand } from '../common/cli-output.js';
import { DURATION_FORMS } from '../common/duration.js';

/** PCR indices that get their own `--pcrN` flag (the ones measurements.json and KMS policies use). */
const PCR_FLAGS = [0, 1, 2, 3, 4, 5, 6, 7, 8] as const;

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Adds this module's commands to the program. */
export function registerAttestationCommands(program: Command): void {
  const attestation = program
    .command('attestation')
    .description('inspect and verify AWS Nitro Enclaves attestation documents (COSE_Sign1)');

  attestation
    .command('inspect')
    .description('print the decoded fields of an attestation document WITHOUT verifying it')
    .argument('<file>', 'attestation document: raw COSE_Sign1 bytes or base64 text')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: { json?: boolean }) => {
      await runCommand(Boolean(opts.json), async () => {
        const { inspectCommand } = await import('./cli-actions.js');
        return inspectCommand(file, { json: Boolean(opts.json) });
      });
    });

  const verify = attestation
    .command('verify')
    .description('verify an attestation document: signature, certificate chain to the pinned root, time, PCRs')
    .argument('<file>', 'attestation document: raw COSE_Sign1 bytes or base64 text')
    .option('--at <time>', "verification time: ISO-8601, epoch ms, or 'document' for the document's own timestamp (default: now)")
    .option('--max-age <duration>', `reject documents older than this at the verification time (${DURATION_FORMS})`)
    .option('--measurements <file>', 'expected PCR0/1/2(/8) from measurements.json')
    .option('--pcr <index=hex>', 'expected PCR value, e.g. --pcr 16=ab…; repeatable', collect)
    .option('--nonce <hex>', 'the nonce the document must carry')
    .option('--user-data <hex>', 'the user_data the document must carry')
    .option('--allow-debug', 'accept debug-mode documents (PCR0/1/2 all zero)')
    .option('--root <pem-file>', 'trust this root instead of the pinned AWS Nitro root (e.g. the simulator root)')
    .option('--json', 'machine-readable output');
  for (const i of PCR_FLAGS) verify.option(`--pcr${i} <hex>`, `expected PCR${i} (96 hex characters)`);
  verify.action(async (file: string, opts: Record<string, unknown>) => {
    await runCommand(Boolean(opts.json), async () => {
      const { verifyCommand } = await import('./cli-actions.js');
      return verifyCommand(file, opts);
    });
  });
}
