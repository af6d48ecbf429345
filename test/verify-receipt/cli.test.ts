import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createPublicKey } from 'node:crypto';
import { makePackFixture, SEAL_KEY, SOURCE_KEY, WRAP_KEY, type PackFixture } from './helpers/pack-fixture.js';
import { runCli, runCliJson, statusOf } from './helpers/run-cli.js';
import { awsVectorReceipt } from './helpers/aws-vector.js';
import { receiptDocumentTimestamp, serializeReceipt } from '../../attestation/receipt.js';
import type { VerificationReport } from '../../verify-receipt/report.js';
import { keyPolicy } from './helpers/key-policy.js';

let f: PackFixture;

beforeAll(async () => {
  f = await makePackFixture();
});
afterAll(async () => {
  await f.cleanup();
});

describe('verify-receipt: the honest receipt', () => {
  it('verifies with every input: exit 0, all eight checks pass', async () => {
    const r = await runCli(f.cliArgs());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => /^[✔✘—] \d /.test(l));
    expect(lines).toHaveLength(8);
    expect(lines.every((l) => l.startsWith('✔'))).toBe(true);
    expect(r.stdout).toMatch(/^VERIFIED \(8 passed, 0 failed, 0 skipped\)$/m);
  });

  it('--partial with every binding given is still VERIFIED (it only allows less, never claims less)', async () => {
    const { code, report } = await runCliJson([...f.cliArgs(), '--partial']);
    expect(code).toBe(0);
    expect(report).toMatchObject({ ok: true, verdict: 'verified', missing: [] });
  });

  it('--json lists every check with status and evidence', async () => {
    const { code, report } = await runCliJson(f.cliArgs());
    expect(code).toBe(0);
    expect(report).toMatchObject({ ok: true, verdict: 'verified', counts: { pass: 8, fail: 0, skipped: 0 } });
    expect(report.checks.map((c) => [c.id, c.name])).toEqual([
      [1, 'attestation'],
      [2, 'measurements'],
      [3, 'debug-mode'],
      [4, 'claims-binding'],
      [5, 'nonce'],
      [6, 'artifact'],
      [7, 'repository'],
      [8, 'keys'],
    ]);
    for (const c of report.checks) {
      expect(c.status).toBe('pass');
      expect(typeof c.evidence).toBe('string');
      expect(c.evidence.length).toBeGreaterThan(10);
    }
    expect(report.receipt).toMatchObject({ identity: 'api-gateway', environment: 'production', commit: f.commit, clock: { source: 'system' } });
    expect(typeof report.receipt.ageMs).toBe('number');
    expect(report.receipt.documentTime).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(report.checks[6]!.details).toMatchObject({ commit: f.commit, missing: [], extra: [] });
  });

  it('without source, artifact and signer bindings: exit 2 naming each missing flag, no verdict', async () => {
    const r = await runCli([f.paths.receipt, '--root', f.paths.root, '--measurements', f.paths.measurements]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error \[USAGE\]: not enough to verify this receipt: missing --repo DIR: .*; --artifact FILE.*; --verify-key SPKI or --kms-public-key FILE.*; --expect-key \(or --repo\)/);
    expect(r.stderr).toMatch(/^hint: .*--partial/m);
    // One binding missing is enough to refuse, and it is the one named.
    const noSigner = await runCli([f.paths.receipt, '--root', f.paths.root, '--measurements', f.paths.measurements, '--artifact', f.paths.artifact, '--repo', f.repoDir, '--expect-key', SOURCE_KEY, '--expect-key', WRAP_KEY, '--expect-key', SEAL_KEY]);
    expect(noSigner.code).toBe(2);
    expect(noSigner.stderr).toContain('missing --verify-key SPKI or --kms-public-key FILE');
    expect(noSigner.stderr).not.toContain('--artifact FILE');
  });

  it('--partial reports checks without their input as skipped (—), never passed, and the verdict is PARTIAL', async () => {
    const { code, report } = await runCliJson([f.paths.receipt, '--root', f.paths.root, '--measurements', f.paths.measurements, '--partial']);
    expect(code).toBe(0);
    expect(report).toMatchObject({ ok: false, verdict: 'partial' });
    expect(report.missing.join(' ')).toMatch(/--repo.*--artifact.*--verify-key/);
    expect(report.checks.map((c) => c.status)).toEqual(['pass', 'pass', 'pass', 'pass', 'skipped', 'skipped', 'skipped', 'skipped']);
    expect(report.counts).toEqual({ pass: 4, fail: 0, skipped: 4 });
    const human = await runCli([f.paths.receipt, '--root', f.paths.root, '--measurements', f.paths.measurements, '--partial']);
    expect(human.stdout).toMatch(/^— 6 artifact +no --artifact given$/m);
    expect(human.stdout).toMatch(/^PARTIAL \(4 passed, 0 failed, 4 skipped; not bound, so not verified: --repo/m);
    expect(human.stdout).not.toMatch(/^VERIFIED/m);
  });

  it('--artifact without a key: check 6 is skipped (—), not ✔, and says the signature is not checked', async () => {
    const args = [f.paths.receipt, '--root', f.paths.root, '--measurements', f.paths.measurements, '--artifact', f.paths.artifact];
    expect((await runCli(args)).code).toBe(2);
    const { report } = await runCliJson([...args, '--partial']);
    const six = report.checks[5]!;
    expect(six.status).toBe('skipped');
    expect(six.evidence).toContain('the signature is not checked');
    expect(six.details).toMatchObject({ signature: 'skipped' });
    const human = await runCli([...args, '--partial']);
    expect(human.stdout).toMatch(/^— 6 artifact +sha256 .* = claim; ciphertextHash holds; but the signature is not checked/m);
    expect(human.stdout).not.toMatch(/^✔ 6/m);
  });

  it('uses the KMS ARNs clef.yaml names when no --expect-key is given; the seal key it does not name keeps check 8 from passing', async () => {
    const { report } = await runCliJson([f.paths.receipt, '--root', f.paths.root, '--measurements', f.paths.measurements, '--repo', f.repoDir, '--partial']);
    const eight = report.checks[7]!;
    expect(eight.status).toBe('skipped');
    expect(eight.evidence).toContain('are the ones clef.yaml names');
    expect(eight.evidence).toContain(`seal ${SEAL_KEY} not named by clef.yaml, not checked (pass --expect-key)`);
    expect(eight.details).toMatchObject({ unchecked: [`seal ${SEAL_KEY}`] });
    // Without --partial, every other binding given: exit 2 naming the seal key.
    const strict = await runCli([f.paths.receipt, '--root', f.paths.root, '--measurements', f.paths.measurements, '--repo', f.repoDir, '--artifact', f.paths.artifact, '--verify-key', f.verifyKey]);
    expect(strict.code).toBe(2);
    expect(strict.stderr).toContain(`missing --expect-key for the seal key ${SEAL_KEY}`);
  });

  it('accepts PCR flags and a key policy as the expected measurements', async () => {
    const flags = await runCli([f.paths.receipt, '--root', f.paths.root, '--pcr0', f.pcrs[0].toUpperCase(), '--pcr1', f.pcrs[1], '--pcr2', f.pcrs[2], '--partial']);
    expect(flags.code).toBe(0);
    expect(flags.stdout).toContain('equal --pcr flags');
    const policy = join(f.dir, 'policy-ok.json');
    await writeFile(policy, JSON.stringify(keyPolicy(f.pcrs[0], f.pcrs[1], f.pcrs[2])));
    const viaPolicy = await runCliJson([f.paths.receipt, '--root', f.paths.root, '--policy', policy, '--partial']);
    expect(viaPolicy.code).toBe(0);
    expect(viaPolicy.report.checks[1]!.evidence).toContain(`key policy ${policy}`);
    // `aws kms get-key-policy` output wraps the document in a string.
    const wrapped = join(f.dir, 'policy-wrapped.json');
    await writeFile(wrapped, JSON.stringify({ Policy: JSON.stringify(keyPolicy(f.pcrs[0], f.pcrs[1], f.pcrs[2])), PolicyName: 'default' }));
    expect((await runCli([f.paths.receipt, '--root', f.paths.root, '--policy', wrapped, '--partial'])).code).toBe(0);
    // Strict, with every binding: VERIFIED against the policy.
    const strict = await runCli(f.cliArgs(undefined, []).map((a) => (a === f.paths.measurements ? policy : a)).map((a) => (a === '--measurements' ? '--policy' : a)));
    expect(strict.code).toBe(0);
    expect(strict.stdout).toMatch(/^VERIFIED \(8 passed/m);
  });

  it('accepts the verify key as a file (DER, PEM, base64, get-public-key JSON)', async () => {
    const der = Buffer.from(f.verifyKey, 'base64');
    const pem = createPublicKey({ key: der, format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' }).toString();
    const variants: Array<[string, string | Buffer]> = [
      ['key.der', der],
      ['key.pem', pem],
      ['key.b64', f.verifyKey + '\n'],
      ['key.json', JSON.stringify({ KeyId: WRAP_KEY, PublicKey: f.verifyKey, KeySpec: 'ECC_NIST_P256' })],
    ];
    for (const [name, content] of variants) {
      const p = join(f.dir, name);
      await writeFile(p, content);
      const { code, report } = await runCliJson([f.paths.receipt, '--root', f.paths.root, '--measurements', f.paths.measurements, '--artifact', f.paths.artifact, '--kms-public-key', p, '--partial']);
      expect([name, code]).toEqual([name, 0]);
      expect(report.checks[5]!.evidence).toContain(`--kms-public-key ${p}`);
    }
  });

  it('states the receipt age against --at', async () => {
    const at = new Date(receiptDocumentTimestamp(f.receipt) + 90 * 60_000).toISOString();
    const { report } = await runCliJson([...f.cliArgs(), '--at', at]);
    expect(report.receipt.clock).toEqual({ now: at, source: '--at' });
    expect(report.receipt.age).toBe('1h 30m');
    expect(report.receipt.ageMs).toBe(90 * 60_000);
  });

  it('checks --commit against the receipt', async () => {
    expect((await runCli(f.cliArgs(undefined, ['--commit', f.commit.slice(0, 10)]))).code).toBe(0);
    const wrong = await runCliJson(f.cliArgs(undefined, ['--commit', 'deadbeef']));
    expect(wrong.code).toBe(1);
    expect(statusOf(wrong.report, 7)).toBe('fail');
    const noRepo = await runCliJson([f.paths.receipt, '--root', f.paths.root, '--measurements', f.paths.measurements, '--commit', 'deadbeef', '--partial']);
    expect(statusOf(noRepo.report, 7)).toBe('fail');
    // --commit alone does not bind the source: the commit is what the host claims, and without --repo
    // nothing compares the inputs with it. VERIFIED is refused (exit 2 naming --repo); PARTIAL shows check 7 skipped.
    const commitOnly = [f.paths.receipt, '--root', f.paths.root, '--measurements', f.paths.measurements, '--commit', f.commit, '--artifact', f.paths.artifact, '--verify-key', f.verifyKey, '--expect-key', SOURCE_KEY, '--expect-key', WRAP_KEY, '--expect-key', SEAL_KEY];
    const refused = await runCli(commitOnly);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^error \[USAGE\]: not enough to verify this receipt: missing --repo DIR: binds the receipt to your source/);
    const partial = await runCliJson([...commitOnly, '--partial']);
    expect(partial.code).toBe(0);
    expect(partial.report.verdict).toBe('partial');
    expect(partial.report.checks[6]).toMatchObject({ status: 'skipped' });
    expect(partial.report.checks[6]!.evidence).toContain('equals --commit and the manifest is clef.yaml, but the input blobs were not compared with that commit (no --repo given)');
  });
});

describe('verify-receipt: exit 1 when a check fails', () => {
  it('fails check 5 for another nonce', async () => {
    const { code, report } = await runCliJson(f.cliArgs(undefined, ['--nonce', 'ab'.repeat(32)]));
    expect(code).toBe(1);
    expect(report).toMatchObject({ ok: false, verdict: 'failed' });
    expect(report.checks[4]).toMatchObject({ status: 'fail', code: 'RECEIPT_NONCE_MISMATCH' });
  });

  it('fails check 8 for a key that is not expected', async () => {
    const { code, report } = await runCliJson([f.paths.receipt, '--root', f.paths.root, '--measurements', f.paths.measurements, '--expect-key', SOURCE_KEY, '--expect-key', WRAP_KEY, '--partial']);
    expect(code).toBe(1);
    expect(report.checks[7]).toMatchObject({ status: 'fail', code: 'KEY_NOT_EXPECTED' });
    expect(report.checks[7]!.evidence).toContain(SEAL_KEY);
  });

  it('fails check 6 for a different verify key or an altered artifact', async () => {
    const other = 'MCowBQYDK2VwAyEAIVL40Zt5HSRFMkLhXy6rbLfP+ntqXtMAl5YOBpiB2xI=';
    const wrongKey = await runCliJson([f.paths.receipt, '--root', f.paths.root, '--measurements', f.paths.measurements, '--artifact', f.paths.artifact, '--verify-key', other, '--partial']);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.report.checks[5]).toMatchObject({ status: 'fail', code: 'CLEF_SIGNATURE_INVALID' });
    const altered = join(f.dir, 'altered.json');
    await writeFile(altered, Buffer.concat([Buffer.from(f.artifact.bytes), Buffer.from('\n')]));
    const r = await runCliJson([f.paths.receipt, '--root', f.paths.root, '--measurements', f.paths.measurements, '--artifact', altered, '--partial']);
    expect(r.code).toBe(1);
    expect(r.report.checks[5]!.evidence).toContain('the receipt claims');
  });

  it('fails check 1 under the AWS root (a simulated receipt is not an AWS one)', async () => {
    const { code, report } = await runCliJson([f.paths.receipt, '--measurements', f.paths.measurements, '--partial']);
    expect(code).toBe(1);
    expect(report.checks[0]).toMatchObject({ status: 'fail', code: 'ATTESTATION_UNTRUSTED_ROOT' });
    // Nothing from an unverified document is reported as a pass.
    expect(report.checks.slice(1, 5).map((c) => c.status)).toEqual(['skipped', 'skipped', 'skipped', 'skipped']);
  });

  it('refuses a debug-mode document unless --allow-debug', async () => {
    const claims = structuredClone(f.claims);
    const debug = await f.attestClaims(claims, { pcrs: {} });
    const p = await f.writeReceipt(debug);
    const zeros = '0'.repeat(96);
    const args = [p, '--root', f.paths.root, '--pcr0', zeros, '--pcr1', zeros, '--pcr2', zeros, '--partial'];
    const refused = await runCliJson(args);
    expect(refused.code).toBe(1);
    expect(refused.report.checks[2]).toMatchObject({ status: 'fail', code: 'ATTESTATION_DEBUG_MODE' });
    const allowed = await runCliJson([...args, '--allow-debug']);
    expect(allowed.code).toBe(0);
    expect(allowed.report.checks[2]!.evidence).toContain('--allow-debug');
  });
});

describe('verify-receipt: exit 2 for usage and unreadable input', () => {
  it('no expected measurements → exit 2 with a hint, never a pass', async () => {
    const r = await runCli([f.paths.receipt, '--root', f.paths.root, '--artifact', f.paths.artifact, '--repo', f.repoDir]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error \[VERIFY_NO_EXPECTED_MEASUREMENTS\]: /);
    expect(r.stderr).toMatch(/^hint: .*--measurements/m);
    const json = await runCli([f.paths.receipt, '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { code: 'VERIFY_NO_EXPECTED_MEASUREMENTS' } });
  });

  it('a policy that pins no measurements → exit 2', async () => {
    const p = join(f.dir, 'policy-none.json');
    await writeFile(p, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111111111111:root' }, Action: 'kms:*', Resource: '*' }] }));
    const r = await runCli([f.paths.receipt, '--policy', p]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('VERIFY_NO_EXPECTED_MEASUREMENTS');
  });

  it('a malformed receipt → exit 2 naming what is wrong', async () => {
    const notJson = await f.writeReceipt('{"receiptVersion": 1, "claims": ');
    const r1 = await runCli([notJson, '--measurements', f.paths.measurements]);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/^error \[RECEIPT_MALFORMED\]: receipt \$: not valid JSON/);
    const edited = JSON.parse(serializeReceipt(f.receipt)) as { claims: Record<string, unknown> };
    edited.claims.comment = 'added later';
    const r2 = await runCli([await f.writeReceipt(JSON.stringify(edited)), '--measurements', f.paths.measurements]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('receipt $.claims.comment: unknown field');
    const v2 = await runCli([await f.writeReceipt(JSON.stringify({ ...JSON.parse(serializeReceipt(f.receipt)), receiptVersion: 2 })), '--measurements', f.paths.measurements]);
    expect(v2.code).toBe(2);
    expect(v2.stderr).toContain('RECEIPT_VERSION');
  });

  it.each([
    ['a missing receipt file', (x: PackFixture) => [join(x.dir, 'nope.json'), '--measurements', x.paths.measurements], 'VERIFY_INPUT_UNREADABLE'],
    ['a missing measurements file', (x: PackFixture) => [x.paths.receipt, '--measurements', join(x.dir, 'nope.json')], 'VERIFY_INPUT_UNREADABLE'],
    ['a bad measurements file', (x: PackFixture) => [x.paths.receipt, '--measurements', x.paths.receipt], 'MEASUREMENTS_INVALID'],
    ['two measurement sources', (x: PackFixture) => [x.paths.receipt, '--measurements', x.paths.measurements, '--pcr0', x.pcrs[0]], 'USAGE'],
    ['a short --pcr0', (x: PackFixture) => [x.paths.receipt, '--pcr0', 'abcd'], 'USAGE'],
    ['an unknown flag', (x: PackFixture) => [x.paths.receipt, '--pcr5', 'ab', '--measurements', x.paths.measurements], 'USAGE'],
    ['no receipt argument', (x: PackFixture) => ['--measurements', x.paths.measurements], 'USAGE'],
    ['a bad --max-age', (x: PackFixture) => [x.paths.receipt, '--measurements', x.paths.measurements, '--max-age', '1 month'], 'USAGE'],
    ['a bad --at', (x: PackFixture) => [x.paths.receipt, '--measurements', x.paths.measurements, '--at', 'yesterday'], 'USAGE'],
    ['a bad --nonce', (x: PackFixture) => [x.paths.receipt, '--measurements', x.paths.measurements, '--nonce', 'xyz'], 'USAGE'],
    ['a bad --expect-key', (x: PackFixture) => [x.paths.receipt, '--measurements', x.paths.measurements, '--expect-key', 'key-1'], 'USAGE'],
    ['a bad --commit', (x: PackFixture) => [x.paths.receipt, '--measurements', x.paths.measurements, '--commit', 'main'], 'USAGE'],
    ['a bad --verify-key', (x: PackFixture) => [x.paths.receipt, '--measurements', x.paths.measurements, '--artifact', x.paths.artifact, '--verify-key', 'AAAA'], 'CLEF_VERIFY_KEY_INVALID'],
    ['a verify key without --artifact', (x: PackFixture) => [x.paths.receipt, '--measurements', x.paths.measurements, '--verify-key', x.verifyKey], 'USAGE'],
    ['a --root that is not a certificate', (x: PackFixture) => [x.paths.receipt, '--measurements', x.paths.measurements, '--root', x.paths.measurements], 'ATTESTATION_BAD_TRUSTED_ROOT'],
    ['a --repo that is not a repository', (x: PackFixture) => [x.paths.receipt, '--measurements', x.paths.measurements, '--repo', x.dir, '--partial'], 'VERIFY_REPO_INVALID'],
    ['a bad --manifest', (x: PackFixture) => [...x.cliArgs(), '--manifest', '../clef.yaml'], 'USAGE'],
    ['a bad --parent-role-arn', (x: PackFixture) => [...x.cliArgs(), '--parent-role-arn', 'arn:aws:sts::111111111111:assumed-role/parent/i-0'], 'USAGE'],
    ['--pcr3 without an image source', (x: PackFixture) => [x.paths.receipt, '--pcr3', 'ab'.repeat(48)], 'VERIFY_NO_EXPECTED_MEASUREMENTS'],
  ])('%s → exit 2', async (_what, args, code) => {
    const r = await runCli(args(f));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^error \\[${code}\\]: `));
    expect(r.stdout).toBe('');
  });

  it('--help prints usage and exits 0', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: verify-receipt');
    expect(r.stdout).toContain('Exit codes: 0 verified (or PARTIAL with --partial: nothing failed, some bindings not given), 1 a check failed');
  });
});

describe('verify-receipt: colour only on a terminal', () => {
  const ESC = '\x1b[';
  it('prints no escape codes when stdout is not a TTY', async () => {
    const ok = await runCli(f.cliArgs(), { isTty: false });
    const bad = await runCli([f.paths.receipt, '--measurements', f.paths.measurements], { isTty: false });
    expect(ok.stdout).not.toContain(ESC);
    expect(bad.stdout).not.toContain(ESC);
    expect(ok.stdout).toContain('✔ 1 attestation');
  });

  it('colours status lines on a TTY (unless NO_COLOR), and never in --json', async () => {
    const saved = process.env.NO_COLOR;
    delete process.env.NO_COLOR;
    try {
      const tty = await runCli(f.cliArgs(), { isTty: true });
      expect(tty.stdout).toContain(`${ESC}32m✔ 1 attestation`);
      const json = await runCli([...f.cliArgs(), '--json'], { isTty: true });
      expect(json.stdout).not.toContain(ESC);
      process.env.NO_COLOR = '1';
      expect((await runCli(f.cliArgs(), { isTty: true })).stdout).not.toContain(ESC);
    } finally {
      if (saved === undefined) delete process.env.NO_COLOR;
      else process.env.NO_COLOR = saved;
    }
  });
});

describe('verify-receipt: a receipt around a genuine AWS document', () => {
  it('passes check 1 at its own time with the pinned AWS root, and fails check 4', async () => {
    const v = awsVectorReceipt();
    const p = await f.writeReceipt(v.receipt, 'aws-receipt.json');
    const pcrFlags = [0, 1, 2, 8].flatMap((i) => [`--pcr${i}`, v.pcrs[i]!]);
    const { code, report } = await runCliJson([p, ...pcrFlags, '--partial']);
    expect(code).toBe(1);
    const byId = (id: number): VerificationReport['checks'][number] => report.checks.find((c) => c.id === id)!;
    expect(byId(1).status).toBe('pass');
    expect(byId(1).evidence).toContain('CN=aws.nitro-enclaves');
    expect(byId(1).details).toMatchObject({ rootSha256: '641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b' });
    expect(byId(2).status).toBe('pass');
    expect(byId(3).status).toBe('pass');
    expect(byId(4)).toMatchObject({ status: 'fail', code: 'RECEIPT_BINDING_MISMATCH' });
    expect(byId(5).status).toBe('skipped');
    expect(report.receipt.documentTime).toBe(new Date(v.timestamp).toISOString());
  });
});

describe('verify-receipt: old receipts', () => {
  const past = Date.parse('2020-02-03T04:05:06.000Z');
  let old: PackFixture;
  beforeAll(async () => {
    old = await makePackFixture({ now: () => past });
  });
  afterAll(async () => {
    await old.cleanup();
  });

  it('verify years after the leaf expired (chain at document time)', async () => {
    const { code, report } = await runCliJson(old.cliArgs());
    expect(code).toBe(0);
    // The strict invocation: a v1 receipt names its manifest in inputs[role=manifest]; the default clef.yaml matches.
    expect(report).toMatchObject({ verdict: 'verified', missing: [] });
    expect(report.checks[6]!.evidence).toContain('clef.yaml scopes');
    expect(report.receipt.documentTime).toBe('2020-02-03T04:05:06.000Z');
    expect(report.checks[0]!.evidence).toContain('valid at document time 2020-02-03T04:05:06.000Z');
    expect(report.receipt.ageMs!).toBeGreaterThan(365 * 24 * 3_600_000);
  });

  it('fail --max-age 1h with a clear reason', async () => {
    const r = await runCli(old.cliArgs(undefined, ['--max-age', '1h']));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^✘ 1 attestation .*valid at document time 2020-02-03T04:05:06\.000Z, but attested \d+d( \d+[hms]){0,2} before now, older than --max-age 1h \[ATTESTATION_STALE\]$/m);
    const { report } = await runCliJson(old.cliArgs(undefined, ['--max-age', 'PT1H']));
    expect(report.checks[0]).toMatchObject({ status: 'fail', code: 'ATTESTATION_STALE' });
    // The document is genuine, so the other checks still run and pass.
    expect(report.checks.slice(1).every((c) => c.status === 'pass')).toBe(true);
  });

  it('pass --max-age when --at puts the clock within it', async () => {
    const at = new Date(past + 30 * 60_000).toISOString();
    expect((await runCli(old.cliArgs(undefined, ['--max-age', '1h', '--at', at]))).code).toBe(0);
    const before = new Date(past - 3_600_000).toISOString();
    const { code, report } = await runCliJson(old.cliArgs(undefined, ['--at', before]));
    expect(code).toBe(1);
    expect(report.checks[0]).toMatchObject({ status: 'fail', code: 'ATTESTATION_FUTURE_TIMESTAMP' });
  });
});
