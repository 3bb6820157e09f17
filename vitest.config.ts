import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    setupFiles: ['test/support/remove-temp-dirs.ts'],
    include: ['test/**/*.test.ts'],
    // The Docker-based chaos suite runs with `npm run test:chaos`, the headless-Chromium tests
    // with `npm run test:browser` (vitest.browser.config.ts), not here.
    exclude: ['test/chaos-suite/**', 'test/browser/**', 'node_modules/**'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
