/**
 * The deployment path end to end, with real parts: a deploy file naming the KMS simulator's keys
 * → deploy render → the image built with the rendered /cmd → deploy render (policies pinned to
 * that build, PCR3 from the parent role) → the policies put on the simulator's keys with the real
 * SDK → a pack by the pack pipeline whose simulated NSM reports that image's PCRs → verify-receipt
 * --expect expectations.json → VERIFIED. Then the same file with one pinned value changed and the
 * image rebuilt from it: KMS refuses the old image (its PCR2 no longer matches), and the old
 * receipt fails against the new expectations naming PCR2.
 *
 * The pack runs in-process (the pipeline the enclave runs, with the simulator's KMS and NSM), not
 * through `attested-pack sim`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetPublicKeyCommand, PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { identityToRecipient } from 'age-encryption';
import { pcr3ForRoleArn } from '../../attestation/index.js';
import { parseMeasurements, type Measurements } from '../../common/measurements.js';
import { parseDeployFile } from '../../deploy/file.js';
import { deployKeys, serveArgs } from '../../deploy/render.js';
import { runPack, type AttestPort, type PackPorts } from '../../enclave-app/pack/pipeline.js';
import { RecipientKeyRing } from '../../enclave-app/pack/recipient-keys.js';
import { DEMO_ACCOUNT_ID, DEMO_ENCLAVE_ROLE_ARN, DEMO_RUNTIME_ROLE_ARN } from '../../simulator/kms/demo.js';
import { ADMIN, createWorld, type World } from '../enclave-app/pack/world.js';
import { runCli, runCliJson, statusOf } from '../verify-receipt/helpers/run-cli.js';
import { runAttestedPack, yamlOf } from './helpers.js';

let world: World;
let dir: string;
let bundle: string;
const keys = new RecipientKeyRing();

async function deployDocFor(w: World): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any -- varied below
  const pub = await w.runtime.send(new GetPublicKeyCommand({ KeyId: w.keys.sign }));
  const age = await identityToRecipient(w.ageIdentity);
  return {
    deployVersion: 1,
    account: DEMO_ACCOUNT_ID,
    region: 'us-east-1',
    parentRoleArn: DEMO_ENCLAVE_ROLE_ARN,
    admins: [ADMIN.principalArn],
    repository: 'example/demo',
    enclave: { cpus: 2, memoryMiB: 4096 },
    keys: { source: [w.keys.source], wrap: [w.keys.wrap], sign: w.keys.sign },
    signer: { publicKey: Buffer.from(pub.PublicKey!).toString('base64') },
    cells: [
      { identity: 'api-gateway', environment: 'dev', envelope: { kmsKey: w.keys.wrap } },
      { identity: 'api-gateway', environment: 'production', envelope: { kmsKey: w.keys.wrap } },
      { identity: 'worker', environment: 'dev', envelope: { ageRecipients: [age] } },
    ],
    access: { tokens: [{ name: 'ci', sha256: 'b'.repeat(64), identities: ['*'], environments: ['*'] }] },
    runtimeRoles: [DEMO_RUNTIME_ROLE_ARN],
    encryptors: { source: [ADMIN.principalArn] },
  };
}

/** deploy render → build with the rendered /cmd → deploy render; the policies put on the simulator's keys. */
async function deploy(name: string, doc: unknown): Promise<{ out: string; measurements: Measurements }> {
  const file = join(dir, `${name}.deploy.yaml`);
  const out = join(dir, name);
  await writeFile(file, yamlOf(doc));
  expect((await runAttestedPack('deploy', 'render', file, '--out', out)).code).toBe(0);
  const config = parseDeployFile(await readFile(file, 'utf8'));
  const build = await runAttestedPack(
    'eif', 'build', '--bundle', bundle, '--out', join(out, 'image/enclave.eif'), '--measurements', join(out, 'measurements.json'),
    ...serveArgs(config).flatMap((a) => ['--arg', a]), '--synthetic-boot-blobs', '--no-node',
  );
  expect(build.code, build.stderr).toBe(0);
  const r = await runAttestedPack('deploy', 'render', file, '--out', out);
  expect(r.code, r.stderr).toBe(0);
  for (const k of deployKeys(config)) {
    const policy = await readFile(join(out, `policies/${k.name}.json`), 'utf8');
    await world.admin.send(new PutKeyPolicyCommand({ KeyId: k.arn, PolicyName: 'default', Policy: policy }));
  }
  return { out, measurements: parseMeasurements(await readFile(join(out, 'measurements.json'), 'utf8')) };
}

