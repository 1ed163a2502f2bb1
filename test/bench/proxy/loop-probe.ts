/**
 * Where a daemon's latency tail comes from, for the latency bench: preloaded into the daemon
 * (NODE_FLAGS="--import <dist>/test/bench/proxy/loop-probe.js", LOOP_PROBE_OUT=<file>), it records
 * the event loop's delay (perf_hooks.monitorEventLoopDelay, 1 ms resolution) and the GC pauses
 * (PerformanceObserver "gc") between two SIGUSR2: the first starts a window, the second appends the
 * window's figures to LOOP_PROBE_OUT as one JSON line. Not part of the daemon: bench tooling only.
 */
import { appendFileSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

const out = process.env.LOOP_PROBE_OUT;
if (out) {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  let gc = { count: 0, totalMs: 0, maxMs: 0, over5ms: 0 };
  let recording = false;
  let startedAt = 0;
  new PerformanceObserver((list) => {
    if (!recording) return;
    for (const entry of list.getEntries()) {
      gc.count++;
      gc.totalMs += entry.duration;
      gc.maxMs = Math.max(gc.maxMs, entry.duration);
      if (entry.duration > 5) gc.over5ms++;
    }
  }).observe({ entryTypes: ['gc'] });
  const ms = (ns: number) => Math.round(ns / 1e3) / 1e3;
  process.on('SIGUSR2', () => {
    if (!recording) {
      delay.reset();
      delay.enable();
      gc = { count: 0, totalMs: 0, maxMs: 0, over5ms: 0 };
      startedAt = performance.now();
      recording = true;
      return;
    }
    recording = false;
    delay.disable();
    appendFileSync(
      out,
      `${JSON.stringify({
        window_s: Math.round(performance.now() - startedAt) / 1000,
        event_loop_delay_ms: {
          p50: ms(delay.percentile(50)),
          p99: ms(delay.percentile(99)),
          p999: ms(delay.percentile(99.9)),
          max: ms(delay.max),
        },
        gc: { ...gc, totalMs: Math.round(gc.totalMs * 10) / 10, maxMs: Math.round(gc.maxMs * 10) / 10 },
      })}\n`,
    );
  });
}
