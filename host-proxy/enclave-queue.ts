/**
 * The bounded queue in front of the enclave: at most `concurrency` requests in flight, at most
 * `maxQueued` waiting; beyond that callers get QUEUE_FULL (503 + Retry-After) at once instead
 * of piling up. `drain()` resolves when nothing is in flight or waiting (graceful shutdown).
 */
import { HostProxyError } from './errors.js';

/** Observes queue changes (metrics). */
export type QueueObserver = (state: { inFlight: number; queued: number }) => void;

interface Waiter {
  start: () => void;
  abort: (err: HostProxyError) => void;
}

/** A concurrency limiter with a bounded wait queue. */
export class EnclaveQueue {
  private active = 0;
  private readonly waiting: Waiter[] = [];
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly concurrency: number,
    private readonly maxQueued: number,
    private readonly retryAfterSeconds: number,
    private readonly observe: QueueObserver = () => undefined,
  ) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Runs `task` when a slot is free. Rejects with QUEUE_FULL when the queue is full, and with
   * REQUEST_TIMEOUT when `signal` aborts before the task started (a started task is not cut off
   * here: the enclave request carries its own timeout).
   */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal | (() => AbortSignal)): Promise<T> {
    // A factory is called only when the task has to wait: most never do, and a timer each costs.
    if (this.active >= this.concurrency) await this.wait(typeof signal === 'function' ? signal() : signal);
    else this.active += 1;
    this.notify();
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private wait(signal: AbortSignal | undefined): Promise<void> {
    if (this.waiting.length >= this.maxQueued) {
      return Promise.reject(
        new HostProxyError('QUEUE_FULL', `the enclave is busy (${this.active} in flight, ${this.waiting.length} waiting)`, {
          hint: 'retry after the Retry-After delay',
          retryAfterSeconds: this.retryAfterSeconds,
        }),
      );
    }
    if (signal?.aborted) return Promise.reject(timeoutError(this.retryAfterSeconds));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => waiter.abort(timeoutError(this.retryAfterSeconds));
      const waiter: Waiter = {
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        abort: (err) => {
          const i = this.waiting.indexOf(waiter);
          if (i >= 0) this.waiting.splice(i, 1);
          signal?.removeEventListener('abort', onAbort);
          this.notify();
          this.checkIdle();
          reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
      this.notify();
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    // The slot passes straight to the next waiter, so `active` stays the same.
    if (next) next.start();
    else this.active -= 1;
    this.notify();
    this.checkIdle();
  }

  /** Resolves once nothing is in flight or queued. */
  drain(): Promise<void> {
    if (this.active === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private checkIdle(): void {
    if (this.active === 0 && this.waiting.length === 0 && this.idleWaiters.length > 0) {
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of ws) w();
    }
  }

  private notify(): void {
    this.observe({ inFlight: this.active, queued: this.waiting.length });
  }
}

function timeoutError(retryAfterSeconds: number): HostProxyError {
  return new HostProxyError('REQUEST_TIMEOUT', 'the request timed out waiting for the enclave', {
    hint: 'the proxy is overloaded; retry after the Retry-After delay',
    retryAfterSeconds,
  });
}
