/**
 * `attested-pack kms-sim`: in-process (ready line, demo keys, usable endpoint, clean stop) and as
 * the built CLI process stopped with SIGTERM; usage and state errors map to exit code 2.
 */
import { describe, it, expect, beforeAll, afterAll, afterEach, vi } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { registerKmsSimCommand, parseCredential, parseDurationMs, parseListen } from '../../../simulator/kms/cli.js';
import { DEMO_CREDENTIALS, STATE_FILE } from '../../../simulator/kms/index.js';
import { CREDS, repoRoot } from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'kms-sim-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  process.exitCode = undefined;
  vi.restoreAllMocks();
});

/** Runs `kms-sim <args>` in-process; `whileRunning` gets the parsed ready line, then the command is stopped. */
async function runInProcess(args: string[], whileRunning?: (ready: Record<string, unknown>) => Promise<void>): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  let onReady: (line: string) => void = () => undefined;
  const readyLine = new Promise<string>((resolve) => (onReady = resolve));
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    const line = stdout.split('\n').find((l) => l.startsWith('{"ready"'));
    if (line) onReady(line);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const program = new Command('attested-pack').exitOverride();
  registerKmsSimCommand(program, { stop: stopped });
  for (const c of program.commands) c.exitOverride().configureOutput({ writeErr: (s) => (stderr += s), writeOut: (s) => (stdout += s) });
  const parsed = program.parseAsync(args, { from: 'user' }).then(
    () => (typeof process.exitCode === 'number' ? process.exitCode : 0),
    () => 2,
  );
  if (whileRunning) {
    const first = await Promise.race([readyLine.then((l) => ({ l })), parsed.then((code) => ({ code }))]);
    if ('l' in first) {
      try {
        await whileRunning(JSON.parse(first.l) as Record<string, unknown>);
      } finally {
        stop();
      }
    }
  } else {
    stop();
  }
  const code = await parsed;
  vi.restoreAllMocks();
  return { code, stdout, stderr };
}

describe('kms-sim in-process', () => {
  it('prints a JSON ready line, creates demo keys, serves the SDK and stops cleanly', async () => {
    const state = path.join(dir, 'inproc');
    const cred = `${CREDS.admin.accessKeyId}:${CREDS.admin.secretAccessKey}=${CREDS.admin.principalArn}`;
    const r = await runInProcess(['kms-sim', '--state', state, '--listen', '127.0.0.1:0', '--json', '--create-demo-keys', '--credential', cred, '--max-attestation-age', '2m'], async (ready) => {
      expect(ready).toMatchObject({ ready: true, region: 'us-east-1', accountId: '111122223333', maxAttestationAgeMs: 120_000, usingDemoCredentials: false });
      expect(ready.principals).toEqual([{ accessKeyId: CREDS.admin.accessKeyId, principalArn: CREDS.admin.principalArn, admin: true }]);
      const demo = ready.demoKeys as Record<string, string>;
      expect(Object.keys(demo).sort()).toEqual(['alias/attested-pack/seal', 'alias/attested-pack/sign', 'alias/attested-pack/source', 'alias/attested-pack/wrap']);
      const kms = new KMSClient({ endpoint: ready.endpoint as string, region: 'us-east-1', credentials: CREDS.admin, maxAttempts: 1 });
      try {
        const md = (await kms.send(new DescribeKeyCommand({ KeyId: 'alias/attested-pack/sign' }))).KeyMetadata!;
        expect(md).toMatchObject({ Arn: demo['alias/attested-pack/sign'], KeySpec: 'ECC_NIST_P256' });
      } finally {
        kms.destroy();
      }
      expect(JSON.stringify(ready)).not.toContain(CREDS.admin.secretAccessKey);
    });
    expect(r.code).toBe(0);
    expect(existsSync(path.join(state, STATE_FILE))).toBe(true);
    expect(existsSync(path.join(state, 'nsm-pki'))).toBe(true);
  });

  it('exits 2 on bad flags', async () => {
    const state = path.join(dir, 'badflags');
    for (const extra of [
      ['--listen', '0.0.0.0:4599'],
      ['--listen', 'nonsense'],
      ['--credential', 'no-arn-here'],
      ['--max-attestation-age', '5 minutes'],
      ['--account-id', '12'],
    ]) {
      const r = await runInProcess(['kms-sim', '--state', state, ...extra]);
      expect(r.code, extra.join(' ')).toBe(2);
      expect(r.stderr).toContain('error [USAGE]');
    }
    expect((await runInProcess(['kms-sim', '--listen', '127.0.0.1:0'])).code).toBe(2); // --state is required
  });

  it('exits 2 with KMS_SIM_STATE_CORRUPT on a corrupt state file', async () => {
    const state = path.join(dir, 'corrupt');
    await mkdir(state, { recursive: true });
    await writeFile(path.join(state, STATE_FILE), 'garbage');
    const r = await runInProcess(['kms-sim', '--state', state, '--listen', '127.0.0.1:0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error [KMS_SIM_STATE_CORRUPT]');
    expect(r.stderr).toContain('hint:');
  });
});

describe('kms-sim flag parsers', () => {
  it('parse what they should and refuse the rest', () => {
    expect(parseListen('127.0.0.1:4599')).toEqual({ host: '127.0.0.1', port: 4599 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(() => parseListen('127.0.0.1:70000')).toThrow();
    expect(() => parseListen('10.0.0.1:80')).toThrow(/loopback/);
    expect(parseCredential('AKIAEXAMPLE000000001:se/cr+et=arn:aws:sts::111122223333:assumed-role/r/s=1')).toEqual({
      accessKeyId: 'AKIAEXAMPLE000000001',
      secretAccessKey: 'se/cr+et',
      principalArn: 'arn:aws:sts::111122223333:assumed-role/r/s=1',
    });
    expect(() => parseCredential('AKIAEXAMPLE000000001:secret')).toThrow();
    expect(() => parseCredential('AKIAEXAMPLE000000001:secret=arn:aws:s3:::bucket')).toThrow();
    expect(parseDurationMs('5m')).toBe(300_000);
    expect(parseDurationMs('1h30m')).toBe(5_400_000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(() => parseDurationMs('0s')).toThrow();
    expect(() => parseDurationMs('5')).toThrow();
  });
});

describe('kms-sim as a process', () => {
  const cli = path.join(repoRoot, 'dist/cli.mjs');

  it('prints the endpoint and a ready line, answers, and stops on SIGTERM with exit code 0', async () => {
    expect(existsSync(cli)).toBe(true); // built by test/global-setup.ts
    const state = path.join(dir, 'process');
    const child = spawn(process.execPath, [cli, 'kms-sim', '--state', state, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (s: string) => {
        out += s;
        if (out.includes('kms-sim: ready')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`exited early with ${code}: ${out}`)));
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await ready;
      const endpoint = /endpoint (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
      const demo = DEMO_CREDENTIALS[0]!;
      const kms = new KMSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: demo.accessKeyId, secretAccessKey: demo.secretAccessKey }, maxAttempts: 1 });
      const err = await kms.send(new DescribeKeyCommand({ KeyId: 'alias/none' })).catch((e: unknown) => e);
      kms.destroy();
      expect((err as Error).name).toBe('NotFoundException');
      expect(out).toContain('using the documented demo credentials');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out).toContain('kms-sim: stopped');
  });
});
