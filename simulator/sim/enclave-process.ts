/**
 * The simulated enclave as a child process running the measured bundle — the very bytes whose
 * PCRs the key policies name — with exactly the arguments the measured /cmd holds:
 *   node <state>/enclave/enclave.mjs serve --simulate --sim-state … --measurements … --listen unix://…
 *        --envelope … --source-key … --seal-key … --signer-public-key …
 * Its JSON event log (stderr) goes to a file; its stdout announces readiness. The launcher kills
 * only this child, by its pid, and removes its socket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { lstat, mkdir, readFile, rm, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../common/fs.js';
import { SimError } from './errors.js';
import { IMAGE_BUNDLE_PATH, IMAGE_NODE_PATH } from '../../eif-build/index.js';

/** How to start the enclave child. */
export interface EnclaveProcessOptions {
  bundlePath: string;
  measurementsPath: string;
  /** Simulated NSM PKI directory (the KMS simulator trusts its root). */
  nsmDir: string;
  kmsEndpoint: string;
  socketPath: string;
  /** KMS key for the `kms` signing mode. */
  signingKmsKey?: string;
  /** `--envelope` values: `IDENTITY/ENVIRONMENT=ARN|age1…`, one per cell the enclave packs. */
  envelopes?: string[];
  /** `--source-key` values: `[IDENTITY/ENVIRONMENT=]ARN`. */
  sourceKeys?: string[];
  /** The pinned sealed signing key (`--seal-key`, `--signer-public-key` base64 SPKI). */
  sealKey?: string;
  signerPublicKey?: string;
  /** Where the child's stderr (JSON events, never secrets) is appended. */
  logPath: string;
  /** Where the child's pid is kept while it runs (a later run ends a stale child it finds there). */
  pidPath: string;
  /**
   * The rendered `serve` arguments (deploy render with the simulation overlay, `serve` first):
   * when set they replace every flag above except the bundle path and `extraArgs`.
   */
  renderedServeArgs?: string[];
  /** Extra `serve` flags (e.g. `--key-max-uses 1`). */
  extraArgs?: string[];
  /** Deadline for the ready line (default 30 s). */
  readyTimeoutMs?: number;
  signal?: AbortSignal;
}

/** A running enclave child. */
export interface EnclaveProcess {
  readonly pid: number;
  /** `unix:///…` transport URL it listens on. */
  readonly url: string;
  /** Resolves when the child exits (with its exit code or signal). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly running: boolean;
  /** SIGTERM, then SIGKILL after `graceMs` (default 5 s); removes the socket and pid file. */
  stop(graceMs?: number): Promise<void>;
}

const READY = /^enclave ready on (\S+)$/m;

/** The `serve` arguments for the child (exported so the README and tests show the same line). */
export function enclaveServeArgs(o: EnclaveProcessOptions): string[] {
  if (o.renderedServeArgs) return [o.bundlePath, ...o.renderedServeArgs, ...(o.extraArgs ?? [])];
  return [
    o.bundlePath,
    'serve',
    '--simulate',
    '--sim-state',
    o.nsmDir,
    '--measurements',
    o.measurementsPath,
    '--kms-endpoint',
    o.kmsEndpoint,
    '--listen',
    `unix://${o.socketPath}`,
    ...(o.signingKmsKey ? ['--signing-kms-key', o.signingKmsKey] : []),
    ...(o.envelopes ?? []).flatMap((e) => ['--envelope', e]),
    ...(o.sourceKeys ?? []).flatMap((k) => ['--source-key', k]),
    ...(o.sealKey ? ['--seal-key', o.sealKey] : []),
    ...(o.signerPublicKey ? ['--signer-public-key', o.signerPublicKey] : []),
    ...(o.extraArgs ?? []),
  ];
}

/**
 * The image's `/cmd` for these options: what the simulation measures (PCR2), so the simulated
 * key policies pin exactly the flags the child runs with. The bundle sits at /app/enclave.mjs in
 * the image; every argument after it is the child's own.
 */
export function enclaveImageCmd(o: EnclaveProcessOptions): string[] {
  return [IMAGE_NODE_PATH, IMAGE_BUNDLE_PATH, ...enclaveServeArgs(o).slice(1)];
}

/**
 * Ends a child a previous run left behind (it crashed or was killed with SIGKILL): only when the
 * pid file names a live process whose command line is this state's enclave bundle.
 */
