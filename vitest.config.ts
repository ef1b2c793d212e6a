import { defineConfig } from 'vitest/config';

// Two projects: `unit` runs anywhere without a test bed; `integration` shares one real multi-host test bed
// (scripts/testbed.sh, started once by the global setup) and so runs one file at a time in one fork, after the
// unit tests: on a 2-core machine, timing-sensitive SSH tests should not compete with a parallel unit batch.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          sequence: { groupOrder: 0 },
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
          pool: 'forks',
        },
      },
    ],
  },
});
