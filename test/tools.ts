/**
 * Tools from outside npm that some tests need (age, openssl, promtool, nix-instantiate, cpio, a C
 * compiler, chroot …). A test asks `missingTool(command, debianPackage)` before it uses one:
 * - present → `undefined`, the test runs;
 * - absent → a one-line reason naming the Debian package, for `describe.skipIf(...)` / `it.skipIf(...)`;
 * - absent while ATTESTED_PACK_REQUIRE_TOOLS=1 (set by .ci/run, which installs them) → throws, so
 *   the file fails instead of skipping.
 */
import { spawnSync } from 'node:child_process';

const cache = new Map<string, boolean>();

function present(command: string, probeArgs: readonly string[]): boolean {
  const key = `${command}\0${probeArgs.join('\0')}`;
  let ok = cache.get(key);
  if (ok === undefined) {
    const r = spawnSync(command, [...probeArgs], { stdio: 'ignore', timeout: 10_000 });
    ok = r.error === undefined;
    cache.set(key, ok);
  }
  return ok;
}

/** Why a test needing `command` cannot run here (undefined when it can). */
export function missingTool(command: string, debianPackage: string, probeArgs: readonly string[] = ['--version']): string | undefined {
  if (present(command, probeArgs)) return undefined;
  const reason = `needs \`${command}\` (Debian package ${debianPackage}), not installed`;
  if (process.env.ATTESTED_PACK_REQUIRE_TOOLS === '1') {
    throw new Error(`${reason}; ATTESTED_PACK_REQUIRE_TOOLS=1 makes it required`);
  }
  return reason;
}
