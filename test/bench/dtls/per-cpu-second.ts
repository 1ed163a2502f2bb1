/**
 * The DTLS/CoAP figures of one server per server-CPU-second, under the C load generator
 * (test/bench/load): the load generator reads the server's utime+stime from /proc over its measured
 * window, so a busy shared machine changes the wall rate (reported beside it) more than these.
 */

import { readFileSync } from 'node:fs';
import { holdIdleSessions, type LoadOptions, runLoad } from '../load/index.js';
import { round } from '../measure.js';
import { realtimeDuring, realtimeLatency } from '../realtime.js';
import type { ServerUnderTest } from './servers-under-test.js';

export interface PerCpuSettings {
  /** Length of each measured window, after `warmup` seconds of the same load. */
  seconds: number;
  warmup: number;
  /** Source addresses the handshakes come from (127.0.0.1 .. 127.0.0.K): per-address limits. */
  handshakeAddresses: number;
  /** CoAP requests each session keeps outstanding in the saturated GET runs. */
  window: number;
  /**
   * Server CPU seconds a saturated window gathers at least (it runs past `seconds`, up to 4×): /proc
   * counts in 10 ms ticks, and on a busy machine a short window gets few of them.
   */
  minServerCpu: number;
}

export const DEFAULT_SETTINGS: PerCpuSettings = {
  seconds: Number(process.env.BENCH_DTLS_SECONDS ?? 5),
  warmup: 1,
  handshakeAddresses: Number(process.env.BENCH_DTLS_ADDRESSES ?? 16),
  window: 4,
  minServerCpu: Number(process.env.BENCH_DTLS_MIN_CPU ?? 1),
};

/** The window options of a saturated run. */
function windowOf(settings: PerCpuSettings): LoadOptions {
  return {
    seconds: settings.seconds,
    warmup: settings.warmup,
    'min-server-cpu': settings.minServerCpu,
    'max-seconds': settings.seconds * 4,
  };
}

type Result = Record<string, unknown>;

/** The headline of a load generator result: per server-CPU-second, the wall rate beside it. */
function figures(result: Result, unit: string): Result {
  const { per_server_cpu_s, per_s, server_cpu_s, seconds, ...rest } = result;
  return {
    [`${unit}_per_server_cpu_s`]: per_server_cpu_s,
    [`${unit}_per_wall_s`]: per_s,
    server_cpu_s,
    window_s: seconds,
    ...rest,
  };
}

/** Saturated CoAP GETs from `sessions` sessions; the daemon's own request counter beside ours. */
export async function coapGets(
  server: ServerUnderTest,
  sessions: number,
  settings: PerCpuSettings = DEFAULT_SETTINGS,
  extra: LoadOptions = {},
): Promise<Result> {
  const before = await server.status?.();
  const result = await runLoad('get', server.target, {
    path: server.getPath,
    sessions,
    window: settings.window,
    ...windowOf(settings),
    ...extra,
  });
  const out = figures(result, 'requests');
  const after = await server.status?.();
  const counted = (status: typeof before) => status?.sensorEndpoint?.coap?.requests;
  const startCount = counted(before);
  const endCount = counted(after);
  if (startCount !== undefined && endCount !== undefined)
    // An independent count: what the daemon says it routed, against what the load generator saw answered.
    out.daemon_counted_requests = { routed: endCount - startCount, answered_by_load: result.answered_total };
  return out;
}

/**
 * Saturated authenticated telemetry (POST, answered 2.04 once durable) from `sessions` sessions, one
 * message in flight each as a sensor does; the daemon's own count of stored messages beside ours.
 */
export async function telemetryPosts(
  server: ServerUnderTest,
  sessions: number,
  settings: PerCpuSettings = DEFAULT_SETTINGS,
): Promise<Result> {
  const telemetry = server.telemetry;
  if (!telemetry) return { skipped: `${server.name} takes no telemetry` };
  const before = await server.status?.();
  const result = await runLoad('post', server.target, {
    path: telemetry.path,
    payload: telemetry.payload,
    'content-format': telemetry.contentFormat,
    sessions,
    window: 1,
    ...windowOf(settings),
  });
  const out = figures(result, 'messages');
  const after = await server.status?.();
  const coap = (status: typeof before) => status?.sensorEndpoint?.coap;
  const [start, end] = [coap(before), coap(after)];
  if (start && end)
    out.daemon_counted = {
      stored: end.telemetryAccepted - start.telemetryAccepted,
      already_stored: end.telemetryAlreadyStored - start.telemetryAlreadyStored,
      answered_by_load: result.answered_total,
    };
  return out;
}

/**
 * With BENCH_LATENCY_RT=1 (realtime.ts) the half load is half the saturated rate per
 * server-CPU-second (what the server does with its core, which it now has), not half of the wall rate
 * it got under contention.
 */
