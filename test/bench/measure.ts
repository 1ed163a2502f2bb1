import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface LatencyFigures {
  operations: number;
  ops_per_s: number;
  p50_ms: number;
  p99_ms: number;
}

/** Runs `operation` sequentially `count` times (after `warmup` runs) and reports throughput and latency. */
export async function measureLatency(
  operation: () => unknown | Promise<unknown>,
  count: number,
  warmup = Math.min(20, count),
): Promise<LatencyFigures> {
  for (let i = 0; i < warmup; i++) await operation();
  const samples: number[] = [];
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await operation();
    samples.push(performance.now() - t0);
  }
  const elapsed = performance.now() - started;
  samples.sort((a, b) => a - b);
  const at = (q: number) => round(samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0);
  return { operations: count, ops_per_s: round((count / elapsed) * 1000), p50_ms: at(0.5), p99_ms: at(0.99) };
}

/** Event-loop delay (max and p99, ms) observed while `work` runs: how much the main thread was held up. */
export async function eventLoopDelayDuring(
  work: () => Promise<unknown>,
): Promise<{ p99_ms: number; max_ms: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  await work();
  histogram.disable();
  return { p99_ms: round(histogram.percentile(99) / 1e6), max_ms: round(histogram.max / 1e6) };
}

export function round(value: number, digits = 3): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
