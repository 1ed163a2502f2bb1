/**
 * The wall clock in µs since the epoch, for latencies measured across processes (the C load
 * generator's CLOCK_REALTIME, the reference publisher, the subscriber). Date.now() has 1 ms
 * resolution, and performance.timeOrigin + performance.now() may be off by as long as the process
 * was kept from running while Node read its two clocks at start (milliseconds on a busy machine:
 * "received before sent" showed up). So the offset between the monotonic clock and the wall clock is
 * measured here: when Date.now() ticks over to the next millisecond, the tick lies between the
 * previous call and this one, whose times on the monotonic clock are known; of several ticks the one
 * with the narrowest bracket (not descheduled meanwhile) gives the offset, to within a few µs.
 */
function measureOffsetMs(ticks = 30): number {
  let best = { width: Number.POSITIVE_INFINITY, offset: 0 };
  for (let i = 0; i < ticks; i++) {
    let before = performance.now();
    const start = Date.now();
    let previousStart = before;
    let now = start;
    let after = before;
    while (now === start) {
      previousStart = before;
      before = performance.now();
      now = Date.now();
      after = performance.now();
    }
    // The tick came after the previous call to Date.now() began and before this one ended.
    const width = after - previousStart;
    if (width < best.width) best = { width, offset: now - (previousStart + after) / 2 };
  }
  return best.offset;
}

const offsetMs = measureOffsetMs();

/** Wall clock, µs since the epoch (integer). */
export function wallClockUs(): number {
  return Math.round((offsetMs + performance.now()) * 1000);
}
