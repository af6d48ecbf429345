/**
 * render → build → render again → check, through the real CLI: the build measures exactly the
 * rendered /cmd, the post-build files agree with the measurements, `deploy check` finds no drift
 * on a fresh directory and names it (key by key, flag by flag) after the deploy file changes or a
 * deployed policy is edited; each rendered policy passes `kms-policy check --purpose` for its own
 * purpose and fails for the others where that is meaningful.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile, cp, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseDeployFile } from '../../deploy/file.js';
import { imageCmd, serveArgs } from '../../deploy/render.js';
import { parseProxyConfig } from '../../host-proxy/config.js';
import { parseMeasurements } from '../../common/measurements.js';
import { ADMIN_ROLE, PARENT_ROLE, RUNTIME_ROLE, SIGN, SOURCE, WRAP, SEAL, deployDoc, runAttestedPack, yamlOf } from './helpers.js';

let dir: string;
let out: string;
let file: string;
let bundle: string;

/**
 * Builds an image with exactly the /cmd image/build.sh passes, from a stand-in bundle and synthetic
 * boot blobs (build.sh's locked release build needs AWS's blobs; test/eif-build/pinned-runtime.test.ts
 * covers the locked build itself).
 */
async function build(outDir: string, deployFile: string): Promise<void> {
  const config = parseDeployFile(await readFile(deployFile, 'utf8'));
  const args = ['eif', 'build', '--bundle', bundle, '--out', join(outDir, 'image/enclave.eif'), '--measurements', join(outDir, 'measurements.json'), ...serveArgs(config).flatMap((a) => ['--arg', a]), '--synthetic-boot-blobs', '--no-node'];
  const r = await runAttestedPack(...args);
  expect(r.code, r.stderr).toBe(0);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deploy-render-'));
  out = join(dir, 'out');
  file = join(dir, 'attested-pack.deploy.yaml');
  bundle = join(dir, 'enclave.mjs');
  await writeFile(bundle, 'console.log("stand-in bundle: the measurements cover it and /cmd");\n');
  await writeFile(file, yamlOf(deployDoc()));
  const r1 = await runAttestedPack('deploy', 'render', file, '--out', out);
  expect(r1.code, r1.stderr).toBe(0);
  expect(r1.stdout).toContain('next: sh');
  await build(out, file);
  const r2 = await runAttestedPack('deploy', 'render', file, '--out', out);
  expect(r2.code, r2.stderr).toBe(0);
  expect(r2.stdout).toContain('rendered for PCR0');
}, 60_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('deploy render', () => {
  it('image/cmd.json is the /cmd the build measured (buildInputs.cmd), and build.sh passes exactly those flags', async () => {
    const cmd = JSON.parse(await readFile(join(out, 'image/cmd.json'), 'utf8')) as string[];
    const m = parseMeasurements(await readFile(join(out, 'measurements.json'), 'utf8'));
    expect(m.buildInputs.cmd).toBe(cmd.map((a) => `${a}\n`).join(''));
    expect(cmd.slice(0, 3)).toEqual(['/usr/bin/node', '/app/enclave.mjs', 'serve']);
    // The pins: envelope per cell, source key, sealed signer, listen port, region.
    const joined = cmd.join(' ');
    expect(joined).toContain(`--envelope api-gateway/production=${WRAP}`);
    expect(joined).toContain('--envelope worker/production=age1');
    expect(joined).toContain(`--source-key ${SOURCE}`);
    expect(joined).toContain(`--seal-key ${SEAL} --signer-public-key `);
    expect(joined).toContain('--listen vsock://ANY:5000 --kms-region eu-west-1');
    const script = await readFile(join(out, 'image/build.sh'), 'utf8');
    for (const a of cmd.slice(2)) expect(script).toContain(`--arg '${a}'`);
  });

  it('proxy.yaml is a host-proxy configuration the proxy accepts, with the file\'s access rules', async () => {
    const text = await readFile(join(out, 'proxy.yaml'), 'utf8');
    const cfg = parseProxyConfig(parse(text), { source: 'proxy.yaml' });
    expect(cfg.enclave.url).toBe('vsock://16:5000');
    expect(cfg.auth.githubOidc?.allow[0]).toMatchObject({ repository: 'acme/secrets', repositoryId: '123456789', identities: ['api-gateway', 'worker'] });
    expect(cfg.auth.tokens[0]).toMatchObject({ name: 'ci', repositories: ['acme/secrets'] });
    expect(cfg.relay?.upstream).toBe('kms.eu-west-1.amazonaws.com:443');
    expect(cfg.signing?.sealedKeyFile).toBe('/etc/attested-pack/sealed-signing-key.json');
  });

  it('expectations.json holds the PCRs, parent role, manifest, repository, every key and the signer', async () => {
    const e = JSON.parse(await readFile(join(out, 'expectations.json'), 'utf8'));
    const m = parseMeasurements(await readFile(join(out, 'measurements.json'), 'utf8'));
    expect(e.measurements).toEqual({ PCR0: m.PCR0, PCR1: m.PCR1, PCR2: m.PCR2 });
    expect(e).toMatchObject({ parentRoleArn: PARENT_ROLE, manifestPath: 'clef.yaml', repository: 'acme/secrets', signerPublicKey: deployDoc().signer.publicKey });
    expect(e.keys).toEqual([SOURCE, WRAP, SIGN, SEAL, deployDoc().cells[1].envelope.ageRecipients[0]]);
  });

  it('source and seal policies pin PCR0/1/2 and PCR3 of the parent role; Terraform attaches each policy to its key', async () => {
    const src = JSON.parse(await readFile(join(out, 'policies/source-1.json'), 'utf8'));
    const allow = src.Statement.find((s: { Sid: string }) => s.Sid === 'EnclaveDecryptsOnlyWithAttestation');
    expect(Object.keys(allow.Condition.StringEqualsIgnoreCase).sort()).toEqual(
      ['kms:RecipientAttestation:ImageSha384', 'kms:RecipientAttestation:PCR1', 'kms:RecipientAttestation:PCR2', 'kms:RecipientAttestation:PCR3'].sort(),
    );
    expect(src.Statement[0].Principal.AWS).toBe(ADMIN_ROLE);
    const tf = await readFile(join(out, 'policies/key-policies.tf'), 'utf8');
    for (const [name, arn] of [['source_1', SOURCE], ['wrap_1', WRAP], ['sign', SIGN], ['seal', SEAL]]) {
      expect(tf).toContain(`resource "aws_kms_key_policy" "attested_pack_${name}" {\n  key_id = "${arn}"`);
    }
    const put = await readFile(join(out, 'policies/put-key-policies.sh'), 'utf8');
    expect(put).toContain(`--key-id '${SEAL}' --policy-name default --policy file://seal.json`);
  });

  it('the launch template enables enclaves, names the parent role, sets the allocator and checks the measured EIF', async () => {
    const m = parseMeasurements(await readFile(join(out, 'measurements.json'), 'utf8'));
    const cfn = JSON.parse(await readFile(join(out, 'launch/parent.cfn.json'), 'utf8'));
    const data = cfn.Resources.ParentLaunchTemplate.Properties.LaunchTemplateData;
    expect(data.EnclaveOptions).toEqual({ Enabled: true });
    expect(data.MetadataOptions.HttpTokens).toBe('required');
    expect(cfn.Resources.ParentInstanceProfile.Properties.Roles).toEqual(['attested-pack-parent']);
    const userData: string = data.UserData['Fn::Base64']['Fn::Sub'];
    expect(userData).toContain('memory_mib: 4096\\ncpu_count: 2');
    expect(userData).toContain(`echo '${m.eifSha256}  /opt/attested-pack/enclave.eif' | sha256sum -c -`);
    expect(userData).toContain('nitro-cli run-enclave --eif-path /opt/attested-pack/enclave.eif --cpu-count 2 --memory 4096 --enclave-cid 16');
    expect(cfn.Resources.ParentGroup.UpdatePolicy.AutoScalingRollingUpdate.MinInstancesInService).toEqual({ Ref: 'DesiredCapacity' });
    const tf = await readFile(join(out, 'launch/parent.tf'), 'utf8');
    expect(tf).toContain('enclave_options {\n    enabled = true\n  }');
    expect(tf).toContain('min_healthy_percentage = 100');
    expect(tf).toContain('aws s3 cp ${var.release_uri}/enclave.eif');
  });
});

