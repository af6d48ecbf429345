/** `enclave serve` flag rules, through the built CLI (no server is started in these cases). */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/attested-pack.mjs', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [bin, 'enclave', 'serve', ...args], { encoding: 'utf8', timeout: 30_000 });

describe('enclave serve flags', () => {
  it('refuses to start outside simulation without naming the envelopes it may wrap for', () => {
    const r = run('--kms-region', 'us-east-1', '--listen', 'unix:///tmp/ap-serve-test-never.sock');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--wrap-key');
    expect(r.stderr).toContain('hint:');
  });

  it('refuses contradictory wrap flags and a signing key that is not an ARN', () => {
    const a = run('--kms-region', 'us-east-1', '--wrap-key', 'arn:aws:kms:us-east-1:111122223333:key/x', '--any-wrap-target');
    expect(a.status).toBe(2);
    expect(a.stderr).toContain('contradicts');
    const b = run('--kms-region', 'us-east-1', '--any-wrap-target', '--signing-kms-key', 'alias-only');
    expect(b.status).toBe(2);
    expect(b.stderr).toContain('--signing-kms-key');
  });

  it('needs its simulation inputs with --simulate', () => {
    const r = run('--simulate');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--sim-state');
  });
});
