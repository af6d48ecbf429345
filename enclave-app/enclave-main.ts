/**
 * Process entry of the enclave image: `node enclave.mjs serve [flags]` (what /cmd runs inside the
 * EIF, and what the local simulation launches). Bundled by `attested-pack eif bundle` into one
 * self-contained file whose measurement becomes PCR2.
 */
import { Command, CommanderError } from 'commander';
import { reportError } from '../common/cli-output.js';
import { VERSION } from '../common/version.js';
import { serveUntilSignal } from './serve.js';
import { addServeOptions, type ServeFlags } from './serve-options.js';

const program = new Command('attested-pack-enclave').version(VERSION).exitOverride();
addServeOptions(program.command('serve').description('serve pack, attest, health and unseal requests')).action(
  async (flags: ServeFlags) => {
    await serveUntilSignal(flags);
  },
);

program.parseAsync(process.argv.slice(2), { from: 'user' }).then(
  () => undefined,
  (err: unknown) => {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    process.exitCode = reportError(err, false);
  },
);
