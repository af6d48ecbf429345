/**
 * Load: packs through the host proxy at concurrency 16 in simulation (KMS simulator, measured
 * enclave child, real proxy), mixed with invalid requests (unknown token, malformed body, bad
 * nonce, unknown identity, path traversal). Asserts zero errors for valid requests (every one
 * answered 200 with a receipt carrying its nonce; a sample verified end to end), every invalid one
 * refused with a 4xx JSON error, no crash of the enclave or the proxy, and resident memory of both
 * growing less than 10 % between the first and the last quarter of the run.
 *
 * Memory is read after every request (RSS of this process — proxy and KMS simulator — and of the
 * enclave child). A garbage-collected process's RSS oscillates between collections, so the
 * growth is measured on each quarter's floor (its lowest reading, what is left after a collection:
 * a leak raises it); the medians are printed next to it. Measured by hand over 3,000 packs with
 * forced collections, this process's heap stayed at 35 MiB and the enclave's RSS floor at 127 MiB.
 *
 * `npm test` runs LOAD_PACKS=64 (the 5-minute budget); the issue's full run is
 *   LOAD_PACKS=2000 npx vitest run test/security/e2e/load.test.ts
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trustedRootFromPem, verifyReceipt, parseReceipt } from '../../../attestation/index.js';
import { readFileSync } from 'node:fs';
import { startChain, postPack, rssOf, type ChainWorld } from './harness.js';

const PACKS = Number(process.env.LOAD_PACKS ?? 64);
const CONCURRENCY = 16;
/** One invalid request per this many valid ones. */
const INVALID_EVERY = 4;
/** Packs run before memory is sampled (JIT, pools and caches fill up first). */
const WARMUP = Math.max(32, Math.round(PACKS * 0.05));
/**
 * Below this many packs the enclave child is still growing into its steady-state heap (its RSS
 * floor climbs for the first few hundred packs), so a first-vs-last-quarter comparison would
 * measure warm-up, not leaks: the reduced `npm test` run prints the numbers, the full run asserts.
 */
const MEMORY_ASSERTED_FROM = 1000;
const memoryAsserted = PACKS >= MEMORY_ASSERTED_FROM;

let world: ChainWorld;
beforeAll(async () => {
  world = await startChain({ concurrency: 4, queueSize: 64 });
}, 120_000);
afterAll(() => world?.close());

type Job = { kind: 'valid' } | { kind: 'invalid'; variant: number };

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mib = (n: number): string => (n / 2 ** 20).toFixed(0);

