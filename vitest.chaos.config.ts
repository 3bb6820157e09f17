import { defineConfig } from 'vitest/config';

/**
 * `npm run test:chaos`: the chaos suite on the docker backend (test/chaos-suite/). It needs, as
 * root, a Docker engine and the node image (see chaos/README.md); without them every test fails
 * with what is missing. Runs one file and one test at a time: each test owns a whole cluster,
 * and the machine has few cores.
 */
export default defineConfig({
  test: {
    setupFiles: ['test/support/remove-temp-dirs.ts'],
    include: ['test/chaos-suite/**/*.test.ts'],
    fileParallelism: false,
    maxWorkers: 1,
    sequence: { concurrent: false },
    // A 50 s run, its start, recovery, checks and cleanup, on a loaded machine.
    testTimeout: 10 * 60_000,
    hookTimeout: 2 * 60_000,
    reporters: ['verbose'],
  },
});
