import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'test/unit/**/*.test.ts',
      'test/integration/**/*.test.ts',
      'test/hil/**/*.test.ts',
      // The unit under a real systemd in a throwaway container (skipped, with the reason printed,
      // where the machine cannot boot one).
      'test/system/**/*.test.ts',
      // x509-limbo through the sensor path validator, ratcheted on its recorded baseline.
      'test/limbo/**/*.test.ts',
      // The sensor endpoint's fuzzer, 20,000 inputs against the built daemon.
      'test/fuzz/**/*.test.ts',
    ],
    // Integration tests start real processes (the daemon, swtpm, mosquitto): give them room,
    // but never assert on durations; these are only ceilings against hangs.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