describe(`load: ${PACKS} packs at concurrency ${CONCURRENCY} with invalid requests mixed in`, () => {
  const title = memoryAsserted
    ? 'zero errors for valid packs, typed 4xx for invalid ones, no crash, RSS growth < 10 % (first vs last quarter)'
    : `zero errors for valid packs, typed 4xx for invalid ones, no crash (RSS printed; the < 10 % growth bound is asserted from ${MEMORY_ASSERTED_FROM} packs)`;
  it(title, async () => {
    const root = trustedRootFromPem(readFileSync(world.sim.paths.nsmRootPem, 'utf8'));
    const m = world.sim.measured.measurements;
    const enclavePid = world.sim.enclave.pid;
    let enclaveExited = false;
    void world.sim.enclave.exited.then(() => (enclaveExited = true));

    // Warm-up (not measured).
    for (let i = 0; i < WARMUP; i += CONCURRENCY) {
      const batch = await Promise.all(Array.from({ length: Math.min(CONCURRENCY, WARMUP - i) }, async () => postPack(world, await world.body())));
      for (const r of batch) expect(r.status, r.text).toBe(200);
    }

    const jobs: Job[] = [];
    let invalidCount = 0;
    for (let i = 0; i < PACKS; i++) {
      jobs.push({ kind: 'valid' });
      if (i % INVALID_EVERY === INVALID_EVERY - 1) jobs.push({ kind: 'invalid', variant: invalidCount++ });
    }
    const samples: Array<{ done: number; self: number; enclave: number }> = [];
    const validErrors: string[] = [];
    const invalidOutcomes = new Map<string, number>();
    const invalidErrors: string[] = [];
    let validOk = 0;
    let verified = 0;
    let next = 0;
    let done = 0;

    async function runValid(): Promise<void> {
      const body = await world.body('api-gateway', 'production', 'kms');
      const r = await postPack(world, body);
      if (r.status !== 200) {
        validErrors.push(`${r.status} ${r.text.slice(0, 200)}`);
        return;
      }
      const receipt = parseReceipt(r.json.receipt);
      if (receipt.claims.request.nonce !== body.nonce) validErrors.push('receipt nonce differs from the request nonce');
      if (typeof r.json.artifact !== 'string' || r.json.artifact.length === 0) validErrors.push('no artifact');
      // A sample is verified end to end (chain, PCRs from measurements.json, binding, nonce).
      if (validOk % 16 === 0) {
        await verifyReceipt(receipt, { trustedRoots: [root], at: Date.now(), expectedPcrs: { 0: m.PCR0, 1: m.PCR1, 2: m.PCR2 }, expectedNonce: body.nonce });
        verified++;
      }
      validOk++;
    }

    async function runInvalid(variant: number): Promise<void> {
      const body = await world.body();
      const cases: Array<[string, () => Promise<{ status: number; json: Record<string, unknown>; text: string }>]> = [
        ['unknown token', () => postPack(world, body, { token: 'apsec_not_a_token' })],
        ['malformed JSON', () => postPack(world, '{"identity": "api-gateway",')],
        ['nonce not hex', () => postPack(world, { ...body, nonce: 'zz' })],
        ['unknown identity', () => postPack(world, { ...body, identity: 'nobody-here' })],
        ['path traversal', () => postPack(world, { ...body, files: [{ path: '../etc/passwd', content: 'AAAA' }] })],
      ];
      const [label, send] = cases[variant % cases.length]!;
      const r = await send();
      invalidOutcomes.set(`${label} → ${r.status}`, (invalidOutcomes.get(`${label} → ${r.status}`) ?? 0) + 1);
      const error = (r.json as { error?: { code?: unknown } }).error;
      if (!(r.status >= 400 && r.status < 500) || typeof error?.code !== 'string') invalidErrors.push(`${label}: ${r.status} ${r.text.slice(0, 200)}`);
    }

    async function worker(): Promise<void> {
      while (next < jobs.length) {
        const job = jobs[next++]!;
        if (job.kind === 'valid') await runValid();
        else await runInvalid(job.variant);
        done++;
        const enclave = rssOf(enclavePid);
        if (enclave !== undefined) samples.push({ done, self: process.memoryUsage().rss, enclave });
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));

    // No crash: the enclave child lives and the proxy still answers.
    expect(enclaveExited).toBe(false);
    expect((await fetch(`${world.url}/healthz`)).status).toBe(200);

    const quarter = Math.floor(samples.length / 4);
    const q1 = samples.slice(0, quarter);
    const q4 = samples.slice(-quarter);
    const floorGrowth = (pick: (s: (typeof samples)[number]) => number) => Math.min(...q4.map(pick)) / Math.min(...q1.map(pick)) - 1;
    const describeRss = (name: string, pick: (s: (typeof samples)[number]) => number) =>
      `${name} floor ${mib(Math.min(...q1.map(pick)))}→${mib(Math.min(...q4.map(pick)))} MiB (${(floorGrowth(pick) * 100).toFixed(1)} %), median ${mib(median(q1.map(pick)))}→${mib(median(q4.map(pick)))} MiB`;
    const selfGrowth = floorGrowth((s) => s.self);
    const enclaveGrowth = floorGrowth((s) => s.enclave);
    console.log(
      `load: ${PACKS} valid packs (${validOk} ok, ${validErrors.length} errors, ${verified} receipts verified end to end) + ${jobs.length - PACKS} invalid requests ` +
        `(${[...invalidOutcomes].map(([k, n]) => `${k}×${n}`).join(', ')}) at concurrency ${CONCURRENCY}, after ${WARMUP} warm-up packs; ` +
        `RSS first→last quarter: ${describeRss('proxy+KMS process', (s) => s.self)}; ${describeRss('enclave', (s) => s.enclave)}`,
    );
    expect(validErrors).toEqual([]);
    expect(validOk).toBe(PACKS);
    expect(invalidErrors).toEqual([]);
    if (memoryAsserted) {
      expect(selfGrowth).toBeLessThan(0.1);
      expect(enclaveGrowth).toBeLessThan(0.1);
    } else {
      console.log(`load: RSS growth not asserted for ${PACKS} packs (warm-up dominates); run LOAD_PACKS=2000 for the memory bound`);
    }
  }, Math.max(180_000, PACKS * 1_000));
});