describe('kms-policy check --purpose on the rendered policies', () => {
  const check = (name: string, purpose: string) =>
    runAttestedPack(
      'kms-policy', 'check', '--policy', join(out, `policies/${name}.json`), '--measurements', join(out, 'measurements.json'),
      '--role-arn', PARENT_ROLE, '--admin-arn', ADMIN_ROLE, '--purpose', purpose, ...(purpose === 'wrap' || purpose === 'sign' ? ['--runtime-role', RUNTIME_ROLE] : []), '--json',
    );
  const table: Array<[string, string, number, string?]> = [
    ['source-1', 'source', 0],
    ['source-1', 'seal', 0],
    ['source-1', 'wrap', 1, 'ENCLAVE_ENCRYPT_DENIED'],
    ['source-1', 'sign', 1, 'ENCLAVE_SIGN_DENIED'],
    ['seal', 'seal', 0],
    ['seal', 'wrap', 1, 'ENCLAVE_ENCRYPT_DENIED'],
    ['wrap-1', 'wrap', 0],
    ['wrap-1', 'source', 1, 'ATTESTED_DECRYPT_DENIED'],
    ['wrap-1', 'seal', 1, 'ATTESTED_DECRYPT_DENIED'],
    ['wrap-1', 'sign', 1, 'ENCLAVE_SIGN_DENIED'],
    ['sign', 'sign', 0],
    ['sign', 'source', 1, 'ATTESTED_DECRYPT_DENIED'],
    ['sign', 'wrap', 1, 'ENCLAVE_ENCRYPT_DENIED'],
  ];
  it.each(table)('%s checked as %s exits %i', async (name, purpose, code, finding) => {
    const r = await check(name, purpose);
    expect(r.code, r.stdout + r.stderr).toBe(code);
    const report = JSON.parse(r.stdout);
    expect(report.purpose).toBe(purpose);
    const errors = report.findings.filter((f: { severity: string }) => f.severity !== 'note').map((f: { code: string }) => f.code);
    if (finding) expect(errors).toContain(finding);
    else expect(errors).toEqual([]);
  });

  it('the purpose checks catch what a wrap or sign policy must not allow', async () => {
    const wrap = JSON.parse(await readFile(join(out, 'policies/wrap-1.json'), 'utf8'));
    wrap.Statement.push({ Sid: 'ParentUnwraps', Effect: 'Allow', Principal: { AWS: PARENT_ROLE }, Action: 'kms:Decrypt', Resource: '*' });
    await writeFile(join(dir, 'wrap-bad.json'), JSON.stringify(wrap));
    const sign = JSON.parse(await readFile(join(out, 'policies/sign.json'), 'utf8'));
    sign.Statement.push({ Sid: 'RuntimeSigns', Effect: 'Allow', Principal: { AWS: RUNTIME_ROLE }, Action: 'kms:Sign', Resource: '*' });
    await writeFile(join(dir, 'sign-bad.json'), JSON.stringify(sign));
    const base = ['--measurements', join(out, 'measurements.json'), '--role-arn', PARENT_ROLE, '--admin-arn', ADMIN_ROLE, '--runtime-role', RUNTIME_ROLE, '--json'];
    const w = await runAttestedPack('kms-policy', 'check', '--policy', join(dir, 'wrap-bad.json'), '--purpose', 'wrap', ...base);
    expect(w.code).toBe(1);
    expect(JSON.parse(w.stdout).findings.map((f: { code: string }) => f.code)).toContain('ENCLAVE_CAN_DECRYPT_ARTIFACTS');
    const s = await runAttestedPack('kms-policy', 'check', '--policy', join(dir, 'sign-bad.json'), '--purpose', 'sign', ...base);
    expect(s.code).toBe(1);
    expect(JSON.parse(s.stdout).findings.map((f: { code: string }) => f.code)).toContain('OTHERS_CAN_SIGN');
    const usage = await runAttestedPack('kms-policy', 'check', '--policy', join(out, 'policies/source-1.json'), '--purpose', 'source', ...base);
    expect(usage.code).toBe(2);
  });
});

