import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // One process runs every file in turn (vitest starts one fork on a 2-core machine anyway): a fresh
    // process per file cost about 50 s of the run in startup and module loading. Every test closes what
    // it starts (the Stack in test/helpers), which is what sharing a process needs.
    poolOptions: { forks: { isolate: false } },
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
