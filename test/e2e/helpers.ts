/**
 * Helpers for the end-to-end suites: run the built CLIs (bin/*.mjs → dist/, built by the vitest
 * globalSetup) as real processes, temporary state directories, and process checks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const ATTESTED_PACK_BIN = join(repoRoot, 'bin', 'attested-pack.mjs');
export const VERIFY_RECEIPT_BIN = join(repoRoot, 'bin', 'verify-receipt.mjs');

export interface ProcessRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Environment for child CLIs: no inherited tokens, GitHub or ATTESTED_PACK_* variables. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir() };
  return { ...env, ...extra };
}

/** Runs a bin script to completion. */
export function runBin(bin: string, args: readonly string[], o: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: o.cwd ?? repoRoot, env: cliEnv(o.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 90_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Starts a bin script and returns the child with accumulating output. */
export function startBin(bin: string, args: readonly string[], o: { env?: Record<string, string> } = {}): { child: ChildProcess; out: { stdout: string; stderr: string }; done: Promise<ProcessRun> } {
  const child = spawn(process.execPath, [bin, ...args], { cwd: repoRoot, env: cliEnv(o.env), stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (c: Buffer) => (out.stdout += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (out.stderr += c.toString('utf8')));
  const done = new Promise<ProcessRun>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, ...out })));
  return { child, out, done };
}

/** Resolves once `predicate` holds (polled), or rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A fresh temporary directory (short path: unix socket paths are limited). */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** True while a process with this pid exists. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
