/**
 * The daemon's CoAP GETs (/time) per daemon-CPU-second and its round-trip latency at half the
 * saturated rate, measured in alternating rounds under the C load generator so that every build (and
 * libcoap beside them) sees the same machine load. Latency counts from when the load generator's
 * schedule meant each request to go (no coordinated omission); each round's server run delay (time
 * runnable but waiting for a CPU) is printed beside its p99.
 *
 *   node dist/test/bench/dtls/daemon-get-cpu.js [rounds]
 *
 * BUILDS=/tmp/wt-x (comma list of repository roots with a built dist/) adds those builds' daemons;
 * THIS=0 leaves this build out; VARIANT_FLAGS (node flags, e.g. "--max-semi-space-size=16") adds this
 * build once more with them; LIBCOAP=1 adds coap-server-openssl; SESSIONS (8), WINDOW (outstanding requests per session, 4);
 * LATENCY=0 skips the fixed-rate runs; BENCH_LATENCY_RT=1 (root) runs them with the server's main thread and the
 * load generator SCHED_FIFO, at half the saturated rate per server-CPU-second (per-cpu-second.ts); NODE_FLAGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") goes
 * to every daemon.
 */
import { join } from 'node:path';
import { makeDtlsPki } from '../../helpers/dtls-pki.js';
import { round } from '../measure.js';
import { inRotatingRounds, type RoundRecord, summarizeRounds } from '../rounds.js';
import { coapGets, DEFAULT_SETTINGS, halfLoadRate, latencyAt } from './per-cpu-second.js';
import { type ServerUnderTest, startGateway, startLibcoap } from './servers-under-test.js';

const rounds = Number(process.argv[2] ?? 3);
const sessions = Number(process.env.SESSIONS ?? 8);
const nodeFlags = (process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean);
const settings = {
  ...DEFAULT_SETTINGS,
  seconds: Number(process.env.BENCH_DTLS_SECONDS ?? 3),
  window: Number(process.env.WINDOW ?? 4),
};
const withLatency = process.env.LATENCY !== '0';

interface Entry {
  name: string;
  server: ServerUnderTest;
  requests: number;
  cpu: number;
  p99: number[];
  p50: number[];
  halfLoadPerCpu: number[];
  /** Per half-load round: ms the server was runnable but waited for a CPU (others' load on the machine). */
  runDelay: number[];
}

const pki = makeDtlsPki();
const entries: Entry[] = [];
let records: RoundRecord<Record<string, number>>[] = [];
const add = (name: string, server: ServerUnderTest) =>
  entries.push({ name, server, requests: 0, cpu: 0, p99: [], p50: [], halfLoadPerCpu: [], runDelay: [] });
try {
  if (process.env.THIS !== '0') add('gateway (this build)', await startGateway(nodeFlags));
  const variant = (process.env.VARIANT_FLAGS ?? '').split(' ').filter(Boolean);
  if (variant.length > 0)
    add(`gateway (this build) ${variant.join(' ')}`, await startGateway([...nodeFlags, ...variant]));
  for (const build of (process.env.BUILDS ?? '').split(',').filter(Boolean)) {
    add(
      `gateway ${build}`,
      await startGateway(nodeFlags, false, 'identity', join(build, 'dist/src/daemon/main.js')),
    );
  }
  if (process.env.LIBCOAP === '1') add('libcoap coap-server-openssl', await startLibcoap(pki));
  // Round r starts with contender r mod n: whoever ran first in a round was seen to win.
  records = await inRotatingRounds(
    entries,
    rounds,
    (entry) => entry.name,
    async (entry) => {
      const result = await coapGets(entry.server, sessions, settings);
      entry.requests += Number(result.succeeded ?? 0);
      entry.cpu += Number(result.server_cpu_s);
      process.stderr.write(`  ${entry.name} get: ${JSON.stringify(result)}\n`);
      const figures: Record<string, number> = {
        requests_per_server_cpu_s: round(Number(result.succeeded ?? 0) / Number(result.server_cpu_s), 0),
      };
      if (!withLatency) return figures;
      const latency = await latencyAt(entry.server, halfLoadRate(result), settings);
      entry.p99.push(Number(latency.p99_ms));
      entry.p50.push(Number(latency.p50_ms));
      entry.halfLoadPerCpu.push(Number(latency.requests_per_server_cpu_s));
      entry.runDelay.push(Number((latency.run_delay_ms as { server?: number } | undefined)?.server));
      process.stderr.write(`  ${entry.name} half load: ${JSON.stringify(latency)}\n`);
      return { ...figures, half_load_p99_ms: Number(latency.p99_ms) };
    },
  );
} finally {
  for (const entry of entries) await entry.server.stop();
  pki.remove();
}
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? null : sorted[Math.floor(sorted.length / 2)];
};
const reference = entries[0]?.name ?? '';
const perRound = summarizeRounds(records, reference, (figures) => figures);
const out: Record<string, unknown> = {
  sessions,
  window: settings.window,
  rounds: records.map(({ round, order }) => ({ round, order })),
  reference,
};
for (const entry of entries) {
  const ratio = perRound[entry.name]?.requests_per_server_cpu_s?.paired_ratio;
  out[entry.name] = {
    requests_per_server_cpu_s: round(entry.requests / entry.cpu, 0),
    median_requests_per_server_cpu_s: perRound[entry.name]?.requests_per_server_cpu_s?.median ?? null,
    // geometric mean of the per-round ratios to the reference (the first contender)
    paired_ratio: ratio == null ? null : round(ratio, 3),
    answered: entry.requests,
    server_cpu_s: round(entry.cpu, 2),
    ...(withLatency
      ? {
          half_load_p50_ms: median(entry.p50),
          half_load_p99_ms: median(entry.p99),
          half_load_p99_ms_each: entry.p99,
          // a round whose server waited long for a CPU says more about the machine than the server
          half_load_server_run_delay_ms_each: entry.runDelay,
        }
      : {}),
  };
}
process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
process.exit(0);
