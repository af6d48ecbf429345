/** Builds dist/ once before the suite, so tests that spawn the CLIs run the current code. */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  // git is not optional: the pack client reads its inputs from git and verify-receipt checks the
  // source commit with it, so most suites need it. Say so once instead of failing in a hundred places.
  if (spawnSync('git', ['--version'], { stdio: 'ignore' }).error !== undefined) {
    throw new Error('npm test needs `git` (Debian package git): the pack client and verify-receipt run it');
  }
  const root = fileURLToPath(new URL('..', import.meta.url));
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
}
