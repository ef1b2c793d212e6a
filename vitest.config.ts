import { defineConfig } from 'vitest/config';

// Integration tests share one test bed (started once in globalSetup), so they run in one fork, one file at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    pool: 'forks',
  },
});
