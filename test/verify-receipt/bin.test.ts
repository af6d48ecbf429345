/**
 * The bundled auditor binary (bin/verify-receipt.mjs → dist/verify-receipt.mjs, built by the
 * global setup): exit codes, JSON on stdout, no colour when piped, and a bundle that needs
 * nothing but Node built-ins (no fastify, no AWS SDK, no network client).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { makePackFixture, type PackFixture } from './helpers/pack-fixture.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const BIN = `${root}bin/verify-receipt.mjs`;

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, FORCE_COLOR: '1' } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

let f: PackFixture;
beforeAll(async () => {
  f = await makePackFixture();
});
afterAll(async () => {
  await f.cleanup();
});

describe('bin/verify-receipt.mjs', () => {
  it('exit 0 for the honest receipt, plain text when piped', async () => {
    const r = await run(f.cliArgs());
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^VERIFIED \(8 passed/m);
    expect(r.stdout).not.toContain('\x1b[');
  });

  it('exit 1 with --json when a check fails', async () => {
    const r = await run([...f.cliArgs(), '--nonce', '00', '--json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ id: number; status: string }> };
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.id === 5)!.status).toBe('fail');
  });

  it('exit 2 without expected measurements, and for a malformed receipt', async () => {
    const none = await run([f.paths.receipt, '--root', f.paths.root]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('error [VERIFY_NO_EXPECTED_MEASUREMENTS]');
    const bad = await run([f.paths.measurements, '--measurements', f.paths.measurements]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error \[RECEIPT_MALFORMED\]: receipt \$\.\w+: /);
  });

  it('is one bundle that imports only Node built-ins', () => {
    const bundle = readFileSync(`${root}dist/verify-receipt.mjs`, 'utf8');
    const specifiers = [...bundle.matchAll(/^import\s[^;]*?from\s*["']([^"']+)["']/gm)].map((m) => m[1]!);
    expect(specifiers.length).toBeGreaterThan(0);
    expect(specifiers.filter((s) => !s.startsWith('node:'))).toEqual([]);
    expect(bundle).not.toMatch(/@aws-sdk|fastify|@smithy/);
    expect(bundle).not.toMatch(/["']node:(?:https?|net|tls|dgram|dns)["']/);
  });
});
