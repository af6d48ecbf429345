import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default', './test/summary-reporter.ts'],
    // Tests make throwaway git repositories; they must not depend on the machine's git identity.
    env: {
      GIT_AUTHOR_NAME: 'attested-pack tests',
      GIT_AUTHOR_EMAIL: 'tests@attested-pack.invalid',
      GIT_COMMITTER_NAME: 'attested-pack tests',
      GIT_COMMITTER_EMAIL: 'tests@attested-pack.invalid',
    },
  },
});
