import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

/**
 * BENCH_LATENCY_RT=1 (root): latency runs give the processes on the measured path SCHED_FIFO
 * (chrt 30), the same for the server under test as for its reference. On a shared machine others'
 * processes otherwise hold a core for milliseconds at a time (run delays of 1-5 s per 5 s window
 * here) and a p99 measures them, not the server. The kernel's RT throttling (sched_rt_runtime_us,
 * 95 % by default) still leaves the rest of the machine a share.
 *
 * Main threads only: with every thread of the daemon SCHED_FIFO on its one pinned core it forwarded
 * 1.3k of the 8.8k telemetry messages/s offered, at 1.5k per CPU-second instead of ~12k (measured;
 * presumably threads waiting for one another by spinning, which FIFO never preempts), so other
 * threads (V8's helpers, libuv's pool, workers) stay as they are — for the server under test and its
 * reference alike. Even so a FIFO main thread delays its own process's other threads on a pinned
 * core: telemetry-latency.ts with PIN=0 leaves the daemon unpinned.
 */
export const realtimeLatency = process.env.BENCH_LATENCY_RT === '1';

export interface RealtimeTarget {
  /** The process whose main thread runs SCHED_FIFO (chrt -p affects the thread whose id is `pid`). */
  pid: number | undefined;
}

function chrt(args: string[]): boolean {
  return spawnSync('chrt', args, { stdio: 'ignore' }).status === 0;
}

/**
 * Runs `run` with `targets` and this process's main thread (so what it spawns meanwhile, e.g. the
 * load generator) SCHED_FIFO when BENCH_LATENCY_RT=1; back to SCHED_OTHER afterwards. Without the
 * mode: just `run`.
 */
export async function realtimeDuring<T>(targets: RealtimeTarget[], run: () => Promise<T>): Promise<T> {
  if (!realtimeLatency) return run();
  const all: RealtimeTarget[] = [...targets, { pid: process.pid }];
  const switched: RealtimeTarget[] = [];
  const policy = (target: RealtimeTarget, args: string[]) => chrt([...args, String(target.pid)]);
  try {
    for (const target of all) {
      if (!target.pid) continue;
      if (!policy(target, ['-f', '-p', '30']))
        throw new Error(`BENCH_LATENCY_RT=1 needs chrt(1) and root (CAP_SYS_NICE): pid ${target.pid}`);
      switched.push(target);
    }
    return await run();
  } finally {
    for (const target of switched.reverse()) policy(target, ['-o', '-p', '0']);
  }
}

/**
 * In a child a SCHED_FIFO thread spawned (it inherits the policy on every thread it starts): back to
 * SCHED_OTHER for every thread but the main one, as realtimeDuring leaves the server's.
 */
export function keepRealtimeToMainThread(): void {
  if (!realtimeLatency) return;
  for (const tid of readdirSync('/proc/self/task')) {
    if (Number(tid) !== process.pid) chrt(['-o', '-p', '0', tid]);
  }
}
