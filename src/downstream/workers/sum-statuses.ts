/**
 * A status over all workers (the endpoint's, trust's verdicts): counters and gauges added up (by key,
 * in nested records too), texts and flags from the first worker (they are the same in every worker).
 */
export function sumStatuses<T>(statuses: readonly T[]): T {
  return statuses.reduce((total, status) => sum(total, status) as T);
}

function sum(a: unknown, b: unknown): unknown {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (a === undefined) return b;
  if (isRecord(a) && isRecord(b)) {
    const out: Record<string, unknown> = { ...a };
    for (const [key, value] of Object.entries(b)) out[key] = sum(a[key], value);
    return out;
  }
  return a;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}
