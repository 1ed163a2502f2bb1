import { readFileSync } from 'node:fs';
import { round } from '../measure.js';

/** Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ: 100 on every Linux ABI). */
const TICKS_PER_SECOND = 100;

/** CPU seconds (all threads) a process has used so far, in user space and in the kernel; 0 once it is gone. */
export function cpuSeconds(pid: number | undefined): { user: number; kernel: number } {
  if (!pid) return { user: 0, kernel: 0 };
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) / TICKS_PER_SECOND, kernel: Number(fields[12]) / TICKS_PER_SECOND };
  } catch {
    return { user: 0, kernel: 0 };
  }
}

/** VmRSS (now) and VmHWM (peak) of a process, in MB; zeros once it is gone. */
export function memoryMb(pid: number | undefined): { rss_mb: number; rss_peak_mb: number } {
  if (!pid) return { rss_mb: 0, rss_peak_mb: 0 };
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
    return { rss_mb: round(kb('VmRSS') / 1024, 1), rss_peak_mb: round(kb('VmHWM') / 1024, 1) };
  } catch {
    return { rss_mb: 0, rss_peak_mb: 0 };
  }
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat. */
function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((sum, value) => sum + value, 0);
  // idle + iowait are the time no process ran.
  return (total - (ticks[3] ?? 0) - (ticks[4] ?? 0)) / TICKS_PER_SECOND;
}

/**
 * Who used the cores over an interval: start() takes the processes' CPU counters, stop() returns
 * each one's share in cores (1.0 = one core busy all the time), the machine's and the rest's.
 */
export class CpuShares {
  readonly #pids: Record<string, number | undefined>;
  readonly #kernelOf: readonly string[];
  #startedAt = 0;
  #start: Record<string, { user: number; kernel: number }> = {};
  #machineBusy = 0;

  /** `kernelOf`: the processes whose kernel share (system calls: sockets, fsync) is reported apart too. */
  constructor(pids: Record<string, number | undefined>, kernelOf: readonly string[] = []) {
    this.#pids = pids;
    this.#kernelOf = kernelOf;
  }

  start(): this {
    this.#startedAt = performance.now();
    this.#start = this.#sample();
    this.#machineBusy = machineBusySeconds();
    return this;
  }

  stop(): Record<string, number> {
    const wallSeconds = (performance.now() - this.#startedAt) / 1000;
    const end = this.#sample();
    const shares: Record<string, number> = {};
    let ours = 0;
    for (const name of Object.keys(this.#pids)) {
      const before = this.#start[name] ?? { user: 0, kernel: 0 };
      const after = end[name] ?? { user: 0, kernel: 0 };
      const kernel = (after.kernel - before.kernel) / wallSeconds;
      const cores = (after.user - before.user) / wallSeconds + kernel;
      ours += cores;
      shares[`${name}_cores`] = round(cores, 2);
      if (this.#kernelOf.includes(name)) shares[`${name}_kernel_cores`] = round(kernel, 2);
    }
    const busyCores = (machineBusySeconds() - this.#machineBusy) / wallSeconds;
    shares.machine_busy_cores = round(busyCores, 2);
    // Anything else on the machine (other users' jobs, the kernel's own threads): it skews the figures.
    shares.other_processes_cores = round(Math.max(0, busyCores - ours), 2);
    return shares;
  }

  #sample(): Record<string, { user: number; kernel: number }> {
    return Object.fromEntries(Object.entries(this.#pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
  }
}
