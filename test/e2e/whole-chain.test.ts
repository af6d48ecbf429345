/**
 * The whole chain, end to end, with every part real and separate:
 *   `attested-pack pack` (spawned CLI) ─HTTP→ host proxy ─unix socket→ enclave-app (child process
 *   running the measured bundle, simulated NSM) ─SDK/SigV4→ KMS simulator
 * and then `verify-receipt` (spawned CLI) on the result with --measurements, --artifact, --repo
 * and --expect-key. The artifact is opened by Clef's runtime algorithm written here. Negative
 * paths: unknown identity, wrong token, and the enclave killed mid-service.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDecipheriv, createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DecryptCommand } from '@aws-sdk/client-kms';
import { DEMO_SECRETS } from '../../simulator/demo-repo.js';
import { SIM_REPOSITORY, startSim, writeSigningPublicKey, type SimHandle } from '../../simulator/sim/index.js';
import { ATTESTED_PACK_BIN, VERIFY_RECEIPT_BIN, runBin, tempDir } from './helpers.js';

let dir: string;
let out: string;
let sim: SimHandle;

beforeAll(async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  dir = await tempDir('ap-e2e-');
  out = join(dir, 'ci-out');
  await mkdir(out);
  sim = await startSim({ stateDir: join(dir, 'state') });
});
afterAll(async () => {
  await sim?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface PackJson {
  ok: boolean;
  output: string;
  receipt: string;
  verified: boolean;
  keyCount: number;
  artifactSha256: string;
}

/** `attested-pack pack` as CI runs it (token from the environment, never argv). */
function packCli(identity: string, environment: string, extra: string[] = [], token = sim.proxy.token) {
  return runBin(
    ATTESTED_PACK_BIN,
    [
      'pack',
      '--proxy',
      sim.proxy.url,
      '--identity',
      identity,
      '--environment',
      environment,
      '--repo',
      sim.repo.dir,
      '--repository',
      SIM_REPOSITORY,
      '--out',
      join(out, `${identity}.${environment}.json`),
      '--json',
      ...extra,
    ],
    { env: { ATTESTED_PACK_TOKEN: token } },
  );
}

function verifyArgs(receipt: string, artifact: string, extra: string[]): string[] {
  return [receipt, '--measurements', sim.measured.measurementsPath, '--root', sim.paths.nsmRootPem, '--artifact', artifact, '--repo', sim.repo.dir, '--json', ...extra];
}

interface ReportJson {
  ok: boolean;
  checks: Array<{ id: number; name: string; status: string; evidence: string; code?: string }>;
}

