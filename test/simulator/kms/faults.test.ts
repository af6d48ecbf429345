/**
 * Fault knobs: throttle every Nth call, fail every Nth call with 500, fixed latency and stall,
 * set at start, programmatically and through the administrator-only AttestedPackSimulator op.
 * No test asserts a duration: latency and stall are observed through client timeouts far
 * shorter than the injected delay.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { CreateKeyCommand, KMSInternalException, ListKeysCommand, type KMSClient } from '@aws-sdk/client-kms';
import { CREDS, rawRequest, startTestSim, type TestSim } from './helpers.js';
import { InjectedDelays } from '../../../simulator/kms/faults.js';

let t: TestSim | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const list = (c: KMSClient, timeoutMs?: number) =>
  c.send(new ListKeysCommand({}), timeoutMs === undefined ? {} : { abortSignal: AbortSignal.timeout(timeoutMs) }).then(
    () => 'ok',
    (e: Error) => e.name,
  );

describe('fault knobs', () => {
  it('throttles every Nth call with ThrottlingException', async () => {
    t = await startTestSim({ faults: { throttleEveryN: 3 } });
    const c = t.client('admin');
    const outcomes: string[] = [];
    for (let i = 0; i < 6; i++) outcomes.push(await list(c));
    expect(outcomes).toEqual(['ok', 'ok', 'ThrottlingException', 'ok', 'ok', 'ThrottlingException']);
    const e = (await t.auditEvents()).filter((x) => x.errorCode === 'ThrottlingException');
    expect(e).toHaveLength(2);
  });

  it('fails every Nth call with a 500 KMSInternalException, which the SDK retries by default', async () => {
    t = await startTestSim({ faults: { failEveryN: 2 } });
    const c = t.client('admin');
    expect(await list(c)).toBe('ok');
    const err = await c.send(new ListKeysCommand({})).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KMSInternalException);
    expect((err as KMSInternalException).$fault).toBe('server');
    expect((err as KMSInternalException).$metadata.httpStatusCode).toBe(500);
    // With the SDK's standard retries the next failure is retried transparently.
    t.sim.setFaults({ failEveryN: 2 });
    const retrying = t.client('admin', { maxAttempts: 3 });
    expect(await list(retrying)).toBe('ok');
    const r = await retrying.send(new ListKeysCommand({}));
    expect(r.$metadata.attempts).toBe(2);
  });

  it('adds latency: a client whose timeout is shorter than the latency gives up; clearing it restores service', async () => {
    t = await startTestSim({ faults: { latencyMs: 60_000 } });
    expect(await list(t.client('admin'), 300)).toBe('AbortError');
    t.sim.setFaults({});
    expect(await list(t.client('admin'))).toBe('ok');
  });

  it('latency per operation: only the named operation waits, and every answered call is reported with its times', async () => {
    t = await startTestSim({ faults: { latencyByOperation: { ListKeys: 60_000 } } });
    const seen: Array<{ operation: string; status: number; arrivedAt: number; answeredAt: number }> = [];
    const stop = t.sim.observeCalls((c) => seen.push(c));
    expect(await list(t.client('admin'), 300)).toBe('AbortError');
    expect((await t.client('admin').send(new CreateKeyCommand({}))).KeyMetadata?.KeyId).toBeTruthy();
    stop();
    expect(seen.map((c) => [c.operation, c.status])).toEqual([['CreateKey', 200]]);
    expect(seen[0]!.answeredAt).toBeGreaterThanOrEqual(seen[0]!.arrivedAt);
    await t.client('admin').send(new CreateKeyCommand({}));
    expect(seen).toHaveLength(1);
  });

  it('16 concurrently delayed calls all succeed without a MaxListenersExceededWarning', async () => {
    t = await startTestSim({ faults: { latencyMs: 30 } });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const c = t.client('admin');
      const outcomes = await Promise.all(Array.from({ length: 16 }, () => list(c)));
      expect(outcomes).toEqual(Array.from({ length: 16 }, () => 'ok'));
      // Warnings are emitted on the next tick; let them arrive before looking.
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });

  it('stalls: requests never get an answer, and close() still returns', async () => {
    t = await startTestSim();
    t.sim.setFaults({ stall: true });
    expect(await list(t.client('admin'), 300)).toBe('AbortError');
    // A stalled request still pending while the simulator closes.
    const pending = t.client('admin').send(new ListKeysCommand({})).then(
      () => 'answered',
      (e: Error) => e.name,
    );
    await new Promise((r) => setTimeout(r, 50));
    await t.close();
    t = undefined;
    const outcome = await pending;
    expect(outcome).not.toBe('answered');
    expect(outcome).not.toBe('AbortError');
  });

  it('setFaults validates its input', async () => {
    t = await startTestSim();
    expect(() => t!.sim.setFaults({ throttleEveryN: -1 })).toThrow(/throttleEveryN/);
    expect(() => t!.sim.setFaults({ latencyMs: 1.5 })).toThrow(/latencyMs/);
    expect(() => t!.sim.setFaults({ latencyByOperation: { Decrypt: -5 } })).toThrow(/latencyByOperation\.Decrypt/);
    expect(() => t!.sim.setFaults({ latencyByOperation: { 'Decrypt; rm': 5 } })).toThrow(/not a KMS operation name/);
  });
});

describe('AttestedPackSimulator admin operations', () => {
  it('the administrator sets and reads faults; they apply to TrentService calls only', async () => {
    t = await startTestSim();
    const set = await rawRequest(t.sim.endpoint, { target: 'AttestedPackSimulator.SetFaults', body: JSON.stringify({ ThrottleEveryN: 1 }) });
    expect(set.status).toBe(200);
    expect(set.body.Faults).toEqual({ LatencyMs: 0, ThrottleEveryN: 1, FailEveryN: 0, Stall: false });
    expect(await list(t.client('admin'))).toBe('ThrottlingException');
    const get = await rawRequest(t.sim.endpoint, { target: 'AttestedPackSimulator.GetFaults' });
    expect(get.status).toBe(200);
    expect(t.sim.getFaults().throttleEveryN).toBe(1);
    await rawRequest(t.sim.endpoint, { target: 'AttestedPackSimulator.SetFaults', body: '{}' });
    expect(await list(t.client('admin'))).toBe('ok');
  });

  it('refuses non-administrators, unsigned callers, bad values and unknown admin ops', async () => {
    t = await startTestSim();
    const other = await rawRequest(t.sim.endpoint, { target: 'AttestedPackSimulator.SetFaults', cred: CREDS.other, body: JSON.stringify({ Stall: true }) });
    expect(other.body.__type).toBe('AccessDeniedException');
    const unsigned = await rawRequest(t.sim.endpoint, { target: 'AttestedPackSimulator.SetFaults', unsigned: true, body: JSON.stringify({ Stall: true }) });
    expect(unsigned.body.__type).toBe('MissingAuthenticationTokenException');
    const bad = await rawRequest(t.sim.endpoint, { target: 'AttestedPackSimulator.SetFaults', body: JSON.stringify({ FailEveryN: 'two' }) });
    expect(bad.body.__type).toBe('SerializationException');
    const unknown = await rawRequest(t.sim.endpoint, { target: 'AttestedPackSimulator.Explode' });
    expect(unknown.body.__type).toBe('UnknownOperationException');
    expect(t.sim.getFaults()).toEqual({ latencyMs: 0, latencyByOperation: {}, throttleEveryN: 0, failEveryN: 0, stall: false });
    // Still serving normally.
    expect((await t.client('admin').send(new CreateKeyCommand({}))).KeyMetadata).toBeDefined();
  });
});

describe('InjectedDelays', () => {
  it('a sleep that runs its course resolves true and leaves nothing behind', async () => {
    const d = new InjectedDelays();
    const sleeps = Array.from({ length: 20 }, () => d.sleep(5));
    expect(d.inFlight).toBe(20);
    expect(await Promise.all(sleeps)).toEqual(Array.from({ length: 20 }, () => true));
    expect(d.inFlight).toBe(0);
  });

  it('cancelAll ends pending sleeps with false, and later sleeps at once', async () => {
    const d = new InjectedDelays();
    const pending = [d.sleep(60_000), d.sleep(60_000)];
    d.cancelAll();
    expect(await Promise.all(pending)).toEqual([false, false]);
    expect(d.inFlight).toBe(0);
    expect(await d.sleep(60_000)).toBe(false);
    expect(d.inFlight).toBe(0);
  });
});
