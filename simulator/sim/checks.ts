/**
 * The simulation's account: each step is one named check with ✔ / ✘ / — and its evidence,
 * recorded as the run goes so a failure shows exactly how far the chain got.
 */
import { isAttestedPackError } from '../../common/errors.js';

export type SimCheckStatus = 'pass' | 'fail' | 'skipped';

/** One line of the account. */
export interface SimCheck {
  /** Stable machine name, e.g. `kms-simulator`, `pack`, `verify-receipt:attestation`. */
  name: string;
  /** What a person reads in front of the evidence. */
  title: string;
  status: SimCheckStatus;
  /** What was shown (or why it failed). */
  evidence: string;
  /** The error code when it failed. */
  code?: string;
  /** Milliseconds the step took. */
  ms?: number;
}

/** Collects checks in order and reports progress lines for the slow steps. */
export class CheckRecorder {
  readonly checks: SimCheck[] = [];

  constructor(private readonly progress: (line: string) => void = () => undefined) {}

  /** Prints one progress line (stderr in the CLI). */
  note(line: string): void {
    this.progress(line);
  }

  /** Adds a finished check. */
  add(check: SimCheck): SimCheck {
    this.checks.push(check);
    return check;
  }

  /**
   * Runs one step: records ✔ with the evidence `fn` returns, or ✘ with the error's code and
   * message, and rethrows so the run stops there.
   */
  async step<T>(name: string, title: string, fn: () => Promise<{ value: T; evidence: string }>, slow?: string): Promise<T> {
    if (slow) this.progress(`${slow}…`);
    const started = Date.now();
    try {
      const { value, evidence } = await fn();
      this.add({ name, title, status: 'pass', evidence, ms: Date.now() - started });
      return value;
    } catch (err) {
      this.fail(name, title, err, Date.now() - started);
      throw err;
    }
  }

  /** Records a failed check from an error (message and code only: errors never carry secrets). */
  fail(name: string, title: string, err: unknown, ms?: number): SimCheck {
    const code = isAttestedPackError(err) ? err.code : 'INTERNAL';
    const message = isAttestedPackError(err) ? err.message : 'unexpected error';
    return this.add({ name, title, status: 'fail', evidence: message, code, ...(ms === undefined ? {} : { ms }) });
  }

  get ok(): boolean {
    return this.checks.length > 0 && this.checks.every((c) => c.status !== 'fail');
  }
}
