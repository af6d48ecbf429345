/**
 * Prints, after vitest's own summary, what was skipped and why (reason → number of tests), then
 * the plain closing line `tests: N passed, N failed, N skipped` that CI reads. It is the last line.
 *
 * "failed" counts failed tests and every failure that is not a test: a file that could not be
 * collected, a hook that threw (vitest then reports the suite's tests as skipped), an unhandled
 * error or rejection. A run that vitest ends as failed never prints "0 failed".
 *
 * Skip reasons come from `ctx.skip(note)` and from the `skipReasons` a test file recorded through
 * test/tools.ts (missingTool, missingVsockAddon, skipReason); other skips are listed by file.
 */
import type { SerializedError } from 'vitest';
import type { Reporter, TestCase, TestModule, TestRunEndReason } from 'vitest/node';

/** True when a hook of the test's file or of one of its suites threw (so the test never ran). */
function hookFailedAbove(t: TestCase): boolean {
  for (let p: TestCase['parent'] | undefined = t.parent; p !== undefined; p = p.type === 'module' ? undefined : p.parent) {
    if (p.errors().length > 0) return true;
  }
  return false;
}

/** One count line per reason, most frequent first. */
function skipLines(groups: Map<string, number>): string[] {
  const width = String(Math.max(0, ...groups.values())).length;
  return [...groups]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([reason, n]) => `  ${String(n).padStart(width)}  ${reason}`);
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError> = [], reason?: TestRunEndReason): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const skips = new Map<string, number>();
    const skip = (why: string): void => {
      skipped++;
      skips.set(why, (skips.get(why) ?? 0) + 1);
    };

    for (const m of testModules) {
      const fileReasons = m.meta().skipReasons ?? [];
      let failuresHere = 0;
      for (const t of m.children.allTests()) {
        const result = t.result();
        if (result.state === 'passed') passed++;
        else if (result.state === 'failed') failuresHere++;
        else if (result.state === 'skipped' && result.note) skip(result.note);
        else if (hookFailedAbove(t)) skip(`${m.relativeModuleId}: not run, a hook above it threw (counted as failed)`);
        else if (fileReasons.length > 0) skip(fileReasons.join('; '));
        else skip(`${m.relativeModuleId}: ${t.options.mode === 'todo' ? 'todo' : 'skipped, no reason recorded'}`);
      }
      // Errors outside any test: collection (the file could not load) and hooks of the file or a suite.
      failuresHere += m.errors().length;
      for (const s of m.children.allSuites()) failuresHere += s.errors().length;
      if (failuresHere === 0 && m.state() === 'failed') failuresHere = 1;
      failed += failuresHere;
    }
    failed += unhandledErrors.length;
    if (failed === 0 && (reason === 'failed' || reason === 'interrupted')) failed = 1;

    const lines: string[] = [''];
    if (skips.size > 0) lines.push(`skipped (${skipped}), by reason:`, ...skipLines(skips));
    lines.push(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
    process.stdout.write(lines.join('\n') + '\n');
  }
}
