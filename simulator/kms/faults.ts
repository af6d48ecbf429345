/**
 * Fault knobs for tests and benchmarks: a fixed latency before every answer (or one per KMS
 * operation, so a test can tell which calls wait for which), a
 * ThrottlingException every Nth call, a 500 KMSInternalException every Nth call, and "stall"
 * (accept the request and never answer until the simulator closes). Settable at start and at
 * runtime; counting is per KMS call, in arrival order.
 */
import { KmsSimError } from './errors.js';

/** The knobs; absent or 0 means off. */
export interface KmsFaults {
  latencyMs?: number;
  /** Latency per operation name (`Decrypt`, `Encrypt`, `Sign`, …); overrides `latencyMs` for those. */
  latencyByOperation?: Readonly<Record<string, number>>;
  throttleEveryN?: number;
  failEveryN?: number;
  stall?: boolean;
}

/** What to do with one call. */
export type FaultAction = { kind: 'none' | 'throttle' | 'fail' | 'stall'; delayMs: number };

/** Keeps the current knobs and the call counter. */
export class FaultInjector {
  private faults: Required<KmsFaults> = { latencyMs: 0, latencyByOperation: {}, throttleEveryN: 0, failEveryN: 0, stall: false };
  private calls = 0;

  constructor(initial: KmsFaults = {}) {
    this.set(initial);
  }

  /** Replaces the knobs (unspecified ones are turned off) and restarts the counter. */
  set(f: KmsFaults): void {
    const n = (name: string, v: number | undefined): number => {
      if (v === undefined) return 0;
      if (!Number.isInteger(v) || v < 0 || v > 3_600_000) {
        throw new KmsSimError('KMS_SIM_BAD_CONFIG', `fault ${name} must be a whole number between 0 and 3600000, got ${String(v)}`);
      }
      return v;
    };
    const byOperation: Record<string, number> = {};
    for (const [op, ms] of Object.entries(f.latencyByOperation ?? {})) {
      if (!/^[A-Za-z]{1,64}$/.test(op)) throw new KmsSimError('KMS_SIM_BAD_CONFIG', `fault latencyByOperation: ${JSON.stringify(op.slice(0, 80))} is not a KMS operation name`);
      byOperation[op] = n(`latencyByOperation.${op}`, ms);
    }
    this.faults = {
      latencyMs: n('latencyMs', f.latencyMs),
      latencyByOperation: byOperation,
      throttleEveryN: n('throttleEveryN', f.throttleEveryN),
      failEveryN: n('failEveryN', f.failEveryN),
      stall: f.stall === true,
    };
    this.calls = 0;
  }

  get(): Required<KmsFaults> {
    return { ...this.faults, latencyByOperation: { ...this.faults.latencyByOperation } };
  }

  /** Decides the fate of the next call (of `operation`, when known). Throttling is checked before failure when both hit. */
  next(operation?: string): FaultAction {
    this.calls++;
    const f = this.faults;
    const delayMs = (operation !== undefined && Object.hasOwn(f.latencyByOperation, operation) ? f.latencyByOperation[operation] : undefined) ?? f.latencyMs;
    if (f.stall) return { kind: 'stall', delayMs: 0 };
    if (f.throttleEveryN > 0 && this.calls % f.throttleEveryN === 0) return { kind: 'throttle', delayMs };
    if (f.failEveryN > 0 && this.calls % f.failEveryN === 0) return { kind: 'fail', delayMs };
    return { kind: 'none', delayMs };
  }
}

/**
 * The injected-latency sleeps in flight, so a closing simulator can cut them all short at once.
 * Keeping them here (rather than passing a shared AbortSignal to every sleep) means no per-call
 * listener is ever attached to a shared object, however many calls are delayed concurrently.
 */
export class InjectedDelays {
  private readonly pending = new Set<() => void>();
  private cancelled = false;

  /** Waits `ms`; resolves true when the time has passed, false when cancelled (now or later). */
  sleep(ms: number): Promise<boolean> {
    if (this.cancelled) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const finish = (elapsed: boolean): void => {
        clearTimeout(timer);
        this.pending.delete(cancel);
        resolve(elapsed);
      };
      const cancel = (): void => finish(false);
      const timer = setTimeout(() => finish(true), ms);
      this.pending.add(cancel);
    });
  }

  /** How many sleeps are still waiting (each one leaves this set when it ends, either way). */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Ends every pending sleep with false, and every later one immediately (the simulator is closing). */
  cancelAll(): void {
    this.cancelled = true;
    for (const cancel of [...this.pending]) cancel();
  }
}
