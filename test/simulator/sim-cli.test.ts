/**
 * `attested-pack sim` as a user runs it: spawned through bin/attested-pack.mjs (the built CLI)
 * in a temporary state directory. The whole flow exits 0 with every check ✔; a second run
 * reuses the state; --keep-running serves until SIGINT and then shuts everything down; Ctrl-C
 * in the middle of a run stops it with exit code 130 and leaves no enclave behind.
 */
import { defaultReceiptPath } from '../../host-proxy/client/paths.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { pcr3ForRoleArn } from '../../attestation/pcr.js';
import { parseMeasurements } from '../../common/measurements.js';
import { deployKeys, imageCmd, keyPolicy, loadDeployFile } from '../../deploy/index.js';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { SimSummary } from '../../simulator/sim/index.js';
import { ATTESTED_PACK_BIN, VERIFY_RECEIPT_BIN, processAlive, runBin, startBin, tempDir, waitFor } from '../e2e/helpers.js';

let state: string;
let first: SimSummary;

beforeAll(async () => {
  state = await tempDir('ap-sim-');
});
afterAll(async () => {
  if (state) await rm(state, { recursive: true, force: true });
});

/** The steps the account lists, in order (verify-receipt's eight checks come last). */
const EXPECTED_CHECKS = [
  'kms-simulator',
  'measurements',
  'key-policies',
  'demo-repo',
  'enclave',
  'host-proxy',
  'enclave-attests',
  'sealed-signing-key',
  'pack',
  'client-checks',
  'verify-receipt:attestation',
  'verify-receipt:measurements',
  'verify-receipt:debug-mode',
  'verify-receipt:claims-binding',
  'verify-receipt:nonce',
  'verify-receipt:artifact',
  'verify-receipt:repository',
  'verify-receipt:keys',
];

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function parseSummary(stdout: string): SimSummary {
  return JSON.parse(stdout) as SimSummary;
}

