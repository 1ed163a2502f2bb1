import type { Logger } from './logger.js';

/** What stopAfterFailedStart needs of the daemon. */
export interface Stoppable {
  readonly log: Logger;
  stop(reason: string): Promise<void>;
}

/**
 * After start() failed: stops what it had started (worker threads, sockets, the MQTT client, the
 * EST lifecycle, the database) through the daemon's graceful stop, waiting at most `timeoutMs`
 * (daemon.shutdown_timeout_ms). The caller exits next with the failure's status: under systemd a
 * failed start must end the process, so the unit fails (and restarts) instead of sitting in
 * "activating" until TimeoutStartSec. A stop that hangs (a device that never answers; an EST request
 * in flight is abandoned by the stop itself) is given up on, never waited for; one that fails is
 * logged. Never rejects.
 */
export async function stopAfterFailedStart(daemon: Stoppable, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  // Kept referenced: when the stop hangs on nothing that holds the loop, the timer still ends it.
  const deadline = new Promise<'timed-out'>((resolve) => {
    timer = setTimeout(() => resolve('timed-out'), timeoutMs);
  });
  try {
    const outcome = await Promise.race([
      daemon.stop('start-up failed').then(() => 'stopped' as const),
      deadline,
    ]);
    if (outcome === 'timed-out') {
      daemon.log.error(
        { timeoutMs },
        `stopping what had started did not finish within daemon.shutdown_timeout_ms (${timeoutMs} ms); exiting anyway`,
      );
    }
  } catch (error) {
    daemon.log.error(
      { err: error },
      `stopping what had started failed (${error instanceof Error ? error.message : String(error)}); exiting anyway`,
    );
  } finally {
    clearTimeout(timer);
  }
}