/** The NSM of a parent instance with role DEMO_ENCLAVE_ROLE_ARN running the image measured as `m`. */
function nsmOf(m: Measurements): AttestPort {
  return {
    attest: (r) =>
      world.pki.attest({
        pcrs: { 0: m.PCR0, 1: m.PCR1, 2: m.PCR2, 3: pcr3ForRoleArn(DEMO_ENCLAVE_ROLE_ARN) },
        publicKey: r.publicKey ?? null,
        userData: r.userData ?? null,
        nonce: r.nonce ?? null,
      }),
  };
}

async function pack(m: Measurements, name: string): Promise<{ receipt: string; artifact: string; nonce: string }> {
  const ports: PackPorts = {
    kms: world.kmsConnection().forCredentials(world.enclaveCredentials),
    nsm: nsmOf(m),
    recipientKeys: keys,
    signing: { kmsKeyId: world.keys.sign },
    now: Date.now,
    toolVersion: '0.1.0-test',
    publicKeyCache: new Map(),
  };
  const req = await world.request('api-gateway', 'production', { options: { signing: 'kms' } });
  const out = await runPack(req, ports);
  const receipt = join(dir, `${name}.receipt.json`);
  const artifact = join(dir, `${name}.artifact.json`);
  await writeFile(receipt, out.receipt);
  await writeFile(artifact, out.artifact);
  return { receipt, artifact, nonce: Buffer.from(req.nonce).toString('hex') };
}

let first: { out: string; measurements: Measurements };
let firstPack: { receipt: string; artifact: string; nonce: string };

