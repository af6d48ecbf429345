/**
 * `attested-pack attestation inspect|verify`: exit 0 verified, 1 rejected with `error [CODE]`,
 * 2 usage — including "no expected PCRs", because verification fails closed — and `--json`
 * output for machines. Most cases drive the commands in-process (the same commander wiring
 * as cli/main.ts, output captured); a few spawn the built CLI to check real exit codes.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Command, CommanderError } from 'commander';
import { registerAttestationCommands } from '../../attestation/cli.js';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SimulatedNsmPki } from '../../attestation/simulated-nsm.js';
import { attestationVectors, byFile, repoRoot, SIM_PCRS } from './helpers.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Spawns the built CLI (dist/, built by the global test setup). */
function spawnCli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(repoRoot, 'bin/attested-pack.mjs'), 'attestation', ...args], { cwd: repoRoot }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the attestation commands in-process, as cli/main.ts wires them; one at a time. */
async function cli(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  const program = new Command('attested-pack').exitOverride();
  registerAttestationCommands(program);
  const applyExitOverride = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(applyExitOverride);
  };
  applyExitOverride(program);
  process.exitCode = undefined;
  try {
    await program.parseAsync(['attestation', ...args], { from: 'user' });
    return { code: typeof process.exitCode === 'number' ? process.exitCode : 0, stdout, stderr };
  } catch (e) {
    if (e instanceof CommanderError) return { code: 2, stdout, stderr };
    throw e;
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = undefined;
  }
}

/** Runs several invocations one after another (they share the captured process streams). */
async function cliAll(...runs: string[][]): Promise<Run[]> {
  const results: Run[] = [];
  for (const args of runs) results.push(await cli(...args));
  return results;
}

const prod = byFile('sdks_rs_src_testcases_aws');
const prodFile = path.join(attestationVectors, prod.file);
const prodAt = new Date(prod.suggested_verification_time_ms).toISOString();
const pcrFlags = ['--pcr0', prod.pcrs['0'], '--pcr1', prod.pcrs['1'], '--pcr2', prod.pcrs['2']];
const debugB64 = byFile('valid-attestation-doc-base64');
const debugFile = path.join(attestationVectors, debugB64.file);
const ZERO = '0'.repeat(96);

