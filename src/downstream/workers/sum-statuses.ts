import type { SensorEndpointStatus } from '../sensor-endpoint.js';

/**
 * The endpoint's status over all workers: counters and gauges added up (by key, in nested records
 * too), texts and flags from the first worker (they are the same in every worker).
 */
export function sumStatuses(statuses: readonly SensorEndpointStatus[]): SensorEndpointStatus {
  return statuses.reduce((total, status) => sum(total, status) as SensorEndpointStatus);
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
