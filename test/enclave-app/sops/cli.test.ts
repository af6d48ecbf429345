/**
 * `attested-pack sops decrypt|encrypt` driven in-process with captured output: age keys from
 * flags and from SOPS_AGE_KEY_FILE / SOPS_AGE_KEY, --extract, --output-type, --output, exit codes
 * and error lines; and the KMS path against the local KMS simulator (simulator/kms).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { CreateAliasCommand, CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { SimulatedNsmPki } from '../../../attestation/index.js';
import { startKmsSimulator, type KmsSimulatorHandle } from '../../../simulator/kms/index.js';
import { registerSopsCommands, type SopsCliIo } from '../../../enclave-app/sops/cli.js';
import { readSopsMetadata } from '../../../enclave-app/sops/index.js';
import { VECTORS } from './helpers.js';

let dir: string;
const FLUX = path.join(VECTORS, 'fluxcd-kustomize-controller');
const FLUX_KEY = path.join(VECTORS, 'keys', 'flux.agekey.txt');

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'sops-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  process.exitCode = undefined;
});

async function run(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const out: Buffer[] = [];
  let stderr = '';
  const io: SopsCliIo = {
    stdout: (t) => out.push(Buffer.from(t)),
    stderr: (t) => (stderr += t),
    stdoutBytes: (b) => out.push(Buffer.from(b)),
    isTty: false,
    env: { HOME: dir, ...env },
  };
  const program = new Command('attested-pack').exitOverride();
  registerSopsCommands(program, io);
  for (const c of program.commands) {
    c.exitOverride();
    for (const cc of c.commands) cc.exitOverride().configureOutput({ writeErr: (s) => (stderr += s), writeOut: () => undefined });
  }
  let code: number;
  try {
    await program.parseAsync(['sops', ...args], { from: 'user' });
    code = typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch {
    code = 2;
  }
  return { code, stdout: Buffer.concat(out), stderr };
}

describe('sops decrypt', () => {
  it('decrypts with --age-key-file and prints the plain YAML', async () => {
    const r = await run(['decrypt', path.join(FLUX, 'algorithms-age.yaml'), '--age-key-file', FLUX_KEY]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('apiVersion: v1\nkind: Secret\nmetadata:\n    name: age\nstringData:\n    key: value\n');
  });

  it('takes the key from SOPS_AGE_KEY_FILE or SOPS_AGE_KEY, like sops', async () => {
    const a = await run(['decrypt', path.join(FLUX, 'envs-env.env')], { SOPS_AGE_KEY_FILE: FLUX_KEY });
    expect([a.code, a.stdout.toString()]).toEqual([0, 'key=value\n']);
    const key = (await readFile(FLUX_KEY, 'utf8')).split('\n').find((l) => l.startsWith('AGE-SECRET-KEY')) as string;
    const b = await run(['decrypt', path.join(FLUX, 'files-file.txt')], { SOPS_AGE_KEY: `  ${key}\n` });
    expect([b.code, b.stdout.toString()]).toEqual([0, 'value']);
  });

  it('--extract prints a string without a newline; --output-type json converts', async () => {
    const e = await run(['decrypt', path.join(FLUX, 'algorithms-age.yaml'), '--age-key-file', FLUX_KEY, '--extract', '["stringData"]["key"]']);
    expect([e.code, e.stdout.toString()]).toEqual([0, 'value']);
    const m = await run(['decrypt', path.join(FLUX, 'algorithms-age.yaml'), '--age-key-file', FLUX_KEY, '--extract', '["metadata"]', '--output-type', 'json']);
    expect(m.stdout.toString()).toBe('{\n\t"name": "age"\n}\n');
  });

  it('--output writes the plaintext with mode 0600', async () => {
    const out = path.join(dir, 'plain.yaml');
    const r = await run(['decrypt', path.join(FLUX, 'global-secret.yaml'), '--age-key-file', path.join(VECTORS, 'keys', 'flux-global.agekey.txt'), '--output', out]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(0);
    expect((await readFile(out, 'utf8')).includes('key: global-value')).toBe(true);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
  });

  it('a wrong key: exit 1, "error [SOPS_NO_KEY]" and a hint, nothing on stdout', async () => {
    const r = await run(['decrypt', path.join(FLUX, 'algorithms-age.yaml'), '--age-key-file', path.join(VECTORS, 'keys', 'humphd-sops-age.agekey.txt')]);
    expect(r.code).toBe(1);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toMatch(/^error \[SOPS_NO_KEY\]: could not recover the data key .*age1l44x/m);
    expect(r.stderr).toMatch(/^hint: /m);
  });

  it('--json reports errors as JSON', async () => {
    const r = await run(['decrypt', path.join(VECTORS, 'getsops-sops', 'ft-no_mac.yaml'), '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ ok: false, error: { code: 'SOPS_NO_MAC' } });
  });

  it.each([
    [['decrypt', 'does-not-exist.yaml'], 'USAGE'],
    [['decrypt', path.join(FLUX, 'envs-env.env'), '--output-type', 'toml'], 'USAGE'],
    [['decrypt', path.join(FLUX, 'envs-env.env'), '--extract', 'key'], 'SOPS_BAD_PATH'],
    [['decrypt', path.join(FLUX, 'envs-env.env'), '--input-type', 'json'], 'SOPS_PARSE_ERROR'],
  ])('usage and input errors exit 2: %j', async (args, code) => {
    const r = await run(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error [${code}]`);
  });
});

describe('sops encrypt', () => {
  it('encrypts for an age recipient; the result decrypts with the identity', async () => {
    const id = await generateX25519Identity();
    const plain = path.join(dir, 'app.yaml');
    await writeFile(plain, 'db:\n    password: hunter2\n    port_unencrypted: 5432\n');
    const enc = path.join(dir, 'app.enc.yaml');
    const e = await run(['encrypt', plain, '--age', await identityToRecipient(id), '--output', enc, '--json']);
    expect(e.code).toBe(0);
    expect(JSON.parse(e.stdout.toString())).toMatchObject({ ok: true, output: enc, format: 'yaml' });
    const text = await readFile(enc, 'utf8');
    expect(text).not.toContain('hunter2');
    expect(text).toContain('port_unencrypted: 5432');
    const d = await run(['decrypt', enc], { SOPS_AGE_KEY: id });
    expect(d.stdout.toString()).toBe('db:\n    password: hunter2\n    port_unencrypted: 5432\n');
  });

  it('without --age or --kms: exit 2', async () => {
    const plain = path.join(dir, 'x.json');
    await writeFile(plain, '{"a": 1}');
    const r = await run(['encrypt', plain]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error [USAGE]');
  });

  it('refuses a file that is already encrypted', async () => {
    const r = await run(['encrypt', path.join(FLUX, 'algorithms-age.yaml'), '--age', 'age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error [SOPS_ENCRYPT_FAILED]');
  });
});

describe('KMS through the SDK against the local KMS simulator', () => {
  let sim: KmsSimulatorHandle;
  let arn: string;
  const creds = { accessKeyId: 'AKIASOPSCLITEST00001', secretAccessKey: 'sops-cli-test-secret', principalArn: 'arn:aws:iam::111122223333:user/operator' };

  beforeAll(async () => {
    const pki = await SimulatedNsmPki.ephemeral();
    sim = await startKmsSimulator({ stateDir: path.join(dir, 'kms-state'), credentials: [creds], trustRoots: [pki.rootPem()] });
    const client = new KMSClient({ endpoint: sim.endpoint, region: sim.region, credentials: creds, maxAttempts: 1 });
    const key = await client.send(new CreateKeyCommand({ Description: 'sops cli test' }));
    arn = key.KeyMetadata?.Arn as string;
    client.destroy();
  });
  afterAll(async () => {
    await sim?.close();
  });

  const env = () => ({ AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey, AWS_REGION: sim.region });

  it('encrypt --kms ARN --kms-endpoint, then decrypt --kms-endpoint', async () => {
    const plain = path.join(dir, 'kms.json');
    await writeFile(plain, '{"api_key": "k-123", "n": 7}');
    const out = path.join(dir, 'kms.enc.json');
    const e = await run(['encrypt', plain, '--kms', arn, '--kms-endpoint', sim.endpoint, '--output', out], env());
    expect(e.stderr).toBe('');
    expect(e.code).toBe(0);
    const md = readSopsMetadata(await readFile(out), 'json');
    expect(md.kms.map((k) => k.arn)).toEqual([arn]);
    const d = await run(['decrypt', out, '--kms-endpoint', sim.endpoint], env());
    expect(d.stderr).toBe('');
    expect(d.stdout.toString()).toBe('{\n\t"api_key": "k-123",\n\t"n": 7\n}\n');
  });

  it('encrypt --kms with an alias ARN (KMS Encrypt accepts aliases), then decrypt through the alias', async () => {
    const client = new KMSClient({ endpoint: sim.endpoint, region: sim.region, credentials: creds, maxAttempts: 1 });
    await client.send(new CreateAliasCommand({ AliasName: 'alias/sops-cli', TargetKeyId: arn }));
    client.destroy();
    const aliasArn = `arn:aws:kms:${sim.region}:111122223333:alias/sops-cli`;
    const plain = path.join(dir, 'kms-alias.yaml');
    await writeFile(plain, 'token: t-42\n');
    const out = path.join(dir, 'kms-alias.enc.yaml');
    const e = await run(['encrypt', plain, '--kms', aliasArn, '--kms-endpoint', sim.endpoint, '--output', out], env());
    expect([e.code, e.stderr]).toEqual([0, '']);
    expect(readSopsMetadata(await readFile(out), 'yaml').kms.map((k) => k.arn)).toEqual([aliasArn]);
    const d = await run(['decrypt', out, '--kms-endpoint', sim.endpoint], env());
    expect([d.code, d.stderr, d.stdout.toString()]).toEqual([0, '', 'token: t-42\n']);
  });

  it('bad credentials: decrypt fails with SOPS_NO_KEY naming the ARN', async () => {
    const plain = path.join(dir, 'kms2.yaml');
    await writeFile(plain, 'a: b\n');
    const out = path.join(dir, 'kms2.enc.yaml');
    expect((await run(['encrypt', plain, '--kms', arn, '--kms-endpoint', sim.endpoint, '--output', out], env())).code).toBe(0);
    const d = await run(['decrypt', out, '--kms-endpoint', sim.endpoint], { ...env(), AWS_SECRET_ACCESS_KEY: 'wrong' });
    expect(d.code).not.toBe(0);
    expect(d.stderr).toContain('error [SOPS_NO_KEY]');
    expect(d.stderr).toContain(arn);
    expect(d.stderr).not.toContain('a: b');
  });
});