export async function endStaleEnclave(pidPath: string, bundlePath: string): Promise<boolean> {
  let pid: number;
  try {
    pid = Number((await readFile(pidPath, 'utf8')).trim());
  } catch {
    return false;
  }
  let ended = false;
  if (Number.isInteger(pid) && pid > 1) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      cmdline = '';
    }
    if (cmdline.split('\0').includes(bundlePath)) {
      try {
        process.kill(pid, 'SIGKILL');
        ended = true;
      } catch {
        ended = false;
      }
      // SIGKILL is delivered asynchronously: wait until the process is gone (its socket with it).
      for (let i = 0; ended && i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    }
  }
  await rm(pidPath, { force: true });
  return ended;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The child's environment: nothing secret, only what node and our own switches need. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '', NODE_ENV: 'production' };
  for (const name of ['ATTESTED_PACK_DEBUG', 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED']) {
    const v = process.env[name];
    if (v !== undefined) env[name] = v;
  }
  return env;
}

async function removeSocket(path: string): Promise<void> {
  try {
    if ((await lstat(path)).isSocket()) await unlink(path);
  } catch {
    // already gone
  }
}

function lastLogLines(path: string, n: number): string {
  try {
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    return lines.slice(-n).join('\n');
  } catch {
    return '';
  }
}

/** Spawns the enclave child and resolves once it prints its ready line. */
export async function startEnclaveProcess(o: EnclaveProcessOptions): Promise<EnclaveProcess> {
  await mkdir(dirname(o.logPath), { recursive: true });
  await endStaleEnclave(o.pidPath, o.bundlePath);
  const logFd = openSync(o.logPath, 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, enclaveServeArgs(o), {
      stdio: ['ignore', 'pipe', logFd],
      // Its own process group: a terminal's Ctrl-C reaches only the launcher, which drains the
      // proxy first and then stops the enclave itself (the 'exit' hook below covers crashes).
      detached: true,
      // The enclave gets no AWS or proxy secrets from the environment: credentials arrive per request.
      env: childEnv(),
    });
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid;
  if (pid === undefined) {
    throw new SimError('SIM_ENCLAVE_START_FAILED', `could not start ${process.execPath} for the enclave bundle`, { hint: 'check that node is executable' });
  }
  // If this process ends abruptly, do not leave the child running.
  const onExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', onExit);
  // Listen for the exit before any await: a child that dies at once (a crashing bundle) must not
  // exit unobserved while the pid file is written, or nothing would ever settle `exited`.
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      process.off('exit', onExit);
      resolve({ code, signal });
    });
  });
  await writeFileAtomic(o.pidPath, `${pid}\n`);

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 5000): Promise<void> => {
    stopping ??= (async () => {
      if (running) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      await removeSocket(o.socketPath);
      await rm(o.pidPath, { force: true });
    })();
    return stopping;
  };

  let url: string;
  try {
    url = await waitForReady(child, exited, o);
  } catch (err) {
    await stop(1000);
    throw err;
  }
  child.stdout?.resume();
  return {
    pid,
    url,
    exited,
    get running() {
      return running;
    },
    stop,
  };
}

function waitForReady(child: ChildProcess, exited: EnclaveProcess['exited'], o: EnclaveProcessOptions): Promise<string> {
  const timeoutMs = o.readyTimeoutMs ?? 30_000;
  return new Promise<string>((resolve, reject) => {
    let out = '';
    const done = (fn: () => void): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      o.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onData = (chunk: Buffer): void => {
      out += chunk.toString('utf8');
      const m = READY.exec(out);
      if (m) done(() => resolve(m[1]!));
    };
    const onAbort = (): void => done(() => reject(new SimError('SIM_INTERRUPTED', 'interrupted while the enclave was starting')));
    const timer = setTimeout(
      () =>
        done(() =>
          reject(
            new SimError('SIM_ENCLAVE_START_FAILED', `the enclave did not report ready within ${Math.round(timeoutMs / 1000)} s`, {
              hint: `see ${o.logPath}`,
            }),
          ),
        ),
      timeoutMs,
    );
    child.stdout?.on('data', onData);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    // An interrupt that arrived while the child was being spawned must not be lost.
    if (o.signal?.aborted) onAbort();
    void exited.then(({ code, signal }) =>
      done(() => {
        const tail = lastLogLines(o.logPath, 3);
        reject(
          new SimError('SIM_ENCLAVE_START_FAILED', `the enclave exited before listening (${signal ?? `exit code ${code}`})${tail ? `; last log lines:\n${tail}` : ''}`, {
            hint: `see ${o.logPath}`,
          }),
        );
      }),
    );
  });
}
