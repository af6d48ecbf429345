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
import { runPack, type PackPorts } from '../../enclave-app/pack/pipeline.js';
import { RecipientKeyRing } from '../../enclave-app/pack/recipient-keys.js';
import type { PackRequest } from '../../enclave-app/protocol.js';
import { createWorld, randomMeasurements, type World } from '../enclave-app/pack/world.js';
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

function ports(): PackPorts {
  return {
    kms: world.kmsConnection().forCredentials(world.enclaveCredentials),
    nsm: world.nsmFor(world.measurements),
    recipientKeys: keys,
    signing: { kmsKeyId: world.keys.sign },
    now: Date.now,
    toolVersion: '0.1.0-test',
    publicKeyCache: new Map(),
  };
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

    // Without --expect-key the manifest at the commit names the source and wrap keys.
    const { code, report } = await runCliJson(args.filter((a, i) => a !== '--expect-key' && args[i - 1] !== '--expect-key'));
    expect(code).toBe(0);
    expect(report.checks[7]!.evidence).toContain('clef.yaml');
    expect(report.checks[7]!.evidence).toContain(`sign ${world.keys.sign}`);
  });

  it('an age identity: all eight checks pass, age recipients compared with clef.yaml', async () => {
    const p = await pack('worker', 'dev');
    const { code, report } = await runCliJson(
      verifyArgs({ receipt: p.receipt, root: join(dir, 'root.pem'), measurements: join(dir, 'measurements.json'), artifact: p.artifact, repo: world.repo.dir, nonce: p.nonce }),
    );
    expect(code).toBe(0);
    expect(report.checks.map((c) => c.status)).toEqual(['pass', 'pass', 'pass', 'pass', 'pass', 'pass', 'pass', 'pass']);
    expect(report.checks[7]!.evidence).toContain('age recipients');
  });

  it('the key policy KMS enforces names the image that ran (--policy); another image does not', async () => {
    const p = await pack('api-gateway', 'production');
    const policy = await world.admin.send(new GetKeyPolicyCommand({ KeyId: world.keys.source, PolicyName: 'default' }));
    const policyFile = join(dir, 'source-key-policy.json');
    await writeFile(policyFile, JSON.stringify({ Policy: policy.Policy, PolicyName: 'default' }));
    const ok = await runCliJson([p.receipt, '--root', join(dir, 'root.pem'), '--policy', policyFile]);
    expect(ok.code).toBe(0);
    expect(ok.report.checks[1]!.evidence).toContain(`key policy ${policyFile}`);

    const other = randomMeasurements();
    const otherFile = join(dir, 'other-measurements.json');
    await writeFile(otherFile, JSON.stringify(other));
    const bad = await runCliJson([p.receipt, '--root', join(dir, 'root.pem'), '--measurements', otherFile]);
    expect(bad.code).toBe(1);
    expect(bad.report.checks[1]!.evidence).toMatch(/PCR0 differs.*PCR1 differs.*PCR2 differs/);
  });
});
