/** `enclave serve` flag rules, through the built CLI (no server is started in these cases). */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/attested-pack.mjs', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [bin, 'enclave', 'serve', ...args], { encoding: 'utf8', timeout: 30_000 });
const KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const AGE = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
const NEVER = ['--kms-region', 'us-east-1', '--listen', 'unix:///tmp/ap-serve-test-never.sock'];

describe('enclave serve flags', () => {
  it('refuses to start outside simulation without naming the envelope of each identity/environment', () => {
    const r = run(...NEVER);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--envelope IDENTITY/ENVIRONMENT=');
    expect(r.stderr).toContain('hint:');
  });

  it('refuses the removed flat lists (--wrap-key, --wrap-age-recipient), pointing at --envelope', () => {
    for (const flag of [['--wrap-key', KEY], ['--wrap-age-recipient', AGE]]) {
      const r = run(...NEVER, ...flag);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('removed');
      expect(r.stderr).toContain('--envelope');
    }
  });

  it('refuses malformed envelopes, aliases and duplicate cells, naming the flag', () => {
    const cases: Array<[string[], string]> = [
      [['--envelope', `api-gateway=${KEY}`], 'IDENTITY/ENVIRONMENT=TARGET'],
      [['--envelope', 'api-gateway/production=arn:aws:kms:us-east-1:111122223333:alias/wrap'], 'not an alias'],
      [['--envelope', `worker/dev=${AGE} `], 'worker/dev'],
      [['--envelope', 'worker/dev=age1NOTBECH32'], 'worker/dev'],
      [['--envelope', `a/dev=${KEY}`, '--envelope', `a/dev=${AGE}`], 'twice'],
      [['--envelope', `a/dev=${KEY}`, '--source-key', 'arn:aws:kms:us-east-1:111122223333:alias/src'], '--source-key'],
      [['--envelope', `a/dev=${KEY}`, '--source-key', 'a/dev=arn:aws:kms:us-east-1:111122223333:alias/src'], '--source-key a/dev'],
      [['--envelope', `a/dev=${KEY}`, '--seal-key', KEY], '--signer-public-key'],
      [['--envelope', `a/dev=${KEY}`, '--manifest-sha256', 'ABC'], '--manifest-sha256'],
      [['--envelope', `a/dev=${KEY}`, '--seal-key', KEY, '--signer-public-key', 'bm90IGEga2V5'], 'Ed25519'],
    ];
    for (const [args, says] of cases) {
      const r = run(...NEVER, ...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(says);
    }
  });

  it('refuses contradictory wrap flags and a signing key that is not a key/ ARN', () => {
    const a = run('--kms-region', 'us-east-1', '--envelope', `a/dev=${KEY}`, '--any-wrap-target');
    expect(a.status).toBe(2);
    expect(a.stderr).toContain('contradicts');
    const b = run('--kms-region', 'us-east-1', '--any-wrap-target', '--signing-kms-key', 'alias-only');
    expect(b.status).toBe(2);
    expect(b.stderr).toContain('--signing-kms-key');
    const c = run('--kms-region', 'us-east-1', '--any-wrap-target', '--signing-kms-key', 'arn:aws:kms:us-east-1:111122223333:alias/sign');
    expect(c.status).toBe(2);
    expect(c.stderr).toContain('not an alias');
  });

  it('needs its simulation inputs with --simulate', () => {
    const r = run('--simulate');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--sim-state');
  });
});
