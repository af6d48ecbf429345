/**
 * The trust chain on a laptop: the simulated PCRs are the real measurements of the bundle the
 * enclave child runs, so changing ONE byte of it changes PCR0 and KMS refuses the pack under the
 * policy generated for the original measurements — until the policy is regenerated. Driven
 * through the launcher's programmatic API (the same code `attested-pack sim` runs), with the
 * real enclave child process, host proxy, pack client and KMS simulator.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Measurements } from '../../common/measurements.js';
import type { AuditEvent } from '../../simulator/kms/index.js';
import {
  formatSimAccount,
  measureBundle,
  outputPaths,
  packThroughProxy,
  runSim,
  startSim,
  verifyReceiptArgs,
  verifyWithCli,
  writeSigningPublicKey,
  type SimHandle,
} from '../../simulator/sim/index.js';
import { repoRoot, tempDir } from '../e2e/helpers.js';

let dir: string;
let sim: SimHandle;
let original: Measurements;
let changed: Measurements;
let changedMeasurementsPath: string;

beforeAll(async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  dir = await tempDir('ap-sim-m-');
  sim = await startSim({ stateDir: dir });
  original = sim.measured.measurements;
});
afterAll(async () => {
  await sim?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('one byte of the enclave bundle', () => {
  it('the measured enclave packs under the policies generated from its own measurements', async () => {
    expect(sim.policyMeasurements.PCR0).toBe(original.PCR0);
    const p = await packThroughProxy(sim);
    expect(p.result.verified).toBe(true);
    expect(sim.unseal).toMatchObject({ ok: true });
  });

  it('changed: PCR0 and PCR2 move, PCR1 does not; KMS refuses the pack with KMS_ACCESS_DENIED naming the key', async () => {
    const bytes = readFileSync(sim.paths.bundle);
    const at = bytes.indexOf('unseal requests');
    expect(at).toBeGreaterThan(0);
    const edited = Buffer.from(bytes);
    edited[at] = 'U'.charCodeAt(0);
    let differing = 0;
    for (let i = 0; i < bytes.length; i++) if (bytes[i] !== edited[i]) differing++;
    expect(differing).toBe(1);
    expect(edited.length).toBe(bytes.length);

    const changedDir = join(dir, 'changed');
    await mkdir(changedDir);
    const changedBundle = join(changedDir, 'enclave.mjs');
    await writeFile(changedBundle, edited);
    changedMeasurementsPath = join(changedDir, 'measurements.json');
    changed = await measureBundle(changedBundle, changedMeasurementsPath);
    expect(changed.PCR0).not.toBe(original.PCR0);
    expect(changed.PCR2).not.toBe(original.PCR2);
    expect(changed.PCR1).toBe(original.PCR1);

    const refusals: AuditEvent[] = [];
    const unsubscribe = sim.kms.audit.onEvent((e) => {
      if (e.errorCode) refusals.push(e);
    });
    try {
      // The changed bundle runs (the byte is in a help text) and attests its own measurements.
      await sim.restartEnclave({ bundlePath: changedBundle, measurementsPath: changedMeasurementsPath });
      const artifactPath = outputPaths(sim.paths, 'api-gateway', 'production').artifact;
      const previousArtifact = readFileSync(artifactPath);
      const failure = await packThroughProxy(sim, { clientVerifies: false, retries: 0 }).then(
        () => undefined,
        (err: unknown) => err as { code?: string; message?: string; category?: string; details?: { status?: number } },
      );
      expect(failure?.code).toBe('KMS_ACCESS_DENIED');
      expect(failure?.message).toContain(sim.keys.source);
      expect(failure?.details?.status).toBe(403);
      expect(failure?.category).toBe('rejected');
      // The refused pack wrote nothing: the previous artifact is untouched.
      expect(readFileSync(artifactPath).equals(previousArtifact)).toBe(true);
    } finally {
      unsubscribe();
    }

    // KMS's own record: an attested Decrypt on the source key, refused, from an enclave whose
    // image digest (PCR0) is the changed one.
    const decrypt = refusals.find((e) => e.eventName === 'Decrypt' && e.resources?.some((r) => r.ARN === sim.keys.source));
    expect(decrypt?.errorCode).toBe('AccessDeniedException');
    expect(decrypt?.additionalEventData?.recipient?.attestationDocumentEnclaveImageDigest).toBe(changed.PCR0);
    // The sealed signing key is refused as well: the enclave says why it cannot sign.
    expect(sim.unseal).toMatchObject({ ok: false, code: 'KMS_ACCESS_DENIED' });
  });

  it('after the policies are regenerated for the new measurements the same enclave packs; its receipt verifies against them, not the old ones', async () => {
    await sim.applyPolicies(changed);
    const p = await packThroughProxy(sim, { clientVerifies: false });
    const args = verifyReceiptArgs(sim, { receipt: p.receipt, artifact: p.artifact, nonce: p.nonce, kmsPublicKey: await writeSigningPublicKey(sim) });
    const withChanged = args.map((a) => (a === sim.measured.measurementsPath ? changedMeasurementsPath : a));
    const good = await verifyWithCli(withChanged);
    expect(good.code).toBe(0);
    const old = await verifyWithCli(args);
    expect(old.code).toBe(1);
    const measurementsCheck = old.report!.checks.find((c) => c.name === 'measurements')!;
    expect(measurementsCheck.status).toBe('fail');
    expect(measurementsCheck.evidence).toContain('PCR0');
  });

  it('--keep-policies: the next run measures the checkout\'s enclave but keeps the policies of the changed one — KMS refuses, exit 1', async () => {
    await sim.close();
    const { summary, exitCode, handle } = await runSim({ stateDir: dir, keepPolicies: true });
    expect(handle).toBeUndefined();
    expect(exitCode).toBe(1);
    expect(summary.ok).toBe(false);
    expect(summary.pcr0).toBe(original.PCR0);
    const byName = new Map(summary.checks.map((c) => [c.name, c]));
    expect(byName.get('key-policies')).toMatchObject({ status: 'pass' });
    expect(byName.get('key-policies')!.evidence).toContain('OTHER measurements');
    expect(byName.get('enclave-attests')).toMatchObject({ status: 'pass' });
    expect(byName.get('sealed-signing-key')).toMatchObject({ status: 'fail', code: 'KMS_ACCESS_DENIED' });
    expect(byName.get('pack')).toMatchObject({ status: 'fail', code: 'KMS_ACCESS_DENIED' });
    expect(byName.has('verify-receipt:attestation')).toBe(false);
    const account = formatSimAccount(summary, { colour: false, projectRoot: repoRoot });
    expect(account).toMatch(/✘ pack through the proxy +\[KMS_ACCESS_DENIED\]/);
    expect(account).toContain('KMS refused the enclave');
    // Nothing is left running after a failed run either.
    expect(existsSync(sim.paths.enclavePid)).toBe(false);
  });
});
