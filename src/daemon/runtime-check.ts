import { refuseUnsupportedRuntime } from '../build-info/supported-runtime.js';

/*
 * Imported first by main.ts, so it runs before any module that loads a native addon (so it imports
 * nothing else: exit-status.ts reaches the store and better-sqlite3). Exits with 78 (EX_CONFIG,
 * EXIT_CONFIG), which the unit does not restart: the machine's runtime is misconfigured, and
 * restarting would not help.
 */
refuseUnsupportedRuntime('edge-gatewayd', 78);
