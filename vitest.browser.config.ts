import { defineConfig } from 'vitest/config';

/**
 * `npm run test:browser`: pages tested in a real headless Chromium (Debian's `chromium`, at
 * /usr/bin/chromium or $RAFTKV_CHROMIUM), driven by playwright-core. `.ci/run` installs the
 * browser first; without it every test fails naming what is missing. Screenshots go to
 * $RAFTKV_BROWSER_ARTIFACTS (default: ci-artifacts/browser). One file at a time: each test owns a
 * cluster or a chaos run, and the machine has few cores.
 */
export default defineConfig({
  test: {
    setupFiles: ['test/support/remove-temp-dirs.ts'],
    include: ['test/browser/**/*.test.ts'],
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 5 * 60_000,
    hookTimeout: 2 * 60_000,
    reporters: ['verbose'],
  },
});
