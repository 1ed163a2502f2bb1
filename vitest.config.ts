import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/hil/**/*.test.ts'],
    // Integration tests start real processes (the daemon, swtpm, mosquitto): give them room,
    // but never assert on durations; these are only ceilings against hangs.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
