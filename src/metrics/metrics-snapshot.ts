import type { DaemonStatus } from '../control/index.js';
import type { ClockFloor } from '../trust/index.js';

/**
 * What one scrape reads: the daemon's own status (the figures `gatewayctl status --json` shows,
 * summed over sensor workers) taken once, so every metric of a scrape comes from the same moment
 * and nothing is counted twice or on the data path.
 */
export interface MetricsSnapshot {
  status: DaemonStatus;
  clock: ReturnType<ClockFloor['status']> | null;
  /** created_at (Unix ms) of the oldest committed outbox row, null when the outbox is empty or off. */
  outboxOldestAt: number | null;
  /** The identity lifecycle's events since start (IdentityLifecycle.eventCounts), {} without EST. */
  identityEvents: Readonly<Record<string, number>>;
  /** Unix ms the snapshot was taken at (system clock). */
  now: number;
}
