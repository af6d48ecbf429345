/**
 * The closing line of test/summary-reporter.ts, checked on real vitest runs: vitest is spawned on
 * the fixture cases of test/fixtures/reporter (their own config, never part of the main run) whose
 * beforeAll throws, whose file cannot load, that leave an unhandled rejection, or that skip for a
 * missing tool. A run that exits non-zero must never close with "0 failed", and the skip reasons
 * must be listed before the closing line, which stays the last line.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../', import.meta.url));
const vitestBin = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const config = 'test/fixtures/reporter/vitest.config.ts';
const CLOSING = /^tests: (\d+) passed, (\d+) failed, (\d+) skipped$/;

interface Run {
  code: number;
  lines: string[];
  closing: { passed: number; failed: number; skipped: number };
  stderr: string;
}

/** Runs vitest on one fixture case, without this run's own VITEST_* variables. */
function runCase(name: string, extraEnv: Record<string, string> = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = { NO_COLOR: '1' };
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('VITEST') && k !== 'ATTESTED_PACK_REQUIRE_TOOLS' && k !== 'FORCE_COLOR') env[k] = v;
  }
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [vitestBin, 'run', '--config', config, `${name}.case.ts`], { cwd: repoRoot, env: { ...env, ...extraEnv }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      if (code === -1) return reject(err ?? new Error('no exit code'));
      const lines = stdout.trimEnd().split('\n');
      const m = CLOSING.exec(lines.at(-1) ?? '');
      if (m === null) return reject(new Error(`the last line is not the closing line:\n${stdout}\n${stderr}`));
      resolve({ code, lines, stderr, closing: { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3]) } });
    });
  });
}

describe.concurrent('summary reporter: the closing line of a spawned vitest run', { timeout: 120_000 }, () => {
  it('a beforeAll that throws: exit ≠ 0 and the hook counts as failed (its tests were never run)', async () => {
    const r = await runCase('hook-fails');
    expect(r.code).not.toBe(0);
    expect(r.closing).toEqual({ passed: 1, failed: 1, skipped: 2 });
    expect(r.lines).toContain('  2  hook-fails.case.ts: not run, a hook above it threw (counted as failed)');
  });

  it('an unhandled rejection in a passing test: exit ≠ 0 and ≥ 1 failed', async () => {
    const r = await runCase('unhandled');
    expect(r.code).not.toBe(0);
    expect(r.closing.passed).toBe(1);
    expect(r.closing.failed).toBeGreaterThanOrEqual(1);
  });

  it('a file that cannot load (no tests collected): exit ≠ 0 and ≥ 1 failed', async () => {
    const r = await runCase('load-fails');
    expect(r.code).not.toBe(0);
    expect(r.closing).toEqual({ passed: 0, failed: 1, skipped: 0 });
  });

  it('skips say why, grouped by reason; the closing line stays last and the run exits 0', async () => {
    const r = await runCase('skips');
    expect(r.code).toBe(0);
    expect(r.closing).toEqual({ passed: 1, failed: 0, skipped: 3 });
    const at = r.lines.indexOf('skipped (3), by reason:');
    expect(at).toBeGreaterThan(0);
    expect(r.lines.slice(at + 1, -1)).toEqual([
      '  2  needs `attested-pack-no-such-tool` (Debian package attested-pack-no-such-package), not installed',
      '  1  skipped with a note on purpose',
    ]);
  });

  it('the same missing tool under ATTESTED_PACK_REQUIRE_TOOLS=1 fails the file, and the line says so', async () => {
    const r = await runCase('skips', { ATTESTED_PACK_REQUIRE_TOOLS: '1' });
    expect(r.code).not.toBe(0);
    expect(r.closing.failed).toBeGreaterThanOrEqual(1);
    expect(r.lines.join('\n') + r.stderr).toContain('ATTESTED_PACK_REQUIRE_TOOLS=1 makes it required');
  });
});
