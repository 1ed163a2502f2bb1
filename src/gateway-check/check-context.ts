import type { Config } from '../config/index.js';
import type { DaemonStatus } from '../control/index.js';
import type { Store } from '../store/index.js';
import type { ClockFloorStatus } from '../trust/clock-floor.js';

/** What the checks look at: the config, and either the running daemon's status or the state database. */
export interface CheckContext {
  config: Config;
  configPath: string;
  /** The running daemon's status over the control socket; undefined when it is not running. */
  daemon: DaemonStatus | undefined;
  /** The state database, opened read-only by check itself only when the daemon is not running and it is sound. */
  store: Store | undefined;
  /** Why the checks that read the state database say n/a when `store` is undefined without the daemon. */
  stateUnreadable: string;
  /** The clock floor as the daemon (clock.status) or the state database sees it. */
  clock: ClockFloorStatus | undefined;
  now: Date;
  /** A certificate with fewer days left than this warns. */
  expiryWarnDays: number;
  /** A simulated identity key passes (HIL rigs, development boxes) instead of warning. */
  allowSimulated: boolean;
}
