/** [identity.renewal] as the lifecycle uses it. */
export interface RenewalPolicy {
  lifetimeFraction: number;
  daysBeforeExpiry: number;
  jitterFraction: number;
  retryInitialMs: number;
  retryMaxMs: number;
  rebootstrapWhenExpired: boolean;
  /** A request pending at the EST server this long is abandoned for a new one; 0: never. Default 7 days. */
  abandonPendingAfterMs?: number;
}

const DAY_MS = 86_400_000;

/**
 * When to renew a certificate valid from `notBefore` to `notAfter`: at `lifetimeFraction` of its
 * lifetime or `daysBeforeExpiry` before it ends, whichever comes first, minus up to `jitterFraction` of
 * the lifetime (so a fleet enrolled together does not renew together) — but never before half the
 * lifetime: a 30-day certificate with days_before_expiry = 30 would otherwise renew without end.
 */
export function renewalTime(
  notBefore: Date,
  notAfter: Date,
  policy: RenewalPolicy,
  random: () => number = Math.random,
): Date {
  const start = notBefore.getTime();
  const lifetime = Math.max(0, notAfter.getTime() - start);
  const byFraction = start + policy.lifetimeFraction * lifetime;
  const byDays = notAfter.getTime() - policy.daysBeforeExpiry * DAY_MS;
  const jitter = random() * policy.jitterFraction * lifetime;
  return new Date(Math.max(start + lifetime / 2, Math.min(byFraction, byDays) - jitter));
}

/** Exponential backoff with full jitter (AWS architecture blog's "full jitter"): attempt 1, 2, … */
export function retryDelayMs(
  attempt: number,
  policy: RenewalPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.retryMaxMs, policy.retryInitialMs * 2 ** Math.max(0, attempt - 1));
  // Never zero: a server that is down must not be hammered in a tight loop.
  return Math.max(policy.retryInitialMs / 10, Math.round(random() * ceiling));
}