/** Clef's runtime, from reference/clef-compat.md: ciphertextHash, KMS Decrypt of the DEK as the runtime role, AES-256-GCM. */
async function clefRuntimeOpen(path: string): Promise<Record<string, Record<string, string>>> {
  const a = JSON.parse(readFileSync(path, 'utf8')) as { ciphertext: string; ciphertextHash: string; envelope: Record<string, string> };
  expect(createHash('sha256').update(a.ciphertext).digest('hex')).toBe(a.ciphertextHash);
  expect(a.envelope.keyId).toBe(sim.keys.wrap);
  const dek = await sim.runtime.send(
    new DecryptCommand({ KeyId: a.envelope.keyId, CiphertextBlob: Buffer.from(a.envelope.wrappedKey!, 'base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }),
  );
  const d = createDecipheriv('aes-256-gcm', Buffer.from(dek.Plaintext!), Buffer.from(a.envelope.iv!, 'base64'));
  d.setAuthTag(Buffer.from(a.envelope.authTag!, 'base64'));
  const plaintext = Buffer.concat([d.update(Buffer.from(a.ciphertext, 'base64')), d.final()]);
  return JSON.parse(plaintext.toString('utf8')) as Record<string, Record<string, string>>;
}

describe('pack client → host proxy → enclave child → KMS simulator', () => {
  let packed: PackJson;

  it('`attested-pack pack` packs api-gateway/production, KMS-signed, and verifies the receipt against measurements.json', async () => {
    const r = await packCli('api-gateway', 'production', ['--signing', 'kms', '--measurements', sim.measured.measurementsPath, '--root', sim.paths.nsmRootPem]);
    expect(r.stderr).not.toContain('error [');
    expect(r.code).toBe(0);
    packed = JSON.parse(r.stdout) as PackJson;
    expect(packed.ok).toBe(true);
    expect(packed.verified).toBe(true);
    expect(packed.keyCount).toBe(4);
    expect(createHash('sha256').update(readFileSync(packed.output)).digest('hex')).toBe(packed.artifactSha256);
    // Progress went to stderr and never carried the token.
    expect(r.stderr).toContain('packing via');
    expect(r.stderr).not.toContain(sim.proxy.token);
  });

  it('the artifact opens with Clef\'s runtime algorithm and holds exactly the production secrets', async () => {
    expect(await clefRuntimeOpen(packed.output)).toEqual({
      payments: { ...DEMO_SECRETS.payments!.production },
      auth: { ...DEMO_SECRETS.auth!.production },
    });
  });

  it('verify-receipt (spawned) with --measurements, --artifact, --repo and --expect-key: every check it was given input for passes', async () => {
    const kmsPublicKey = await writeSigningPublicKey(sim);
    const expectKeys = ['--expect-key', sim.keys.source, '--expect-key', sim.keys.wrap, '--expect-key', sim.keys.sign];
    const r = await runBin(VERIFY_RECEIPT_BIN, verifyArgs(packed.receipt, packed.output, [...expectKeys, '--kms-public-key', kmsPublicKey]));
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as ReportJson;
    expect(report.ok).toBe(true);
    // The client's nonce is its own business here (not passed), so check 5 is skipped, never passed.
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([
      ['attestation', 'pass'],
      ['measurements', 'pass'],
      ['debug-mode', 'pass'],
      ['claims-binding', 'pass'],
      ['nonce', 'skipped'],
      ['artifact', 'pass'],
      ['repository', 'pass'],
      ['keys', 'pass'],
    ]);
    expect(report.checks[5]!.evidence).toContain('signature verifies');

    // --expect-key means something: leave out the signing key and check 8 fails naming it.
    const narrow = await runBin(VERIFY_RECEIPT_BIN, verifyArgs(packed.receipt, packed.output, ['--expect-key', sim.keys.source, '--expect-key', sim.keys.wrap, '--kms-public-key', kmsPublicKey]));
    expect(narrow.code).toBe(1);
    const keys = (JSON.parse(narrow.stdout) as ReportJson).checks.find((c) => c.name === 'keys')!;
    expect(keys.status).toBe('fail');
    expect(keys.evidence).toContain(sim.keys.sign);
  });

  it('sealed signing: the Ed25519 key the enclave unsealed signs the artifact; verify-receipt checks it with the sealed key\'s public half', async () => {
    expect(sim.unseal).toMatchObject({ ok: true });
    const r = await packCli('api-gateway', 'dev', ['--signing', 'sealed']);
    expect(r.code).toBe(0);
    const p = JSON.parse(r.stdout) as PackJson;
    const verifyKey = Buffer.from(sim.sealedKey!.publicKey).toString('base64');
    const expectKeys = ['--expect-key', sim.keys.source, '--expect-key', sim.keys.wrap, '--expect-key', sim.keys.seal];
    const v = await runBin(VERIFY_RECEIPT_BIN, verifyArgs(p.receipt, p.output, ['--verify-key', verifyKey, ...expectKeys]));
    expect(v.code).toBe(0);
    const artifactCheck = (JSON.parse(v.stdout) as ReportJson).checks.find((c) => c.name === 'artifact')!;
    expect(artifactCheck.status).toBe('pass');
    expect(artifactCheck.evidence).toMatch(/Ed25519/i);
    expect((JSON.parse(v.stdout) as ReportJson).ok).toBe(true);
  });
});

describe('negative paths', () => {
  it('an identity clef.yaml does not know: exit 2 with a message naming it, nothing written', async () => {
    const r = await packCli('nobody', 'production');
    expect(r.code).toBe(2);
    const e = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; message: string } };
    expect(e.ok).toBe(false);
    expect(e.error.message).toContain('nobody');
    expect(existsSync(join(out, 'nobody.production.json'))).toBe(false);
  });

  it('a token the proxy does not know: exit 1 (401), and the token is not echoed', async () => {
    const wrong = 'apsim_this-is-not-the-token-0123456789';
    const r = await packCli('api-gateway', 'production', ['--retries', '0'], wrong);
    expect(r.code).toBe(1);
    const e = JSON.parse(r.stdout) as { error: { code: string; details?: { status?: number } } };
    expect(e.error.code).toMatch(/^AUTH_/);
    expect(e.error.details?.status).toBe(401);
    expect(r.stdout + r.stderr).not.toContain(wrong);
  });

  it('the enclave child killed: the proxy answers 503 with Retry-After, the client exits 3 and writes no partial artifact; it recovers when the enclave returns', async () => {
    const pid = sim.enclave.pid;
    process.kill(pid, 'SIGKILL');
    await sim.enclave.exited;

    const ready = await fetch(`${sim.proxy.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toMatch(/^\d+$/);

    const target = join(out, 'api-gateway.production.json');
    const before = readFileSync(target);
    const filesBefore = readdirSync(out).sort();
    const r = await packCli('api-gateway', 'production', ['--retries', '0']);
    expect(r.code).toBe(3);
    const e = JSON.parse(r.stdout) as { error: { code: string; details?: { status?: number } } };
    expect(e.error.code).toBe('ENCLAVE_UNAVAILABLE');
    expect(e.error.details?.status).toBe(503);
    // No new or partial file (atomic writes leave no temp files either), the old artifact untouched.
    expect(readdirSync(out).sort()).toEqual(filesBefore);
    expect(readFileSync(target).equals(before)).toBe(true);

    // The same proxy, untouched, serves again once an enclave listens on the socket.
    await sim.restartEnclave();
    const again = await packCli('api-gateway', 'production', ['--retries', '0']);
    expect(again.code).toBe(0);
    expect(readFileSync(target).equals(before)).toBe(false);
  });
});