describe('deploy check', () => {
  it('a fresh rendering has no drift (exit 0)', async () => {
    const r = await runAttestedPack('deploy', 'check', out, '--file', file, '--json');
    expect(r.code, r.stdout).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ ok: true, built: true, drift: [] });
    expect(report.compared).toContain('policies/seal.json');
  });

  it('a pinned value changed in the deploy file without a rebuild: the image (PCR2) and every derived file are named, flag by flag', async () => {
    const changed = deployDoc();
    changed.enclave.listenPort = 5005;
    const changedFile = join(dir, 'changed.deploy.yaml');
    await writeFile(changedFile, yamlOf(changed));
    const r = await runAttestedPack('deploy', 'check', out, '--file', changedFile, '--json');
    expect(r.code).toBe(1);
    const drift = JSON.parse(r.stdout).drift as Array<{ path: string; kind: string; message: string }>;
    const image = drift.find((d) => d.kind === 'image-not-rebuilt')!;
    expect(image.message).toContain('--listen vsock://ANY:5005 in the deploy file, not in the image');
    expect(image.message).toContain('--listen vsock://ANY:5000 in the image, not in the deploy file');
    // The image first; the files derived from the /cmd and the port (the policies still match the old, measured image).
    expect(drift.map((d) => d.path)).toEqual(['measurements.json', 'image/cmd.json', 'image/build.sh', 'proxy.yaml']);
    // Rendering refuses to write policies for measurements of another /cmd.
    const rr = await runAttestedPack('deploy', 'render', changedFile, '--out', out, '--json');
    expect(rr.code).toBe(1);
    expect(JSON.parse(rr.stdout).error.code).toBe('DEPLOY_NOT_RENDERED');
    // …but it rewrote image/ so the operator can rebuild; the old expectations stay untouched.
    expect(JSON.parse(await readFile(join(out, 'image/cmd.json'), 'utf8'))).toEqual(imageCmd(parseDeployFile(yamlOf(changed))));
    await writeFile(join(out, 'image/cmd.json'), JSON.stringify(imageCmd(parseDeployFile(yamlOf(deployDoc()))), null, 2) + '\n');
    const r2 = await runAttestedPack('deploy', 'render', file, '--out', out);
    expect(r2.code).toBe(0);
  });

  it('a deployed policy edited by hand is reported for its key, statement by statement; a missing and an extra file too', async () => {
    const copy = join(dir, 'copy');
    await cp(out, copy, { recursive: true });
    const policy = JSON.parse(await readFile(join(copy, 'policies/source-1.json'), 'utf8'));
    policy.Statement = policy.Statement.filter((s: { Sid: string }) => s.Sid !== 'DenyEnclaveRoleDecryptUnlessPCR2Matches');
    // As `aws kms get-key-policy` prints it.
    await writeFile(join(copy, 'policies/source-1.json'), JSON.stringify({ Policy: JSON.stringify(policy), PolicyName: 'default' }));
    await unlink(join(copy, 'policies/seal.json'));
    await writeFile(join(copy, 'policies/source-2.json'), '{}');
    const r = await runAttestedPack('deploy', 'check', copy, '--file', file);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`DRIFT [changed] policies/source-1.json (key ${SOURCE}): the source key's policy differs from the deploy file: statement DenyEnclaveRoleDecryptUnlessPCR2Matches missing`);
    expect(r.stdout).toContain(`DRIFT [missing] policies/seal.json (key ${SEAL})`);
    expect(r.stdout).toContain('DRIFT [extra] policies/source-2.json');
  });

  it('an unreadable or invalid deploy file exits 2 naming it', async () => {
    const r = await runAttestedPack('deploy', 'check', out, '--file', join(dir, 'nope.yaml'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('DEPLOY_FILE_UNREADABLE');
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, yamlOf({ ...deployDoc(), surprise: true }));
    const v = await runAttestedPack('deploy', 'validate', bad);
    expect(v.code).toBe(2);
    expect(v.stderr).toContain('error [DEPLOY_FILE_INVALID]: (top level): unknown field "surprise"');
    expect(v.stderr).toContain('hint: fields allowed here:');
  });
});

