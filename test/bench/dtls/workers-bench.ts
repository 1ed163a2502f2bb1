/**
 * `BENCH_DTLS_WORKERS=1,2 npm run bench -- dtls` (BENCH_DTLS_ONLY=workers for this section alone):
 * the daemon with downstream.dtls.workers = N (dedicated software server key), saturated CoAP GET
 * /time from many sessions (many source ports: the kernel's SO_REUSEPORT hash spreads them), per
 * daemon-CPU-second (the load generator reads the whole process's utime+stime) and per wall second,
 * and each thread's CPU seconds over the window (/proc/<pid>/task/<tid>/stat, by thread name:
 * "MainThread", "sensor-worker-<i>") with the requests each worker served (its own counter).
 * On a 2-core machine the load generator takes one core: the figure there is the CPU per worker and
 * the requests per worker-CPU-second, not the wall throughput.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rotated } from '../rounds.js';
import { coapGets, DEFAULT_SETTINGS, telemetryPosts } from './per-cpu-second.js';
import { type ServerUnderTest, startGateway } from './servers-under-test.js';

/** BENCH_DTLS_NODE_FLAGS="--cpu-prof --cpu-prof-dir=…": a profile per thread (main and each worker). */
const nodeFlags = (process.env.BENCH_DTLS_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const cores = process.env.BENCH_DTLS_WORKERS_CORES;
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime+stime seconds of each thread of `pid`, by thread name (several of a name are added). */
function threadCpu(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Fields after the name start at field 3 (state): utime is field 14, stime 15.
      const seconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
      const key = /^sensor-worker/.test(name) || name === 'MainThread' ? name : 'other threads';
      out[key] = (out[key] ?? 0) + seconds;
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

interface WorkerFigures {
  index: number;
  requests: number;
  telemetryAccepted: number;
  cpuSeconds: number;
}

type Result = Record<string, unknown>;

/** One load on `server`: its result, each thread's CPU seconds and each worker's share over the run. */
async function measured(
  server: ServerUnderTest,
  load: () => Promise<Result>,
  counter: (worker: WorkerFigures) => number,
): Promise<Result> {
  const pid = server.pid as number;
  const workersOf = async () =>
    ((await server.status?.())?.sensorEndpoint as { workers?: WorkerFigures[] } | null)?.workers ?? [];
  const threadsBefore = threadCpu(pid);
  const before = await workersOf();
  const result = await load();
  const threadsAfter = threadCpu(pid);
  const after = await workersOf();
  const threads = Object.fromEntries(
    Object.entries(threadsAfter).map(([name, seconds]) => [
      name,
      Math.round((seconds - (threadsBefore[name] ?? 0)) * 100) / 100,
    ]),
  );
  const perWorker = after.map((worker) => {
    const earlier = before.find((b) => b.index === worker.index);
    const done = counter(worker) - (earlier ? counter(earlier) : 0);
    const cpu = worker.cpuSeconds - (earlier?.cpuSeconds ?? 0);
    return {
      worker: worker.index,
      done,
      cpu_s: Math.round(cpu * 100) / 100,
      per_worker_cpu_s: cpu > 0 ? Math.round(done / cpu) : null,
    };
  });
  return { ...result, thread_cpu_s: threads, per_worker: perWorker };
}

/**
 * Rounds alternate the counts (1,2,1,2: the busy machine drifts between rounds, so each count is
 * measured more than once, in the same run); within a round the builds' order rotates.
 */
export async function benchWorkers(
  counts: readonly number[],
  sessions = Number(process.env.BENCH_DTLS_WORKER_SESSIONS ?? 32),
): Promise<Record<string, unknown>> {
  const out: Record<string, Result[]> = {};
  // BENCH_DTLS_WORKER_BUILDS=<worktree root>,…: those builds' daemons too, alternating (same run).
  const builds = (process.env.BENCH_DTLS_WORKER_BUILDS ?? '').split(',').filter(Boolean);
  const entries: (string | undefined)[] = [
    undefined,
    ...builds.map((root) => join(root, 'dist/src/daemon/main.js')),
  ];
  // The builds' order rotates from round to round (rounds.ts): whoever ran first was seen to win.
  for (const [r, count] of counts.entries())
    for (const [b, entry] of rotated([...entries.entries()], r)) {
      process.stderr.write(
        `  dtls: daemon with workers = ${count}, ${sessions} sessions: GET /time, POST /telemetry\n`,
      );
      const server = await startGateway(nodeFlags, false, 'file', entry, `workers = ${count}\n`);
      // BENCH_DTLS_WORKERS_CORES=0,1: the daemon's threads may use these cores (the load generator
      // stays on core 1): a wall-clock figure of the scaling, on a machine with cores to spare.
      if (cores) execFileSync('taskset', ['-a', '-p', '-c', cores, String(server.pid)], { stdio: 'ignore' });
      try {
        const get = await measured(
          server,
          () => coapGets(server, sessions, DEFAULT_SETTINGS),
          (w) => w.requests,
        );
        const post = await measured(
          server,
          () => telemetryPosts(server, sessions, DEFAULT_SETTINGS),
          (w) => w.telemetryAccepted,
        );
        const key = `workers_${count}${b === 0 ? '' : `_build${b}`}`;
        out[key] = [...(out[key] ?? []), { get, post }];
      } finally {
        await server.stop();
      }
    }
  return out;
}
