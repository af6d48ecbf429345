/**
 * End to end: receipts from real packs (the pack pipeline against the KMS simulator with the
 * real SDK, and the simulated NSM) verify with verify-receipt using --measurements, --artifact,
 * --repo and --expect-key; the signer key comes from KMS GetPublicKey as an auditor fetches it,
 * and the key policy the simulator enforces serves as --policy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetKeyPolicyCommand, GetPublicKeyCommand } from '@aws-sdk/client-kms';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { runPack, type PackPorts } from '../../enclave-app/pack/pipeline.js';
import { RecipientKeyRing } from '../../enclave-app/pack/recipient-keys.js';
import type { PackRequest } from '../../enclave-app/protocol.js';
import { createWorld, worldPorts, randomMeasurements, type World } from '../enclave-app/pack/world.js';
import { verifyArgs } from './helpers/pack-fixture.js';
import { runCli, runCliJson } from './helpers/run-cli.js';

let world: World;
let dir: string;
const keys = new RecipientKeyRing();

beforeAll(async () => {
  world = await createWorld();
  dir = await mkdtemp(join(tmpdir(), 'vr-e2e-'));
  await writeFile(join(dir, 'measurements.json'), JSON.stringify(world.measurements));
  await writeFile(join(dir, 'root.pem'), world.pki.rootPem());
});
afterAll(async () => {
  keys.clear();
  await world?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The signing key's public half as `aws kms get-public-key` prints it, fetched as the runtime role. */
async function signingPublicKeyFile(): Promise<string> {
  const pub = await world.runtime.send(new GetPublicKeyCommand({ KeyId: world.keys.sign }));
  const file = join(dir, 'sign-key.json');
  await writeFile(file, JSON.stringify({ KeyId: world.keys.sign, PublicKey: Buffer.from(pub.PublicKey!).toString('base64') }));
  return file;
}

function ports(): PackPorts {
  return worldPorts(world, keys);
}

/** Runs one pack and writes its receipt and artifact where an auditor would find them. */
async function pack(identity: string, environment: string, extra: Partial<PackRequest> = {}) {
  const req = await world.request(identity, environment, extra);
  const out = await runPack(req, ports());
  const receipt = join(dir, `${identity}-${environment}.receipt.json`);
  const artifact = join(dir, `${identity}-${environment}.json`);
  await writeFile(receipt, out.receipt);
  await writeFile(artifact, out.artifact);
  return { receipt, artifact, nonce: Buffer.from(req.nonce).toString('hex') };
}

describe('receipts from packs against the simulator', () => {
  it('a KMS identity, KMS-signed: all eight checks pass', async () => {
    const p = await pack('api-gateway', 'production', { options: { signing: 'kms' } });
    const pub = await world.runtime.send(new GetPublicKeyCommand({ KeyId: world.keys.sign }));
    const kmsPublicKey = join(dir, 'sign-key.json');
    await writeFile(kmsPublicKey, JSON.stringify({ KeyId: world.keys.sign, PublicKey: Buffer.from(pub.PublicKey!).toString('base64') }));
    const args = verifyArgs({
      receipt: p.receipt,
      root: join(dir, 'root.pem'),
      measurements: join(dir, 'measurements.json'),
      artifact: p.artifact,
      kmsPublicKey,
      repo: world.repo.dir,
      nonce: p.nonce,
      expectKeys: [world.keys.source, world.keys.wrap, world.keys.sign],
    });
    const r = await runCli(args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^VERIFIED \(8 passed, 0 failed, 0 skipped\)$/m);

    // Without --expect-key the manifest at the commit names the source and wrap keys, but not the
    // signing key: that is a missing binding (exit 2 naming it), and with --partial check 8 is skipped.
    const noExpect = args.filter((a, i) => a !== '--expect-key' && args[i - 1] !== '--expect-key');
    const strict = await runCli(noExpect);
    expect(strict.code).toBe(2);
    expect(strict.stderr).toContain(`--expect-key for the sign key ${world.keys.sign}`);
    const { code, report } = await runCliJson([...noExpect, '--partial']);
    expect(code).toBe(0);
    expect(report.verdict).toBe('partial');
    expect(report.checks[7]!.status).toBe('skipped');
    expect(report.checks[7]!.evidence).toContain('clef.yaml');
    expect(report.checks[7]!.evidence).toContain(`sign ${world.keys.sign}`);
  });

  it('an age identity, KMS-signed: all eight checks pass, age recipients compared with clef.yaml and with --expect-key', async () => {
    const p = await pack('worker', 'dev', { options: { signing: 'kms' } });
    const kmsPublicKey = await signingPublicKeyFile();
    const recipient = await identityToRecipient(world.ageIdentity);
    const base = { receipt: p.receipt, root: join(dir, 'root.pem'), measurements: join(dir, 'measurements.json'), artifact: p.artifact, kmsPublicKey, repo: world.repo.dir, nonce: p.nonce };
    const { code, report } = await runCliJson(verifyArgs({ ...base, expectKeys: [world.keys.source, recipient, world.keys.sign] }));
    expect(code).toBe(0);
    expect(report.verdict).toBe('verified');
    expect(report.checks.map((c) => c.status)).toEqual(['pass', 'pass', 'pass', 'pass', 'pass', 'pass', 'pass', 'pass']);
    // --expect-key takes age recipients: another recipient fails check 8 naming the one used.
    const other = await identityToRecipient(await generateIdentity());
    const wrong = await runCliJson(verifyArgs({ ...base, expectKeys: [world.keys.source, other, world.keys.sign] }));
    expect(wrong.code).toBe(1);
    expect(wrong.report.checks[7]).toMatchObject({ status: 'fail', code: 'KEY_NOT_EXPECTED' });
    expect(wrong.report.checks[7]!.evidence).toContain(`age recipient key ${recipient}`);
    // Without --expect-key the manifest names the recipients (the sign key it cannot: --partial).
    const partial = await runCliJson([...verifyArgs(base), '--partial']);
    expect(partial.code).toBe(0);
    expect(partial.report.checks[7]!.evidence).toContain('age recipients are the ones clef.yaml names');
  });

  it('the key policy KMS enforces names the image that ran (--policy); another image does not', async () => {
    const p = await pack('api-gateway', 'production');
    const policy = await world.admin.send(new GetKeyPolicyCommand({ KeyId: world.keys.source, PolicyName: 'default' }));
    const policyFile = join(dir, 'source-key-policy.json');
    await writeFile(policyFile, JSON.stringify({ Policy: policy.Policy, PolicyName: 'default' }));
    const ok = await runCliJson([p.receipt, '--root', join(dir, 'root.pem'), '--policy', policyFile, '--partial']);
    expect(ok.code).toBe(0);
    expect(ok.report.checks[1]!.status).toBe('pass');
    expect(ok.report.checks[1]!.evidence).toContain(`key policy ${policyFile}`);

    const other = randomMeasurements();
    const otherFile = join(dir, 'other-measurements.json');
    await writeFile(otherFile, JSON.stringify(other));
    const bad = await runCliJson([p.receipt, '--root', join(dir, 'root.pem'), '--measurements', otherFile, '--partial']);
    expect(bad.code).toBe(1);
    expect(bad.report.checks[1]!.evidence).toMatch(/PCR0 differs.*PCR1 differs.*PCR2 differs/);
  });
});
