/**
 * The wait before retry number `attempt` (0 = the first retry): exponential backoff with full
 * jitter, drawn uniformly between `initialMs` and min(`maxMs`, `initialMs` · 2^attempt), so a fleet
 * of gateways that lost their CA at the same moment does not come back in step.
 */
export function retryDelayMs(
  attempt: number,
  initialMs: number,
  maxMs: number,
  random: () => number,
): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 52));
  const floor = Math.min(initialMs, ceiling);
  return Math.round(floor + random() * (ceiling - floor));
}
