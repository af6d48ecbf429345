/**
 * Issue 17, the auditor's side: verify-receipt accepts only what the auditor asked for. Each
 * attack is replayed the way an attacker on the CI runner or the host would (a real pack through
 * the enclave pipeline against the KMS simulator, with the real SDK and the simulated NSM) and
 * then judged by the real CLI:
 * - the caller picks the manifest (archive/clef.yaml pointing production at dev files);
 * - --policy trusted images the policy does not let decrypt (wrong Action, Deny, unattested Allow);
 * - the parent role (PCR3) and instance (PCR4) can be pinned;
 * - `--version`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createDecipheriv } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DecryptCommand, GetKeyPolicyCommand, GetPublicKeyCommand, PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { runPack, type PackPorts } from '../../enclave-app/pack/pipeline.js';
import { RecipientKeyRing } from '../../enclave-app/pack/recipient-keys.js';
import type { PackRequest } from '../../enclave-app/protocol.js';
import { pcr3ForRoleArn, pcr4ForInstanceId } from '../../attestation/pcr.js';
import { DEMO_SECRETS } from '../../simulator/demo-repo.js';
import { createWorld, worldPorts, type World } from '../enclave-app/pack/world.js';
import { makePackFixture, type PackFixture } from './helpers/pack-fixture.js';
import { keyPolicy } from './helpers/key-policy.js';
import { runCli, runCliJson } from './helpers/run-cli.js';

let world: World;
let dir: string;
let signKeyFile: string;
const keys = new RecipientKeyRing();

function git(...args: string[]): string {
  return execFileSync('git', ['-C', world.repo.dir, '-c', 'commit.gpgsign=false', '-c', 'core.hooksPath=/dev/null', ...args], {
    encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 'attacker', GIT_AUTHOR_EMAIL: 'a@example.com', GIT_COMMITTER_NAME: 'attacker', GIT_COMMITTER_EMAIL: 'a@example.com' },
  }).trim();
}

beforeAll(async () => {
  world = await createWorld();
  dir = await mkdtemp(join(tmpdir(), 'vr-expect-'));
  await writeFile(join(dir, 'measurements.json'), JSON.stringify(world.measurements));
  await writeFile(join(dir, 'root.pem'), world.pki.rootPem());
  const pub = await world.runtime.send(new GetPublicKeyCommand({ KeyId: world.keys.sign }));
  signKeyFile = join(dir, 'sign-key.json');
  await writeFile(signKeyFile, JSON.stringify({ KeyId: world.keys.sign, PublicKey: Buffer.from(pub.PublicKey!).toString('base64') }));
});
afterAll(async () => {
  keys.clear();
  await world?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function ports(): PackPorts {
  return worldPorts(world, keys);
}

/** Packs a request and writes receipt and artifact where an auditor would find them. */
async function pack(req: PackRequest, name: string) {
  const out = await runPack(req, ports());
  const receipt = join(dir, `${name}.receipt.json`);
  const artifact = join(dir, `${name}.json`);
  await writeFile(receipt, out.receipt);
  await writeFile(artifact, out.artifact);
  return { receipt, artifact, nonce: Buffer.from(req.nonce).toString('hex') };
}

/** The strict invocation the README shows: bound to source, artifact, signer and keys. */
function strictArgs(p: { receipt: string; artifact: string; nonce: string }, commit: string, measurements = ['--measurements', join(dir, 'measurements.json')]): string[] {
  return [
    p.receipt,
    '--root', join(dir, 'root.pem'),
    ...measurements,
    '--repo', world.repo.dir,
    '--commit', commit,
    '--nonce', p.nonce,
    '--artifact', p.artifact,
    '--kms-public-key', signKeyFile,
    ...[world.keys.source, world.keys.wrap, world.keys.sign].flatMap((k) => ['--expect-key', k]),
  ];
}

