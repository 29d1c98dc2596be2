import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/helpers/setup.ts'],
    globalSetup: ['test/helpers/tmp.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each test file starts its own worker pools; two files at a time matches the 2-core machine.
    maxWorkers: 2,
  },
});