let dir: string;
let simDocFile: string;
let simRootFile: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ap-att-cli-'));
  const pki = await SimulatedNsmPki.ephemeral();
  simDocFile = path.join(dir, 'sim.cose');
  simRootFile = path.join(dir, 'sim-root.pem');
  await writeFile(simDocFile, await pki.attest({ pcrs: SIM_PCRS }));
  await writeFile(simRootFile, pki.rootPem());
  await writeFile(
    path.join(dir, 'measurements.json'),
    JSON.stringify({ PCR0: prod.pcrs['0'], PCR1: prod.pcrs['1'], PCR2: prod.pcrs['2'], eifSha256: 'ab'.repeat(32), arch: 'aarch64', buildInputs: {} }),
  );
  await writeFile(
    path.join(dir, 'wrong-measurements.json'),
    JSON.stringify({ PCR0: 'ab'.repeat(48), PCR1: prod.pcrs['1'], PCR2: prod.pcrs['2'], eifSha256: 'ab'.repeat(32), arch: 'aarch64', buildInputs: {} }),
  );
  await writeFile(path.join(dir, 'garbage.bin'), 'this is not an attestation document');
  await writeFile(path.join(dir, 'not-a-root.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('attestation verify', () => {
  it('exit 0 for a genuine document at its time with its PCRs (human and --json)', async () => {
    const [human, json] = await cliAll(['verify', prodFile, '--at', prodAt, ...pcrFlags], ['verify', prodFile, '--at', prodAt, ...pcrFlags, '--json']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`verified: ${prod.module_id}`);
    expect(human.stdout).toContain('AWS Nitro Enclaves Root-G1');
    expect(json.code).toBe(0);
    const out = JSON.parse(json.stdout) as { ok: boolean; verified: { moduleId: string; timestamp: number; pcrs: Record<string, string>; rootSha256: string } };
    expect(out.ok).toBe(true);
    expect(out.verified.moduleId).toBe(prod.module_id);
    expect(out.verified.timestamp).toBe(prod.timestamp_ms);
    expect(out.verified.pcrs['0']).toBe(prod.pcrs['0']);
    expect(out.verified.rootSha256).toBe('641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b');
  });

  it('exit 1 with the code and a one-line reason when rejected (real clock: expired)', async () => {
    const [human, json] = await cliAll(['verify', prodFile, ...pcrFlags], ['verify', prodFile, ...pcrFlags, '--json']);
    expect(human.code).toBe(1);
    expect(human.stderr.split('\n')[0]).toMatch(/^error \[ATTESTATION_CERT_EXPIRED\]: /);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { code: 'ATTESTATION_CERT_EXPIRED' } });
  });

  it('PCR1 (or any PCRs) without PCR0 → exit 2: the image must be pinned, as verify-receipt requires', async () => {
    const [pcr1Only, indexed, json] = await cliAll(
      ['verify', prodFile, '--at', prodAt, '--pcr1', prod.pcrs['1']],
      ['verify', prodFile, '--at', prodAt, '--pcr', `1=${prod.pcrs['1']}`, '--pcr', `2=${prod.pcrs['2']}`],
      ['verify', prodFile, '--at', prodAt, '--pcr1', prod.pcrs['1'], '--json'],
    );
    expect(pcr1Only.code).toBe(2);
    expect(pcr1Only.stderr.split('\n')[0]).toBe('error [USAGE]: --pcr0 is required: PCR0 is the enclave image itself (PCR1/2/3/4/8 alone do not pin it)');
    expect(pcr1Only.stdout).toBe('');
    expect(indexed.code).toBe(2);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { code: 'USAGE' } });
    // --pcr 0=… counts as PCR0.
    const [viaIndex] = await cliAll(['verify', prodFile, '--at', prodAt, '--pcr', `0=${prod.pcrs['0']}`, '--pcr1', prod.pcrs['1']]);
    expect(viaIndex.code).toBe(0);
  });

  it('--measurements supplies PCR0/1/2; a wrong one is a PCR mismatch', async () => {
    const [ok, wrong] = await cliAll(
      ['verify', prodFile, '--at', prodAt, '--measurements', path.join(dir, 'measurements.json')],
      ['verify', prodFile, '--at', prodAt, '--measurements', path.join(dir, 'wrong-measurements.json')],
    );
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('PCR0, PCR1, PCR2');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('error [ATTESTATION_PCR_MISMATCH]');
    expect(wrong.stderr).toContain('PCR0');
  });

  it('base64 input; debug documents need --allow-debug; --at document; --pcr N=HEX any case', async () => {
    const at = new Date(debugB64.suggested_verification_time_ms).toISOString();
    const [strict, allowed, docTime, epochMs] = await cliAll(
      ['verify', debugFile, '--at', at, '--pcr0', ZERO],
      ['verify', debugFile, '--at', at, '--pcr0', ZERO, '--allow-debug'],
      ['verify', prodFile, '--at', 'document', '--pcr', `0=${prod.pcrs['0'].toUpperCase()}`, '--pcr', `1=${prod.pcrs['1'].toUpperCase()}`],
      ['verify', prodFile, '--at', String(prod.suggested_verification_time_ms), '--max-age', '60', ...pcrFlags],
    );
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain('error [ATTESTATION_DEBUG_MODE]');
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toContain('DEBUG MODE');
    expect(docTime.code).toBe(0);
    expect(epochMs.code).toBe(0);
  });

  it('--nonce and --max-age are enforced', async () => {
    const nonceDoc = byFile('valid-attestation-doc-bytes');
    const at = new Date(nonceDoc.suggested_verification_time_ms).toISOString();
    const flags = ['--pcr0', nonceDoc.pcrs['0']];
    const [wrongNonce, stale] = await cliAll(
      ['verify', path.join(attestationVectors, nonceDoc.file), '--at', at, ...flags, '--nonce', 'abcd'],
      ['verify', prodFile, '--at', new Date(prod.timestamp_ms + 120_000).toISOString(), '--max-age', '60', ...pcrFlags],
    );
    expect(wrongNonce.code).toBe(1);
    expect(wrongNonce.stderr).toContain('error [ATTESTATION_NONCE_MISMATCH]');
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('error [ATTESTATION_STALE]');
  });

  it('--root replaces the pinned AWS root (simulated documents)', async () => {
    const flags = ['--pcr0', SIM_PCRS[0], '--pcr1', SIM_PCRS[1], '--pcr2', SIM_PCRS[2]];
    const [withRoot, withoutRoot, genuineUnderSim] = await cliAll(
      ['verify', simDocFile, ...flags, '--root', simRootFile],
      ['verify', simDocFile, ...flags],
      ['verify', prodFile, '--at', prodAt, ...pcrFlags, '--root', simRootFile],
    );
    expect(withRoot.code).toBe(0);
    expect(withRoot.stdout).toContain('NOT the AWS root');
    expect(withoutRoot.code).toBe(1);
    expect(withoutRoot.stderr).toContain('error [ATTESTATION_UNTRUSTED_ROOT]');
    expect(genuineUnderSim.code).toBe(1);
    expect(genuineUnderSim.stderr).toContain('error [ATTESTATION_UNTRUSTED_ROOT]');
  });

  it('exit 2 for usage errors: no expected PCRs (fail closed), bad flags, unreadable files', async () => {
    const runs = await cliAll(
      ['verify', prodFile, '--at', prodAt],
      ['verify', prodFile, '--at', prodAt, '--json'],
      ['verify', prodFile, '--pcr0', 'xyz'],
      ['verify', prodFile, '--pcr', '40=ab'],
      ['verify', prodFile, '--pcr0', prod.pcrs['0'], '--at', 'yesterday'],
      ['verify', path.join(dir, 'missing.cose'), ...pcrFlags],
      ['verify', prodFile, ...pcrFlags, '--root', path.join(dir, 'not-a-root.pem')],
      ['verify', prodFile, ...pcrFlags, '--measurements', path.join(dir, 'garbage.bin')],
      ['verify', prodFile, '--pcr0', prod.pcrs['0'], '--pcr', `0=${'cd'.repeat(48)}`],
      ['verify', prodFile, ...pcrFlags, '--nonce', 'not hex'],
      ['verify', prodFile, ...pcrFlags, '--max-age', '-5'],
      ['verify'],
      ['verify', prodFile, ...pcrFlags, '--no-such-flag'],
    );
    runs.forEach((r, i) => expect(r.code, `run ${i}: ${r.stderr}${r.stdout}`).toBe(2));
    expect(runs[0].stderr).toContain('error [USAGE]: no expected PCRs');
    expect(runs[0].stderr).toContain('hint: pass --measurements');
    expect(JSON.parse(runs[1].stdout)).toMatchObject({ ok: false, error: { code: 'USAGE' } });
  });

  it('exit 1 for input that is not an attestation document', async () => {
    const r = await cli('verify', path.join(dir, 'garbage.bin'), ...pcrFlags);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error [ATTESTATION_MALFORMED_CBOR]');
  });
});

