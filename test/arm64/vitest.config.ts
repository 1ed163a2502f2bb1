import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * `npm run test:arm64` only (the main config does not include test/arm64): the gateway's own processes
 * run as arm64 code under QEMU from the tree scripts/setup-arm64.sh prepares; the peers stay native.
 */
export default defineConfig({
  test: {
    root,
    include: ['test/arm64/**/*.test.ts'],
    env: { EDGE_GATEWAYD_TEST_RUNTIME: `${root}build/arm64` },
    // Emulation is 5–20× slower: ceilings against hangs only, never duration assertions.
    testTimeout: 600_000,
    hookTimeout: 900_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
