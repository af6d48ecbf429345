/**
 * Keeps the benchmark code from rotting: each harness runs once on a trivially small input with
 * one iteration, against the real peers and the real simulation, and only the shape of what it
 * returns is checked. No timing is asserted (npm test never judges speed; `npm run bench` does).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  benchAttestation,
  benchEif,
  benchEnclaveRss,
  benchPack,
  benchSops,
  benchVerifyReceipt,
  startBenchWorld,
  type BenchResult,
  type BenchWorld,
  type PackSample,
} from '../../bench/index.js';
import { missingTool } from '../tools.js';

/** The eif benchmark's peer is `openssl dgst -sha384`. */
const noOpenssl = missingTool('openssl', 'openssl', ['version']);

const UNITS = new Set(['ms', 'docs/s', 'MiB']);

/** The structure every harness promises (values may be anything finite). */
function expectShape(r: BenchResult, id: BenchResult['id'], minRows: number): void {
  expect(r.id).toBe(id);
  expect(typeof r.title).toBe('string');
  expect(r.rows.length).toBeGreaterThanOrEqual(minRows);
  for (const row of r.rows) {
    expect(typeof row.case).toBe('string');
    expect(typeof row.subject).toBe('string');
    expect(typeof row.peer).toBe('boolean');
    expect(UNITS.has(row.unit)).toBe(true);
    const s = row.summary;
    expect(s.n).toBeGreaterThanOrEqual(1);
    for (const v of [s.min, s.median, s.max, s.p99]) expect(Number.isFinite(v)).toBe(true);
    expect(s.min).toBeLessThanOrEqual(s.median);
    expect(s.median).toBeLessThanOrEqual(s.max);
    expect(s.p99).toBeLessThanOrEqual(s.max);
  }
  for (const c of r.comparisons) {
    expect(Number.isFinite(c.ratio) && c.ratio > 0).toBe(true);
    expect(typeof c.against).toBe('string');
  }
  expect(r.goals.length).toBeGreaterThanOrEqual(1);
  for (const g of r.goals) {
    expect(typeof g.goal).toBe('string');
    expect(typeof g.measured).toBe('string');
    expect(typeof g.met).toBe('boolean');
    // A missed goal always says by how much and why; a met one says nothing of the kind.
    if (g.met) expect(g.shortfall).toBeUndefined();
    else expect(g.shortfall).toMatch(/\S/);
  }
  expect(r.notes.every((n) => typeof n === 'string')).toBe(true);
  expect(Number.isFinite(r.durationMs)).toBe(true);
}

describe('benchmark harnesses on tiny inputs', () => {
  it('attestation: ours and evervault on the genuine documents', async () => {
    const r = await benchAttestation({ rounds: 1, passesPerRound: 1 });
    expectShape(r, 'attestation', 2);
    expect(r.rows.map((x) => x.peer)).toEqual([false, true]);
    expect(r.comparisons).toHaveLength(1);
  });

  it('sops: four decoders on a 3-key file', async () => {
    const endpointBefore = process.env.AWS_ENDPOINT_URL_KMS;
    const r = await benchSops({ sizes: [3], runs: {}, defaultRuns: 1 });
    expectShape(r, 'sops', 6);
    expect(r.rows.filter((x) => x.peer).map((x) => x.subject)).toEqual(['peer: sops-age', 'peer: sops-decoder (KMS)', 'floor: node:crypto AES-256-GCM alone (same operations)']);
    expect(r.goals).toHaveLength(1);
    // The SDK variables pointed at the simulator are restored afterwards.
    expect(process.env.AWS_ENDPOINT_URL_KMS).toBe(endpointBefore);
  });

  it.skipIf(noOpenssl)('eif: describe and openssl on a 1 MiB image', async () => {
    const r = await benchEif({ sizeBytes: 2 ** 20, runs: 1, contextRuns: 1 });
    expectShape(r, 'eif', 2);
    expect(r.rows.some((x) => x.subject === 'peer: openssl dgst -sha384')).toBe(true);
  });

  describe('in the simulation', () => {
    let world: BenchWorld;
    let sample: PackSample;

    beforeAll(async () => {
      world = await startBenchWorld();
    }, 120_000);
    afterAll(async () => {
      await world?.close();
    });

    it('pack: one pack through host-proxy at 0 ms', async () => {
      const r = await benchPack(world, {
        latenciesMs: [0],
        concurrencies: [1],
        signingModes: ['sealed', 'kms'],
        packsPerCase: 1,
        warmupPacks: 0,
        shapes: [{ files: 2, keysPerFile: 3 }],
        cpuPacks: 1,
        cpuBatches: 1,
      });
      expectShape(r.result, 'pack', 2);
      // Per mode: enclave CPU, proxy CPU and the latency goal at concurrency 1.
      expect(r.result.goals).toHaveLength(6);
      expect(r.result.rows.filter((x) => x.subject === 'ours: host-proxy child process')).toHaveLength(2);
      const notes = r.result.notes.join('\n');
      expect(notes).toMatch(/sealed: 2 Decrypt, 1 Encrypt/);
      expect(notes).toMatch(/kms: 2 Decrypt, 1 Encrypt, 1 Sign/);
      sample = r.sample;
      expect(sample.nonceHex).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.parse(sample.receiptJson)).toHaveProperty('claims');
    }, 120_000);

    it('verify-receipt: one cold start on that receipt', async () => {
      expect(sample).toBeDefined();
      const r = await benchVerifyReceipt(world, sample, { runs: 1, cpuRuns: 1 });
      expectShape(r, 'verify-receipt', 4);
      expect(r.notes.join('\n')).toMatch(/VERIFIED/);
    }, 120_000);

    it('enclave-rss: one small pack in a fresh enclave', async () => {
      const r = await benchEnclaveRss(world, { secrets: 20, namespaces: 2, runs: 1 });
      expectShape(r, 'enclave-rss', 1);
      expect(r.rows[0]!.unit).toBe('MiB');
    }, 120_000);

    it('enclave-rss refuses a pack whose key count is not what was asked', async () => {
      // 21 secrets over 2 namespaces become 2 × 11 = 22 keys: the harness notices instead of reporting.
      await expect(benchEnclaveRss(world, { secrets: 21, namespaces: 2, runs: 1 })).rejects.toThrow(/22 keys, expected 21/);
    }, 120_000);
  });
});