describe('attestation inspect', () => {
  it('prints decoded fields, marked as not verified (raw and base64 input, --json)', async () => {
    const [human, json, b64, garbage] = await cliAll(
      ['inspect', prodFile],
      ['inspect', prodFile, '--json'],
      ['inspect', debugFile, '--json'],
      ['inspect', path.join(dir, 'garbage.bin')],
    );
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('NOT verified');
    expect(human.stdout).toContain(prod.module_id);
    expect(human.stdout).toContain(prod.pcrs['0']);
    expect(json.code).toBe(0);
    const out = JSON.parse(json.stdout) as { verified: boolean; moduleId: string; cabundle: Array<{ subject: string }>; publicKey: string };
    expect(out.verified).toBe(false);
    expect(out.moduleId).toBe(prod.module_id);
    expect(out.cabundle[0].subject).toBe('C=US, O=Amazon, OU=AWS, CN=aws.nitro-enclaves');
    expect(out.publicKey).toHaveLength(128);
    expect(b64.code).toBe(0);
    expect(JSON.parse(b64.stdout)).toMatchObject({ moduleId: debugB64.module_id, debugMode: true });
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toContain('error [ATTESTATION_MALFORMED_CBOR]');
  });
});

describe('the built CLI (child processes, real exit codes)', () => {
  it('exits 0 / 1 / 2 for verified / rejected / no expected PCRs', async () => {
    const [ok, rejected, usage] = await Promise.all([
      spawnCli('verify', prodFile, '--at', prodAt, ...pcrFlags, '--json'),
      spawnCli('verify', prodFile, ...pcrFlags),
      spawnCli('verify', prodFile),
    ]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, verified: { moduleId: prod.module_id } });
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toMatch(/^error \[ATTESTATION_CERT_EXPIRED\]/);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('no expected PCRs');
  });
});
