import { refuseUnsupportedRuntime } from '../build-info/supported-runtime.js';

/** Imported first by main.ts, before any command module loads a native addon (better-sqlite3, koffi). */
refuseUnsupportedRuntime('gatewayctl', 78);