describe('deploy render --rolling-from (replacing instances without a gap)', () => {
  it('source/seal policies accept the running image and the new one, and nothing else; without the flag only the new one', async () => {
    const { checkKeyPolicy } = await import('../../kms-policies/check.js');
    const { randomBytes } = await import('node:crypto');
    const next = parseMeasurements(await readFile(join(out, 'measurements.json'), 'utf8'));
    const hex = () => randomBytes(48).toString('hex');
    const running = { ...next, PCR0: hex(), PCR2: hex() };
    const other = { ...next, PCR0: hex(), PCR2: hex() };
    const runningFile = join(dir, 'running.measurements.json');
    await writeFile(runningFile, JSON.stringify(running));
    const rolling = join(dir, 'rolling');
    await cp(out, rolling, { recursive: true });
    const r = await runAttestedPack('deploy', 'render', file, '--out', rolling, '--rolling-from', runningFile);
    expect(r.code, r.stderr).toBe(0);
    for (const name of ['source-1', 'seal']) {
      const policy = JSON.parse(await readFile(join(rolling, `policies/${name}.json`), 'utf8'));
      expect(checkKeyPolicy(policy, next, PARENT_ROLE, { admins: [ADMIN_ROLE] }).attestedDecrypt.allowed).toBe(true);
      expect(checkKeyPolicy(policy, running, PARENT_ROLE, { admins: [ADMIN_ROLE] }).attestedDecrypt.allowed).toBe(true);
      expect(checkKeyPolicy(policy, other, PARENT_ROLE, { admins: [ADMIN_ROLE] }).attestedDecrypt.allowed).toBe(false);
      const single = JSON.parse(await readFile(join(out, `policies/${name}.json`), 'utf8'));
      expect(checkKeyPolicy(single, running, PARENT_ROLE, { admins: [ADMIN_ROLE] }).attestedDecrypt.allowed).toBe(false);
    }
    // deploy check names the rollout policies as drift until they are rendered without the flag.
    const c = await runAttestedPack('deploy', 'check', rolling, '--file', file);
    expect(c.code).toBe(1);
    expect(c.stdout).toContain('policies/source-1.json');
    expect(c.stdout).toContain('statement EnclaveDecryptsOnlyWithAttestation changed');
  });
});