/** Clef's runtime: the wrap key (as the runtime role) opens the DEK, AES-256-GCM the payload. */
async function openArtifact(path: string): Promise<Record<string, Record<string, string>>> {
  const a = JSON.parse(await readFile(path, 'utf8')) as { ciphertext: string; envelope: Record<string, string> };
  const dek = await world.runtime.send(new DecryptCommand({ KeyId: a.envelope.keyId, CiphertextBlob: Buffer.from(a.envelope.wrappedKey!, 'base64') }));
  const d = createDecipheriv('aes-256-gcm', Buffer.from(dek.Plaintext!), Buffer.from(a.envelope.iv!, 'base64'));
  d.setAuthTag(Buffer.from(a.envelope.authTag!, 'base64'));
  return JSON.parse(Buffer.concat([d.update(Buffer.from(a.ciphertext, 'base64')), d.final()]).toString('utf8')) as Record<string, Record<string, string>>;
}

describe('item 1: the manifest path is an expectation', () => {
  let attack: { receipt: string; artifact: string; nonce: string };
  let commit: string;

  beforeAll(async () => {
    // The attacker commits archive/clef.yaml whose production cells are copies of the dev files.
    const repo = world.repo.dir;
    const manifest = await readFile(join(repo, 'clef.yaml'), 'utf8');
    await mkdir(join(repo, 'archive'), { recursive: true });
    await writeFile(join(repo, 'archive', 'clef.yaml'), manifest);
    for (const ns of ['payments', 'auth']) {
      const to = join(repo, 'archive', 'secrets', ns, 'production.enc.yaml');
      await mkdir(dirname(to), { recursive: true });
      await copyFile(join(repo, 'secrets', ns, 'dev.enc.yaml'), to);
    }
    git('add', '-A');
    git('commit', '-q', '-m', 'archive old config');
    commit = git('rev-parse', 'HEAD');
    const read = async (p: string) => ({ path: p, content: new Uint8Array(await readFile(join(repo, p))) });
    // …and asks for api-gateway/production with manifest.path = archive/clef.yaml.
    const req = await world.request('api-gateway', 'production', {
      commit,
      manifest: await read('archive/clef.yaml'),
      files: await Promise.all(['archive/secrets/payments/production.enc.yaml', 'archive/secrets/auth/production.enc.yaml'].map(read)),
      options: { signing: 'kms' },
    });
    attack = await pack(req, 'archive-attack');
  });

  it('the enclave packs dev secrets as api-gateway/production (the attack is real)', async () => {
    expect(await openArtifact(attack.artifact)).toEqual({ payments: { ...DEMO_SECRETS.payments!.dev }, auth: { ...DEMO_SECRETS.auth!.dev } });
  });

  it('the strict invocation fails check 7, naming both manifest paths', async () => {
    const { code, report } = await runCliJson(strictArgs(attack, commit));
    expect(code).toBe(1);
    expect(report.verdict).toBe('failed');
    const seven = report.checks[6]!;
    expect(seven).toMatchObject({ status: 'fail', code: 'MANIFEST_PATH_MISMATCH', details: { manifest: 'archive/clef.yaml', expected: 'clef.yaml', expectedFrom: 'default' } });
    expect(seven.evidence).toBe(
      'the pack read manifest archive/clef.yaml, not the default clef.yaml at the repository root (pass --manifest PATH if the repository keeps it elsewhere)',
    );
    // Everything else about the receipt is genuine: only the manifest expectation catches it.
    expect(report.checks.filter((c) => c.status === 'fail').map((c) => c.id)).toEqual([7]);
    const other = await runCliJson([...strictArgs(attack, commit), '--manifest', 'config/clef.yaml']);
    expect(other.report.checks[6]!.evidence).toBe('the pack read manifest archive/clef.yaml, not --manifest config/clef.yaml');
  });

  it('a nested manifest the auditor names with --manifest verifies (paths resolve relative to it)', async () => {
    const r = await runCli([...strictArgs(attack, commit), '--manifest', './archive/clef.yaml']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^✔ 7 repository +commit [0-9a-f]{12}… holds all 3 inputs byte for byte; they are exactly the 2 file\(s\) archive\/clef\.yaml scopes for api-gateway\/production$/m);
    expect(r.stdout).toMatch(/^VERIFIED \(8 passed, 0 failed, 0 skipped\)$/m);
  });

  it('a pack from the root clef.yaml verifies with the default (no --manifest), and fails with --manifest naming another', async () => {
    const honest = await pack(await world.request('api-gateway', 'production', { commit, options: { signing: 'kms' } }), 'root-manifest');
    const ok = await runCli(strictArgs(honest, commit));
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^VERIFIED \(8 passed, 0 failed, 0 skipped\)$/m);
    const bad = await runCliJson([...strictArgs(honest, commit), '--manifest', 'archive/clef.yaml']);
    expect(bad.code).toBe(1);
    expect(bad.report.checks[6]).toMatchObject({ status: 'fail', code: 'MANIFEST_PATH_MISMATCH' });
  });
});