beforeAll(async () => {
  world = await createWorld();
  dir = await mkdtemp(join(tmpdir(), 'deploy-e2e-'));
  bundle = join(dir, 'enclave.mjs');
  await writeFile(bundle, 'export {};\n');
  await writeFile(join(dir, 'root.pem'), world.pki.rootPem());
  first = await deploy('first', await deployDocFor(world));
  firstPack = await pack(first.measurements, 'first');
}, 90_000);
afterAll(async () => {
  keys.clear();
  await world?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const verify = (p: { receipt: string; artifact: string; nonce: string }, expectations: string, ...extra: string[]) =>
  runCliJson([p.receipt, '--expect', expectations, '--artifact', p.artifact, '--repo', world.repo.dir, '--root', join(dir, 'root.pem'), '--nonce', p.nonce, ...extra]);

describe('render → build → pack → verify-receipt --expect', () => {
  it('is VERIFIED with expectations.json alone standing for PCRs, parent role, manifest, repository, keys and signer', async () => {
    const { code, report } = await verify(firstPack, join(first.out, 'expectations.json'));
    expect(report.checks.filter((c) => c.status !== 'pass')).toEqual([]);
    expect(report.verdict).toBe('verified');
    expect(code).toBe(0);
    expect(report.checks.find((c) => c.id === 2)!.evidence).toContain('--expect');
  });

  it('a pinned value changed and the image rebuilt from it: KMS refuses the old image, and the old receipt fails the new expectations on PCR2', async () => {
    const doc = await deployDocFor(world);
    doc.enclave.listenPort = 5001;
    const second = await deploy('second', doc);
    expect(second.measurements.PCR0).not.toBe(first.measurements.PCR0);
    expect(second.measurements.PCR2).not.toBe(first.measurements.PCR2);
    expect(second.measurements.PCR1).toBe(first.measurements.PCR1);
    // The old image asks KMS with its own PCRs: the re-rendered policies refuse it.
    await expect(pack(first.measurements, 'old-image')).rejects.toMatchObject({ code: 'KMS_ACCESS_DENIED' });
    // The new image packs, and verifies against the new expectations only.
    const p2 = await pack(second.measurements, 'second');
    expect((await verify(p2, join(second.out, 'expectations.json'))).report.verdict).toBe('verified');
    const old = await verify(firstPack, join(second.out, 'expectations.json'));
    expect(old.code).toBe(1);
    expect(statusOf(old.report, 2)).toBe('fail');
    expect(old.report.checks.find((c) => c.id === 2)!.evidence).toMatch(/PCR0|PCR2/);
    // deploy check names the drift of the first directory against the changed file.
    await writeFile(join(dir, 'second-check.deploy.yaml'), yamlOf(doc));
    const drift = await runAttestedPack('deploy', 'check', first.out, '--file', join(dir, 'second-check.deploy.yaml'));
    expect(drift.code).toBe(1);
    expect(drift.stdout).toContain('--listen vsock://ANY:5001 in the deploy file, not in the image');
    // Back to the first image's policies for the tests below.
    await deploy('first', await deployDocFor(world));
  }, 60_000);

  it('a receipt for another repository fails check 7 against the expectations', async () => {
    const e = JSON.parse(await readFile(join(first.out, 'expectations.json'), 'utf8'));
    const other = join(dir, 'other-repo.expectations.json');
    await writeFile(other, JSON.stringify({ ...e, repository: 'example/other' }));
    const { code, report } = await verify(firstPack, other);
    expect(code).toBe(1);
    const c7 = report.checks.find((c) => c.id === 7)!;
    expect(c7.status).toBe('fail');
    expect(c7.evidence).toContain('requested for repository example/demo, not example/other');
  });

  it('a key the expectations do not list fails check 8; another signer fails check 6', async () => {
    const e = JSON.parse(await readFile(join(first.out, 'expectations.json'), 'utf8'));
    const noWrap = join(dir, 'no-wrap.expectations.json');
    await writeFile(noWrap, JSON.stringify({ ...e, keys: e.keys.filter((k: string) => k !== world.keys.wrap) }));
    const r8 = await verify(firstPack, noWrap);
    expect(r8.code).toBe(1);
    expect(statusOf(r8.report, 8)).toBe('fail');
    const { generateKeyPairSync } = await import('node:crypto');
    const otherSigner = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
    const sig = join(dir, 'other-signer.expectations.json');
    await writeFile(sig, JSON.stringify({ ...e, signerPublicKey: otherSigner }));
    const r6 = await verify(firstPack, sig);
    expect(r6.code).toBe(1);
    expect(statusOf(r6.report, 6)).toBe('fail');
  });

  it('--expect refuses the flags it already sets, and malformed expectation files (exit 2)', async () => {
    const both = await runCli([firstPack.receipt, '--expect', join(first.out, 'expectations.json'), '--measurements', join(first.out, 'measurements.json'), '--artifact', firstPack.artifact, '--repo', world.repo.dir]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('already sets what --measurements would');
    const e = JSON.parse(await readFile(join(first.out, 'expectations.json'), 'utf8'));
    for (const [name, doc, want] of [
      ['unknown', { ...e, pcr0: 'x' }, 'pcr0: unknown field'],
      ['short-pcr', { ...e, measurements: { ...e.measurements, PCR2: 'ab' } }, 'measurements.PCR2: expected 96 lower-case hex'],
      ['no-keys', { ...e, keys: [] }, 'keys: expected a non-empty list'],
      ['bad-role', { ...e, parentRoleArn: 'arn:aws:iam::1:user/x' }, '--parent-role-arn'],
    ] as const) {
      const path = join(dir, `${name}.expectations.json`);
      await writeFile(path, JSON.stringify(doc));
      const r = await runCli([firstPack.receipt, '--expect', path, '--artifact', firstPack.artifact, '--repo', world.repo.dir, '--root', join(dir, 'root.pem')]);
      expect(r.code, name).toBe(2);
      expect(r.stderr, name).toContain(want);
    }
  });
});
