// Shared by tests that run the real command tree in-process (not a test file).
import { vi } from 'vitest';
import { buildProgram } from '../../cli/main.js';

/** Runs `attested-pack <args>` in-process (the real command tree); exit code and captured output. */
export async function runAttestedPack(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  const program = buildProgram();
  const quiet = (c: ReturnType<typeof buildProgram>): void => {
    c.configureOutput({ writeErr: (s) => (stderr += s), writeOut: (s) => (stdout += s) });
    for (const sub of c.commands) quiet(sub);
  };
  quiet(program);
  let code: number;
  try {
    process.exitCode = undefined;
    await program.parseAsync(args, { from: 'user' });
    code = typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch {
    code = 2;
  } finally {
    process.exitCode = undefined;
    vi.restoreAllMocks();
  }
  return { code, stdout, stderr };
}
