import { describe, expect, it } from 'vitest';
import { type Stoppable, stopAfterFailedStart } from '../../../src/daemon/failed-start.js';

/**
 * The bound on a failed start's stop. An EST request in flight no longer holds the stop (it is
 * abandoned: daemon-failed-start, daemon-stop-est-in-flight); a part that never answers still could,
 * so a stop that never settles is given up on after daemon.shutdown_timeout_ms.
 */
function daemonWhoseStop(stop: () => Promise<void>): Stoppable & { lines: [string, object][] } {
  const lines: [string, object][] = [];
  const log = { error: (fields: object, message: string) => lines.push([message, fields]) };
  return { lines, log: log as unknown as Stoppable['log'], stop };
}

describe('stopAfterFailedStart', () => {
  it('gives up on a stop that never settles and says so', async () => {
    const daemon = daemonWhoseStop(() => new Promise<void>(() => undefined));
    await stopAfterFailedStart(daemon, 50);
    expect(daemon.lines).toEqual([
      [
        'stopping what had started did not finish within daemon.shutdown_timeout_ms (50 ms); exiting anyway',
        { timeoutMs: 50 },
      ],
    ]);
  });

  it('says nothing when the stop finishes, and logs a stop that fails without rejecting', async () => {
    const finished = daemonWhoseStop(async () => undefined);
    await stopAfterFailedStart(finished, 60_000);
    expect(finished.lines).toEqual([]);

    const failing = daemonWhoseStop(async () => {
      throw new Error('the key store would not close');
    });
    await stopAfterFailedStart(failing, 60_000);
    expect(failing.lines.map(([message]) => message)).toEqual([
      'stopping what had started failed (the key store would not close); exiting anyway',
    ]);
  });
});