describe('item 2: --policy counts an image only if the KMS evaluator lets it decrypt', () => {
  let p: { receipt: string; artifact: string; nonce: string };
  let enforced: { Version: string; Statement: Array<Record<string, unknown>> };

  beforeAll(async () => {
    p = await pack(await world.request('api-gateway', 'production', { options: { signing: 'kms' } }), 'policy');
    const got = await world.admin.send(new GetKeyPolicyCommand({ KeyId: world.keys.source, PolicyName: 'default' }));
    enforced = JSON.parse(got.Policy!) as typeof enforced;
  });

  const pinning = (s: Record<string, unknown>): boolean => JSON.stringify(s.Condition ?? {}).includes('ImageSha384');
  async function policyFile(name: string, doc: unknown): Promise<string> {
    const file = join(dir, `${name}.policy.json`);
    await writeFile(file, JSON.stringify(doc));
    return file;
  }
  const verify = (file: string) => runCliJson(strictArgs(p, world.repo.commit, ['--policy', file]));

  it('the policy the simulator enforces admits the image that ran: VERIFIED', async () => {
    const { code, report } = await verify(await policyFile('enforced', enforced));
    expect(code).toBe(0);
    expect(report.checks[1]!.evidence).toMatch(/allows kms:Decrypt for arn:aws:sts::\d{12}:assumed-role\/attested-pack-enclave\/verify-receipt with a Recipient carrying this document's PCRs .* and refuses it without one$/);
  });

  it('an image allowed only kms:GenerateDataKey fails check 2', async () => {
    expect(enforced.Statement.filter(pinning).length).toBeGreaterThan(0);
    const doc = { ...enforced, Statement: enforced.Statement.map((s) => (pinning(s) ? { ...s, Action: 'kms:GenerateDataKey' } : s)) };
    const { code, report } = await verify(await policyFile('generate-only', doc));
    expect(code).toBe(1);
    expect(report.checks[1]).toMatchObject({ status: 'fail', code: 'ATTESTATION_PCR_MISMATCH' });
    expect(report.checks[1]!.evidence).toContain('no image-pinning Allow statement lets it call kms:Decrypt');
  });

  it('an image allowed, then denied by ImageSha384, fails check 2 — and the KMS simulator refuses that pack too', async () => {
    const deny = {
      Sid: 'DenyRevokedImage',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEqualsIgnoreCase: { 'kms:RecipientAttestation:ImageSha384': world.measurements.PCR0 } },
    };
    const doc = { ...enforced, Statement: [...enforced.Statement, deny] };
    const { code, report } = await verify(await policyFile('revoked', doc));
    expect(code).toBe(1);
    expect(report.checks[1]).toMatchObject({ status: 'fail', code: 'ATTESTATION_PCR_MISMATCH' });
    expect(report.checks[1]!.evidence).toContain('denied by statement');
    expect(report.checks[1]!.evidence).toContain('"DenyRevokedImage"');

    // Same evaluator: with that policy in force the simulator refuses the enclave's Decrypt.
    await world.admin.send(new PutKeyPolicyCommand({ KeyId: world.keys.source, PolicyName: 'default', Policy: JSON.stringify(doc) }));
    try {
      await expect(runPack(await world.request('api-gateway', 'production'), ports())).rejects.toMatchObject({ code: 'KMS_ACCESS_DENIED' });
    } finally {
      await world.admin.send(new PutKeyPolicyCommand({ KeyId: world.keys.source, PolicyName: 'default', Policy: JSON.stringify(enforced) }));
    }
  });

  it('a policy that also lets the caller decrypt without attestation pins no image for it: check 2 fails', async () => {
    const role = enforced.Statement.find(pinning)!.Principal;
    const open = { Sid: 'Unattested', Effect: 'Allow', Principal: role, Action: 'kms:Decrypt', Resource: '*' };
    // The generated policy's Deny-unless-ImageSha384 statements still refuse an unattested Decrypt: it passes.
    expect((await verify(await policyFile('unattested-denied', { ...enforced, Statement: [...enforced.Statement, open] }))).code).toBe(0);
    // Without them, the extra Allow opens the key to the role without any enclave.
    const noDenies = enforced.Statement.filter((s) => s.Effect !== 'Deny');
    const { code, report } = await verify(await policyFile('unattested', { ...enforced, Statement: [...noDenies, open] }));
    expect(code).toBe(1);
    expect(report.checks[1]!.evidence).toMatch(/lets a caller decrypt without any attestation: arn:\S+ by statement #\d+ "Unattested"; it pins no image/);
  });

  it('an unattested Allow behind a condition the caller meets (encryption context) still opens the key: check 2 fails', async () => {
    const role = enforced.Statement.find(pinning)!.Principal;
    const behindContext = {
      Sid: 'UnattestedWithContext',
      Effect: 'Allow',
      Principal: role,
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEquals: { 'kms:EncryptionContext:app': 'payments' }, StringLike: { 'kms:ViaService': 'kms.*.amazonaws.com' } },
    };
    const noDenies = enforced.Statement.filter((s) => s.Effect !== 'Deny');
    const { code, report } = await verify(await policyFile('unattested-context', { ...enforced, Statement: [...noDenies, behindContext] }));
    expect(code).toBe(1);
    expect(report.checks[1]).toMatchObject({ status: 'fail', code: 'ATTESTATION_PCR_MISMATCH' });
    expect(report.checks[1]!.evidence).toContain('"UnattestedWithContext"');
  });

  it('another principal the policy lets decrypt without attestation defeats the pin, even when the enclave role is pinned: check 2 fails', async () => {
    const other = { Sid: 'OtherRoleUnattested', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:role/someone-else' }, Action: 'kms:Decrypt', Resource: '*' };
    // The generated Denies name only the enclave role: the other role decrypts outside any enclave.
    const { code, report } = await verify(await policyFile('other-role', { ...enforced, Statement: [...enforced.Statement, other] }));
    expect(code).toBe(1);
    expect(report.checks[1]!.evidence).toContain('assumed-role/someone-else/verify-receipt by statement');
    expect(report.checks[1]!.evidence).toContain('"OtherRoleUnattested"');
  });
});

describe('PCR3 (parent role) and PCR4 (parent instance) pins', () => {
  const ROLE = 'arn:aws:iam::111111111111:role/parent';
  const OTHER = 'arn:aws:iam::999999999999:role/parent';
  let f: PackFixture;
  let receipt: string;

  beforeAll(async () => {
    f = await makePackFixture();
    const withRole = await f.attestClaims(f.claims, { pcrs: { ...f.pcrs, 3: pcr3ForRoleArn(ROLE) } });
    receipt = await f.writeReceipt(withRole, 'with-role.json');
  });
  afterAll(async () => {
    await f.cleanup();
  });

  it('the formula is the user guide\'s: SHA384(0^48 ‖ utf8(role ARN)) (worked example from the reference)', () => {
    expect(pcr3ForRoleArn('arn:aws:iam::123456789012:role/Webserver')).toBe(
      '78fce75db17cd4e0a3fb8dad3ad128ca5e77edbb2b2c7f75329dccd99aa5f6ef4fc1f1a452e315b9e98f9e312e6921e6',
    );
  });

  it('--parent-role-arn passes for the role that ran the enclave and fails check 2 for another account\'s', async () => {
    const ok = await runCliJson(f.cliArgs(receipt, ['--parent-role-arn', ROLE]));
    expect(ok.code).toBe(0);
    expect(ok.report.checks[1]!.evidence).toContain(`PCR3 = --parent-role-arn ${ROLE}`);
    const bad = await runCliJson(f.cliArgs(receipt, ['--parent-role-arn', OTHER]));
    expect(bad.code).toBe(1);
    expect(bad.report.checks[1]).toMatchObject({ status: 'fail', code: 'ATTESTATION_PCR_MISMATCH' });
    expect(bad.report.checks[1]!.evidence).toContain(`--parent-role-arn ${OTHER} expects ${pcr3ForRoleArn(OTHER).slice(0, 16)}`);
    // The honest fixture's document has PCR3 = zeros (no instance profile): pinned, it fails.
    expect((await runCliJson(f.cliArgs(undefined, ['--parent-role-arn', ROLE]))).code).toBe(1);
  });

  it('--pcr3 and --pcr4 pin raw values on top of --measurements; --pcr3 must agree with --parent-role-arn', async () => {
    expect((await runCli(f.cliArgs(receipt, ['--pcr3', pcr3ForRoleArn(ROLE)]))).code).toBe(0);
    expect((await runCli(f.cliArgs(receipt, ['--pcr3', pcr3ForRoleArn(OTHER)]))).code).toBe(1);
    expect((await runCli(f.cliArgs(receipt, ['--pcr4', pcr4ForInstanceId(f.pki.instanceId)]))).code).toBe(0);
    const wrong4 = await runCliJson(f.cliArgs(receipt, ['--pcr4', pcr4ForInstanceId('i-0123456789abcdef0')]));
    expect(wrong4.code).toBe(1);
    expect(wrong4.report.checks[1]!.evidence).toMatch(/^PCR4 is [0-9a-f]{16}…, --pcr4 expects/);
    const conflict = await runCli(f.cliArgs(receipt, ['--pcr3', pcr3ForRoleArn(OTHER), '--parent-role-arn', ROLE]));
    expect(conflict.code).toBe(2);
    expect(conflict.stderr).toContain('is not PCR3 of --parent-role-arn');
  });

  it('with --policy, --parent-role-arn is the Decrypt caller: a role the policy does not name fails check 2', async () => {
    const policy = join(f.dir, 'role-policy.json');
    await writeFile(policy, JSON.stringify(keyPolicy(f.pcrs[0], f.pcrs[1], f.pcrs[2])));
    const asPolicy = (extra: string[]) => f.cliArgs(receipt, extra).map((a) => (a === '--measurements' ? '--policy' : a === f.paths.measurements ? policy : a));
    const ok = await runCliJson(asPolicy(['--parent-role-arn', ROLE]));
    expect(ok.code).toBe(0);
    const receiptOther = await f.writeReceipt(await f.attestClaims(f.claims, { pcrs: { ...f.pcrs, 3: pcr3ForRoleArn(OTHER) } }), 'other-role.json');
    const bad = await runCliJson(
      f.cliArgs(receiptOther, ['--parent-role-arn', OTHER]).map((a) => (a === '--measurements' ? '--policy' : a === f.paths.measurements ? policy : a)),
    );
    expect(bad.code).toBe(1);
    expect(bad.report.checks[1]!.evidence).toContain('arn:aws:sts::999999999999:assumed-role/parent/verify-receipt');
  });
});

describe('verify-receipt --version', () => {
  it('prints the tool version and exits 0', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${pkg.version}\n`); // as `attested-pack --version` prints it
  });
});

