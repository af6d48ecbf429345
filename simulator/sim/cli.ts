/**
 * `attested-pack sim` (what `npm start` runs): the whole chain on this machine in one command —
 * KMS simulator, measured enclave child, generated key policies, demo Clef repository, host
 * proxy, a pack through the `pack` client, and verify-receipt on the result.
 *
 *   attested-pack sim [--state DIR] [--port N] [--kms-port N] [--keep-running] [--keep-policies]
 *                     [--enclave-entry FILE] [--log-level LEVEL] [--json]
 *
 * Exit codes: 0 every check passed; 1 a check failed (e.g. KMS refused the enclave); 2 usage;
 * 3 something did not start or answer; 4 internal; 130 interrupted (Ctrl-C).
 */
import type { Command } from 'commander';
import { parseIntFlag, processIo, runCommand } from '../../common/cli-output.js';
import { UsageError } from '../../common/errors.js';
import { DEFAULT_STATE_DIR } from './paths.js';

interface SimFlags {
  state: string;
  port: string;
  kmsPort: string;
  keepRunning?: boolean;
  keepPolicies?: boolean;
  logLevel: string;
  enclaveEntry?: string;
  json?: boolean;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Exit code after Ctrl-C (128 + SIGINT), as shells report it. */
export const INTERRUPTED_EXIT_CODE = 130;

/** Adds `sim` to the program. */
export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description('run the whole attested pack locally: KMS simulator, measured enclave, key policies, demo repo, host proxy, pack, verify-receipt')
    .option('--state <dir>', 'state directory, reused by the next run', DEFAULT_STATE_DIR)
    .option('--port <n>', 'loopback port of the host proxy (0: any free port)', '0')
    .option('--kms-port <n>', 'loopback port of the KMS simulator (0: any free port)', '0')
    .option('--keep-running', 'leave the KMS simulator, enclave and host proxy up (prints endpoints and the token) until Ctrl-C')
    .option('--keep-policies', 'keep the key policies made for the previous run\'s measurements (shows KMS refusing changed enclave code)')
    .option('--enclave-entry <file>', 'enclave entry to bundle and measure (default: enclave-app/enclave-main.ts of this checkout)')
    .option('--log-level <level>', `host proxy log level (${LOG_LEVELS.join(', ')}); logs go to <state>/logs/`, 'info')
    .option('--json', 'print one summary object (paths, identity, environment, every check) instead of the account')
    .action(async (flags: SimFlags) => {
      const json = flags.json === true;
      await runCommand(json, async () => {
        const port = parseIntFlag('--port', flags.port, 0, 65535);
        const kmsPort = parseIntFlag('--kms-port', flags.kmsPort, 0, 65535);
        if (!(LOG_LEVELS as readonly string[]).includes(flags.logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
        if (port !== 0 && port === kmsPort) throw new UsageError('--port and --kms-port must differ');
        // The SDK's notice about future Node versions says nothing about the simulation; keep the account readable.
        process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
        const [{ runSim }, { formatSimAccount }, { findProjectRoot }, { dirname }, { fileURLToPath }] = await Promise.all([
          import('./run.js'),
          import('./report.js'),
          import('../../eif-build/index.js'),
          import('node:path'),
          import('node:url'),
        ]);

        // Ctrl-C: the first signal stops the run between steps and shuts everything down; a
        // second one ends the enclave child at once and exits.
        const abort = new AbortController();
        let stopServices: (() => void) | undefined;
        let enclavePid: number | undefined;
        const onSignal = (): void => {
          if (abort.signal.aborted) {
            if (enclavePid !== undefined) {
              try {
                process.kill(enclavePid, 'SIGKILL');
              } catch {
                // already gone
              }
            }
            process.exit(INTERRUPTED_EXIT_CODE);
          }
          processIo.stderr('sim: stopping (Ctrl-C again to force)…\n');
          abort.abort();
          stopServices?.();
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        try {
          const { summary, exitCode, handle } = await runSim({
            stateDir: flags.state,
            port,
            kmsPort,
            keepRunning: flags.keepRunning === true,
            keepPolicies: flags.keepPolicies === true,
            ...(flags.enclaveEntry !== undefined ? { enclaveEntry: flags.enclaveEntry } : {}),
            proxyLogLevel: flags.logLevel as (typeof LOG_LEVELS)[number],
            progress: (line) => processIo.stderr(`${line}\n`),
            signal: abort.signal,
          });
          const projectRoot = await findProjectRoot(dirname(fileURLToPath(import.meta.url)));
          if (json) processIo.stdout(JSON.stringify(summary, null, 2) + '\n');
          else processIo.stdout(formatSimAccount(summary, { colour: processIo.isTty && process.env.NO_COLOR === undefined, projectRoot }));
          if (handle) {
            enclavePid = handle.enclave.pid;
            void handle.enclave.exited.then(({ code, signal }) => {
              if (!abort.signal.aborted) processIo.stderr(`sim: the enclave child exited (${signal ?? `code ${code}`}); the proxy answers 503 until it is back\n`);
            });
            await new Promise<void>((resolve) => {
              stopServices = resolve;
              if (abort.signal.aborted) resolve();
            });
            await handle.close();
            processIo.stderr('sim: stopped; state kept in ' + summary.stateDir + '\n');
            // Ctrl-C is how --keep-running ends: the run's own result stands.
            return exitCode;
          }
          return abort.signal.aborted ? INTERRUPTED_EXIT_CODE : exitCode;
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      });
    });
}