export function halfLoadRate(saturated: Result): number {
  return Number(realtimeLatency ? saturated.requests_per_server_cpu_s : saturated.requests_per_wall_s) / 2;
}

/**
 * p50/p99 round trip at a fixed offered rate (half the saturated rate, measured just before),
 * counted from when the schedule meant each request to go (no coordinated omission: a request finding
 * every slot busy waits for one, its wait counted).
 */
export async function latencyAt(
  server: ServerUnderTest,
  ratePerSecond: number,
  settings: PerCpuSettings = DEFAULT_SETTINGS,
): Promise<Result> {
  // The server's main thread only: its other threads (V8's GC helpers, libuv's pool) stay as they are.
  const result = await realtimeDuring([{ pid: server.pid }], () =>
    runLoad('get', server.target, {
      path: server.getPath,
      sessions: 8,
      window: 8,
      rate: Math.max(1, Math.round(ratePerSecond)),
      seconds: settings.seconds,
      warmup: settings.warmup,
    }),
  );
  return {
    ...(realtimeLatency ? { sched_fifo: 'server main thread and load generator' } : {}),
    offered_per_s: result.offered_per_s,
    answered_per_wall_s: result.per_s,
    p50_ms: (result.latency_ms as Result).p50,
    p99_ms: (result.latency_ms as Result).p99,
    max_ms: (result.latency_ms as Result).max,
    // From the write, not the schedule: what a bench without the coordinated-omission fix showed.
    p99_from_send_ms: (result.latency_from_send_ms as Result | undefined)?.p99,
    requests_per_server_cpu_s: result.per_server_cpu_s,
    timeouts: result.timeouts,
    // Requests that waited for a free slot (their latency counts from when they were due).
    offered_but_no_free_slot: result.offered_but_no_free_slot,
    // ms the server / load generator were runnable but waited for a CPU in the window (shared machine).
    run_delay_ms: result.run_delay_ms,
  };
}

/** Back-to-back handshakes, 8 at a time: full ones, or resuming one saved session. */
export async function handshakes(
  server: ServerUnderTest,
  mode: 'handshake' | 'resume',
  settings: PerCpuSettings = DEFAULT_SETTINGS,
): Promise<Result> {
  const result = await runLoad(mode, server.target, {
    concurrency: 8,
    addresses: settings.handshakeAddresses,
    ...windowOf(settings),
  });
  return figures(result, 'handshakes');
}

async function rssAfterGc(server: ServerUnderTest): Promise<number> {
  await server.collectGarbage?.();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
}

/**
 * RSS the server grows by per idle established session, with `count` sessions open, after a warm-up
 * round: best on a fresh server (no heap left grown by heavier load). When the server counts its sessions itself (the
 * daemon), that count divides the growth: the load generator cannot see a session the server dropped
 * without a close_notify.
 */
export async function idleSessionBytes(server: ServerUnderTest, count: number): Promise<Result> {
  const options = { concurrency: 32, addresses: Math.min(250, Math.max(1, Math.ceil(count / 1000))) };
  // A warm-up round (up to 1,000 sessions, opened and closed): a fresh Node heap first grows to
  // hold the handshakes' garbage, which is not what an idle session keeps.
  const warmup = await holdIdleSessions(server.target, { ...options, sessions: Math.min(count, 1000) });
  await warmup.close();
  await new Promise((resolve) => setTimeout(resolve, 2000));
  // With a full GC before each reading (Node servers), RSS is what the process keeps.
  const gcBefore = server.collectGarbage ? await rssAfterGc(server) : undefined;
  const idle = await holdIdleSessions(server.target, { ...options, sessions: count });
  const established = (await server.status?.())?.sensorEndpoint?.sessionsEstablished;
  const gcAfter = server.collectGarbage ? await rssAfterGc(server) : undefined;
  await idle.close();
  const { type: _type, mode: _mode, cipher: _cipher, ...ready } = idle.ready;
  if (gcBefore !== undefined && gcAfter !== undefined) {
    ready.server_rss_no_gc_before_kb = ready.server_rss_before_kb;
    ready.server_rss_no_gc_after_kb = ready.server_rss_after_kb;
    ready.server_rss_before_kb = gcBefore;
    ready.server_rss_after_kb = gcAfter;
    ready.rss_read = 'after a full GC (inspector HeapProfiler.collectGarbage)';
  }
  const growth = (Number(ready.server_rss_after_kb) - Number(ready.server_rss_before_kb)) * 1024;
  const sessions = established ?? Number(ready.sessions);
  const bytes = sessions > 0 ? Math.round(growth / sessions) : null;
  return {
    ...ready,
    ...(established === undefined ? {} : { server_sessions_established: established }),
    server_rss_per_session_bytes: bytes,
    rss_per_session_kb: bytes === null ? null : round(bytes / 1024, 1),
  };
}