describe('attested-pack sim --json', () => {
  it('runs the whole flow in a fresh state directory: exit 0, every check ✔', async () => {
    const r = await runBin(ATTESTED_PACK_BIN, ['sim', '--state', state, '--json']);
    expect(r.stderr).not.toMatch(/error \[/);
    expect(r.code).toBe(0);
    first = parseSummary(r.stdout);
    expect(first.ok).toBe(true);
    expect(first.checks.map((c) => c.name)).toEqual(EXPECTED_CHECKS);
    for (const c of first.checks) expect({ name: c.name, status: c.status }).toEqual({ name: c.name, status: 'pass' });
    expect(first.reused).toEqual({ kmsState: false, nsmPki: false, keys: false, demoRepo: false, sealedKey: false });
    expect(first.identity).toBe('api-gateway');
    expect(first.environment).toBe('production');
    expect(first.stateDir).toBe(state);
    // Progress lines for the slow steps went to stderr, the one object to stdout.
    expect(r.stderr).toContain('bundling and measuring the enclave');
    expect(r.stderr).not.toContain('NodeVersionSupportWarning');
  });

  it('wrote the artifact, receipt and measurements it names, and they agree with each other', () => {
    // Receipts are named as `attested-pack pack` names them: <artifact>.receipt.json.
    expect(first.receipt).toBe(defaultReceiptPath(first.artifact!));
    for (const p of [first.artifact!, first.receipt!, first.measurements!, first.nsmRoot, first.signPublicKey!, first.sealedKey!]) {
      expect(p.startsWith(state)).toBe(true);
      expect(existsSync(p)).toBe(true);
    }
    const artifact = readFileSync(first.artifact!);
    const receipt = JSON.parse(readFileSync(first.receipt!, 'utf8')) as { claims: { request: Record<string, string>; artifact: { sha256: string } } };
    expect(receipt.claims.request.identity).toBe('api-gateway');
    expect(receipt.claims.request.environment).toBe('production');
    expect(receipt.claims.request.commit).toBe(first.commit);
    expect(receipt.claims.artifact.sha256).toBe(createHash('sha256').update(artifact).digest('hex'));
    const m = JSON.parse(readFileSync(first.measurements!, 'utf8')) as { PCR0: string };
    expect(m.PCR0).toBe(first.pcr0);
    // Only the token's hash is on disk.
    expect(readFileSync(join(state, 'proxy.yaml'), 'utf8')).toMatch(/sha256: [0-9a-f]{64}/);
  });

  it('left nothing running: no enclave pid file, no socket', () => {
    expect(existsSync(join(state, 'enclave.pid'))).toBe(false);
    expect(existsSync(join(state, 'enclave.sock'))).toBe(false);
  });

  it('its receipt verifies with the printed verify-receipt arguments, and only under the simulated root', async () => {
    const args = first.verifyReceiptArgs!;
    const ok = await runBin(VERIFY_RECEIPT_BIN, [...args, '--json']);
    expect(ok.code).toBe(0);
    // Fail closed: without --root the pinned AWS Nitro root is used and a simulated document cannot pass.
    const withoutRoot = args.filter((a, i) => a !== '--root' && args[i - 1] !== '--root');
    const bad = await runBin(VERIFY_RECEIPT_BIN, [...withoutRoot, '--json']);
    expect(bad.code).toBe(1);
    const report = JSON.parse(bad.stdout) as { checks: Array<{ name: string; status: string }> };
    expect(report.checks.find((c) => c.name === 'attestation')!.status).toBe('fail');
  });
});

describe('the simulation goes through the operator\'s path: deploy file → render → build → pack → verify-receipt --expect', () => {
  const deployDir = (): string => join(state, 'deploy');
  const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;

  it('wrote a deploy file that deploy\'s own loader accepts; the measured /cmd is the rendered image/cmd.json, the AWS /cmd with only the transport flags swapped', async () => {
    expect(first.deployFile).toBe(join(deployDir(), 'attested-pack.deploy.yaml'));
    const { config } = await loadDeployFile(first.deployFile!);
    expect(config.repository).toBe(first.repository);
    expect(config.keys).toEqual({ source: [first.keys!.source], wrap: [first.keys!.wrap], sign: first.keys!.sign, seal: first.keys!.seal });
    const simCmd = readJson<string[]>(join(deployDir(), 'image/cmd.json'));
    // What the simulated NSM reports as PCR2 was measured over exactly the rendered /cmd.
    const measured = readJson<{ buildInputs: { cmd: string } }>(first.measurements!);
    expect(measured.buildInputs.cmd).toBe(simCmd.map((a) => `${a}\n`).join(''));
    // AWS: node, bundle, serve, --listen vsock, --kms-region, --kms-relay-port, then the pins.
    const awsCmd = imageCmd(config);
    expect(awsCmd.slice(3, 9)).toEqual(['--listen', 'vsock://ANY:5000', '--kms-region', 'us-east-1', '--kms-relay-port', '8000']);
    const simTransport = simCmd.slice(3, 14);
    expect(simTransport.filter((a) => a.startsWith('--'))).toEqual(['--simulate', '--sim-state', '--measurements', '--role-arn', '--kms-endpoint', '--listen']);
    expect(simTransport[simTransport.indexOf('--role-arn') + 1]).toBe(config.parentRoleArn);
    // Every pin is the same, in the same order.
    expect(simCmd.slice(0, 3)).toEqual(awsCmd.slice(0, 3));
    expect(simCmd.slice(14)).toEqual(awsCmd.slice(9));
    const pins = simCmd.slice(14);
    expect(pins).toEqual(expect.arrayContaining(['--envelope', '--source-key', '--signing-kms-key', '--seal-key', '--signer-public-key', config.signer.publicKey]));
  });

  it('the key policies KMS holds are the rendered policies/<key>.json: the built PCR0/1/2 and the parent role\'s PCR3', async () => {
    const { config } = await loadDeployFile(first.deployFile!);
    const kmsState = readJson<{ keys: Array<{ arn: string; policy: string }> }>(join(state, 'kms', 'kms-state.json'));
    const measurements = parseMeasurements(readFileSync(first.measurements!, 'utf8'), first.measurements!);
    const keys = deployKeys(config);
    expect(keys.map((k) => k.name)).toEqual(['source-1', 'wrap-1', 'sign', 'seal']);
    for (const k of keys) {
      const rendered = readFileSync(join(deployDir(), 'policies', `${k.name}.json`), 'utf8');
      expect(kmsState.keys.find((x) => x.arn === k.arn)?.policy, k.name).toBe(rendered);
      expect(JSON.parse(rendered)).toEqual(keyPolicy(config, k, measurements));
    }
    const source = readFileSync(join(deployDir(), 'policies', 'source-1.json'), 'utf8');
    expect(source).toContain(measurements.PCR0);
    expect(source).toContain(pcr3ForRoleArn(config.parentRoleArn));
    // The proxy ran the rendered proxy.yaml: the deploy file's token hash, only the deployment's repository.
    const proxy = parseYaml(readFileSync(join(state, 'proxy.yaml'), 'utf8')) as { auth: { tokens: Array<{ sha256: string; repositories: string[] }> }; credentials: { source: string } };
    expect(proxy.auth.tokens).toEqual([expect.objectContaining({ sha256: config.access.tokens[0]!.sha256, repositories: [config.repository] })]);
    expect(proxy.credentials.source).toBe('static');
  });

  it('the auditor step ran verify-receipt --expect with the rendered expectations.json: VERIFIED, signed by the sealed key the deploy file names', async () => {
    const args = first.verifyReceiptArgs!;
    expect(args.slice(1, 3)).toEqual(['--expect', join(deployDir(), 'expectations.json')]);
    expect(first.expectations).toBe(join(deployDir(), 'expectations.json'));
    // --expect covers PCRs, parent role, manifest, repository, keys and signer: none of their flags is passed.
    for (const flag of ['--measurements', '--expect-key', '--verify-key', '--kms-public-key', '--parent-role-arn']) expect(args).not.toContain(flag);
    const text = await runBin(VERIFY_RECEIPT_BIN, args);
    expect(text.code, text.stdout + text.stderr).toBe(0);
    expect(text.stdout).toContain('VERIFIED');
    const json = await runBin(VERIFY_RECEIPT_BIN, [...args, '--json']);
    const report = JSON.parse(json.stdout) as { verdict: string; checks: Array<{ name: string; status: string; evidence: string }> };
    expect(report.verdict).toBe('verified');
    expect(report.checks.find((c) => c.name === 'artifact')!.evidence).toContain('Ed25519');
    expect(report.checks.find((c) => c.name === 'measurements')!.evidence).toContain('--expect');
  });

  it('expectations naming another signer, another parent role or another image reject the same receipt (exit 1)', async () => {
    const expectations = readJson<Record<string, unknown> & { measurements: Record<string, string> }>(first.expectations!);
    const kmsSigner = readJson<{ PublicKey: string }>(first.signPublicKey!).PublicKey;
    const variants: Array<[string, Record<string, unknown>, string]> = [
      ['signer', { ...expectations, signerPublicKey: kmsSigner }, 'artifact'],
      ['role', { ...expectations, parentRoleArn: 'arn:aws:iam::111122223333:role/someone-else' }, 'measurements'],
      ['image', { ...expectations, measurements: { ...expectations.measurements, PCR0: 'ab'.repeat(48) } }, 'measurements'],
    ];
    for (const [name, doc, failing] of variants) {
      const path = join(state, `expectations-${name}.json`);
      writeFileSync(path, JSON.stringify(doc));
      const args = first.verifyReceiptArgs!.map((a) => (a === first.expectations ? path : a));
      const r = await runBin(VERIFY_RECEIPT_BIN, [...args, '--json']);
      expect(r.code, name).toBe(1);
      const report = JSON.parse(r.stdout) as { checks: Array<{ name: string; status: string }> };
      expect(report.checks.find((c) => c.name === failing)!.status, name).toBe('fail');
    }
  });
});

describe('a second run reuses the state', () => {
  it('--keep-running: same keys, repository and NSM root; serves until SIGINT, then shuts down cleanly', async () => {
    const rootBefore = readFileSync(first.nsmRoot, 'utf8');
    const run = startBin(ATTESTED_PACK_BIN, ['sim', '--state', state, '--json', '--keep-running']);
    let enclavePid: number | undefined;
    try {
      // The summary is printed once the services are up.
      await waitFor(() => parses(run.out.stdout) || run.child.exitCode !== null, 90_000, 'the sim summary');
      const second = parseSummary(run.out.stdout);
      expect(second.ok).toBe(true);
      expect(second.reused).toEqual({ kmsState: true, nsmPki: true, keys: true, demoRepo: true, sealedKey: true });
      expect(second.keys).toEqual(first.keys);
      expect(second.commit).toBe(first.commit);
      expect(readFileSync(first.nsmRoot, 'utf8')).toBe(rootBefore);
      expect(second.pcr0).toBe(first.pcr0);

      const services = second.services!;
      enclavePid = services.enclavePid;
      expect(services.proxy).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(processAlive(services.enclavePid)).toBe(true);
      const ready = await fetch(`${services.proxy}/readyz`);
      expect(ready.status).toBe(200);
      // The printed token opens the proxy; another does not.
      const nonce = 'ab'.repeat(32);
      const good = await fetch(`${services.proxy}/v1/attestation?nonce=${nonce}`, { headers: { authorization: `Bearer ${services.token}` } });
      expect(good.status).toBe(200);
      const wrong = await fetch(`${services.proxy}/v1/attestation?nonce=${nonce}`, { headers: { authorization: 'Bearer apsim_not-the-token' } });
      expect(wrong.status).toBe(401);

      run.child.kill('SIGINT');
      const end = await run.done;
      expect(end.code).toBe(0);
      expect(end.stderr).toContain('stopped');
      expect(processAlive(services.enclavePid)).toBe(false);
      expect(existsSync(join(state, 'enclave.sock'))).toBe(false);
      expect(existsSync(join(state, 'enclave.pid'))).toBe(false);
      await expect(fetch(`${services.proxy}/healthz`)).rejects.toThrow();
    } finally {
      // Whatever failed above, leave no simulation running behind the test.
      if (run.child.exitCode === null) {
        run.child.kill('SIGINT');
        await Promise.race([run.done, new Promise((r) => setTimeout(r, 10_000))]);
        if (run.child.exitCode === null) run.child.kill('SIGKILL');
      }
      if (enclavePid !== undefined && processAlive(enclavePid)) process.kill(enclavePid, 'SIGKILL');
    }
  });
});

describe('interruptions and usage', () => {
  it('Ctrl-C during the run stops it with exit code 130 and starts no enclave', async () => {
    const dir = await tempDir('ap-sim-int-');
    try {
      const run = startBin(ATTESTED_PACK_BIN, ['sim', '--state', dir]);
      await waitFor(() => run.out.stderr.includes('bundling and measuring') || run.child.exitCode !== null, 60_000, 'the first progress line');
      run.child.kill('SIGINT');
      const end = await run.done;
      expect(end.code).toBe(130);
      expect(end.stdout).toContain('SIM_INTERRUPTED');
      expect(existsSync(join(dir, 'enclave.pid'))).toBe(false);
      expect(existsSync(join(dir, 'enclave.sock'))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('bad flags are usage errors (exit 2) that name the flag', async () => {
    const port = await runBin(ATTESTED_PACK_BIN, ['sim', '--state', state, '--port', 'eighty']);
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('--port');
    const level = await runBin(ATTESTED_PACK_BIN, ['sim', '--state', state, '--log-level', 'loud']);
    expect(level.code).toBe(2);
    expect(level.stderr).toContain('--log-level');
  });
});
