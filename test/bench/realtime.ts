import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

/**
 * BENCH_LATENCY_RT=1 (root): latency runs give the processes on the measured path SCHED_FIFO
 * (chrt 30), the same for the server under test as for its reference. On a shared machine others'
 * processes otherwise hold a core for milliseconds at a time (run delays of 1-5 s per 5 s window
 * here) and a p99 measures them, not the server. The kernel's RT throttling (sched_rt_runtime_us,
 * 95 % by default) still leaves the rest of the machine a share.
 *
 * Main threads only, and SCHED_RESET_ON_FORK (chrt -R) so threads they start meanwhile are not
 * FIFO: with every thread of the daemon SCHED_FIFO on its one pinned core it answered 1.3k of the
 * 8.8k telemetry messages/s offered (one measured run; presumably threads waiting for one another by
 * spinning, which FIFO never preempts). Other threads (V8's helpers, libuv's pool, workers) stay as
 * they are — for the server under test and its reference alike. Even so a FIFO main thread delays its
 * own process's other threads on a pinned core (in one run the 2.04's fdatasync waited: p50 332 ms),
 * so telemetry-latency.ts leaves the daemon unpinned in this mode.
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
  // A target without a pid (not started by us): no realtime for anyone, rather than an unfair one.
  if (!realtimeLatency || targets.some((target) => !target.pid)) return run();
  // This process without reset-on-fork: the load generator it spawns is meant to inherit FIFO.
  const all: [number, string[]][] = [
    ...targets.map((target): [number, string[]] => [target.pid as number, ['-R']]),
    [process.pid, []],
  ];
  const switched: number[] = [];
  try {
    for (const [pid, flags] of all) {
      if (!chrt(['-f', ...flags, '-p', '30', String(pid)]))
        throw new Error(
          `BENCH_LATENCY_RT=1: chrt -f -p 30 ${pid} failed (needs root or CAP_SYS_NICE, a live process, and an RT budget in its cgroup)`,
        );
      switched.push(pid);
    }
    return await run();
  } finally {
    for (const pid of switched.reverse()) chrt(['-o', '-p', '0', String(pid)]);
  }
}

/**
 * In a child a SCHED_FIFO thread spawned (it inherits the policy on every thread it starts): back to
 * SCHED_OTHER for every thread but the main one, whose later threads start SCHED_OTHER (chrt -R), as
 * realtimeDuring leaves the server's.
 */
export function keepRealtimeToMainThread(): void {
  if (!realtimeLatency) return;
  for (const tid of readdirSync('/proc/self/task')) {
    if (Number(tid) !== process.pid) chrt(['-o', '-p', '0', tid]);
  }
  chrt(['-f', '-R', '-p', '30', String(process.pid)]);
}
