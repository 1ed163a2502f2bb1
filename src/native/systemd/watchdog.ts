/**
 * The watchdog interval systemd asks for (WatchdogSec= → WATCHDOG_USEC), as sd_watchdog_enabled(3)
 * reads it: ignored when WATCHDOG_PID names another process. Returns microseconds, or undefined.
 */
export function watchdogIntervalUsec(
  env: NodeJS.ProcessEnv = process.env,
  pid = process.pid,
): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isSafeInteger(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return usec;
}
