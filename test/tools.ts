/**
 * Tools from outside npm that some tests need (age, openssl, promtool, nix-instantiate, cpio, a C
 * compiler, chroot …). A test asks `missingTool(command, debianPackage)` before it uses one:
 * - present → `undefined`, the test runs;
 * - absent → a one-line reason naming the Debian package, for `describe.skipIf(...)` / `it.skipIf(...)`;
 * - absent while ATTESTED_PACK_REQUIRE_TOOLS=1 (set by .ci/run, which installs them) → throws, so
 *   the file fails instead of skipping.
 * Every reason given is attached to the test file (its `skipReasons` meta), so the closing summary
 * of test/summary-reporter.ts can say what was skipped and why.
 */
import { spawnSync } from 'node:child_process';
import { getCurrentSuite } from 'vitest/suite';
import { isVsockAddonAvailable } from '../vsock/index.js';

declare module 'vitest' {
  interface TaskMeta {
    /** Why tests of this file may be skipped (from missingTool / missingVsockAddon / skipReason). */
    skipReasons?: string[];
  }
}

/** The environment variable that turns a missing tool into a failure. */
export const REQUIRE_TOOLS_ENV = 'ATTESTED_PACK_REQUIRE_TOOLS';

const cache = new Map<string, boolean>();

function present(command: string, probeArgs: readonly string[]): boolean {
  const key = `${command}\0${probeArgs.join('\0')}`;
  let ok = cache.get(key);
  if (ok === undefined) {
    // Present = the kernel could execute it. A non-zero exit of the probe (some tools have no
    // --version) still means the tool is there.
    const r = spawnSync(command, [...probeArgs], { stdio: 'ignore', timeout: 10_000 });
    ok = r.error === undefined;
    cache.set(key, ok);
  }
  return ok;
}

function required(): boolean {
  return process.env[REQUIRE_TOOLS_ENV] === '1';
}

/**
 * Records `reason` (when given) on the current test file for the closing summary, and returns it:
 * `describe.skipIf(skipReason(cond ? 'why' : undefined))`. For skips that are not about a tool
 * (no /dev/nsm, not root, blobs not installed …); tools go through missingTool.
 */
export function skipReason(reason: string | undefined): string | undefined {
  if (reason === undefined) return undefined;
  try {
    const file = getCurrentSuite().file;
    if (file !== undefined) {
      const reasons = (file.meta.skipReasons ??= []);
      if (!reasons.includes(reason)) reasons.push(reason);
    }
  } catch {
    // Not inside a vitest run (e.g. imported by a script): nothing to record.
  }
  return reason;
}

/** Why a test needing `command` cannot run here (undefined when it can). */
export function missingTool(command: string, debianPackage: string, probeArgs: readonly string[] = ['--version']): string | undefined {
  if (present(command, probeArgs)) return undefined;
  const reason = `needs \`${command}\` (Debian package ${debianPackage}), not installed`;
  if (required()) {
    throw new Error(`${reason}; ${REQUIRE_TOOLS_ENV}=1 makes it required`);
  }
  return skipReason(reason);
}

/**
 * Why a test needing the compiled AF_VSOCK addon cannot run here (undefined when it loads).
 * `npm ci` builds it when a C compiler, make and python3 are present (vsock/native/build.mjs).
 */
export function missingVsockAddon(): string | undefined {
  if (isVsockAddonAvailable()) return undefined;
  const reason = 'needs the vsock addon, which `npm ci` builds only with a C compiler, make and python3 (Debian packages g++ make python3)';
  if (required()) {
    throw new Error(`${reason}; ${REQUIRE_TOOLS_ENV}=1 makes it required`);
  }
  return skipReason(reason);
}
