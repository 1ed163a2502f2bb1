/**
 * What the proxy ADDS to a telemetry message's latency, at half of the saturated rate, measured in
 * one run beside its reference:
 *
 *  - gateway: the C load generator (SESSIONS sensors, one certificate each) POSTs /telemetry over
 *    DTLS at a fixed rate → daemon (authorization, durable outbox) → mosquitto (QoS 1) → a
 *    subscriber in this process. Figures: the sensors' round trip (POST → 2.04, which waits for the
 *    row's fsync) and POST → received by the subscriber.
 *  - reference: the same payload at the same rate published by one mqtt.js client (its own process,
 *    reference-publisher.ts) straight to the same mosquitto over TLS, QoS 1 → the same subscriber.
 *  - added: gateway minus reference, per percentile (p50, p99) of "sent → received".
 *
 * The saturated rate comes from a run in the same bench (WINDOW in flight per sensor, as
 * telemetry-c-load.ts); the half-load runs offer half of it. Send times are in the payload ("{us}":
 * the sender's wall clock, µs), received times are the subscriber's wall clock (same machine).
 * BUILDS=<worktree roots, comma-separated> and ROUNDS compare builds in rounds whose order rotates (RATE=N
 * offers N/s to all instead of half of each one's saturated rate); BENCH_LATENCY_RT=1 (root, realtime.ts) runs
 * both half-load runs with the main thread of every process on their path SCHED_FIFO (the daemon
 * unpinned); OUTBOX="key = value;…" adds
 * [upstream.outbox] keys; LOOP_PROBE=1 adds the daemon's event-loop delay and GC pauses. Run: node dist/test/bench/proxy/telemetry-latency.js
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectAsync, type MqttClient } from 'mqtt';
import type { MosquittoBroker } from '../../../hw-sim/broker/index.js';
import { builtEntry } from '../../helpers/daemon-harness.js';
import { jsonResultOf } from '../json-result-child.js';
import { pinServer, runLoad } from '../load/index.js';
import { round } from '../measure.js';
import { realtimeDuring, realtimeLatency } from '../realtime.js';
import { inRotatingRounds } from '../rounds.js';
import { buildsToCompare, cLoadTarget, prepareCLoadGateway } from './c-load-gateway.js';
import { RunningGateway } from './gateway-under-test.js';
import { cpuSeconds } from './proc-stats.js';
import { referenceBroker } from './reference-mqtt-client.js';
import { wallClockUs } from './wall-clock.js';

const here = dirname(fileURLToPath(import.meta.url));
const SESSIONS = Number(process.env.SESSIONS ?? 128);
const SECONDS = Number(process.env.SECONDS ?? 8);
const WARMUP = 1;
/** In flight per sensor in the saturated run (the half-load runs are open loop at a fixed rate). */
const WINDOW = Number(process.env.WINDOW ?? 4);
const PAYLOAD =
  '{"sensor":"bench","seq":{seq},"ts":1765000000000,"sent_us":{us},"temperature":21.5,"humidity":45.2}';
const REFERENCE_TOPIC = 'devices/latency-reference/telemetry';
const SENT_US = /"sent_us":(\d+)/;

const wallUs = wallClockUs;

interface Percentiles {
  p50: number;
  p99: number;
  max: number;
  count: number;
}

function percentiles(latenciesUs: number[]): Percentiles {
  const sorted = [...latenciesUs].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);
  return {
    p50: round(at(0.5) / 1000, 3),
    p99: round(at(0.99) / 1000, 3),
    max: round((sorted.at(-1) ?? 0) / 1000, 3),
    count: sorted.length,
  };
}

/** Sent → received per path, from the payload's "sent_us" and this process's clock. */
class Arrivals {
  readonly #sent: Record<'gateway' | 'reference', number[]> = { gateway: [], reference: [] };
  readonly #latency: Record<'gateway' | 'reference', number[]> = { gateway: [], reference: [] };

  constructor(client: MqttClient) {
    client.on('message', (topic, payload) => {
      const receivedUs = wallUs();
      const sent = SENT_US.exec(payload.toString('latin1'));
      if (!sent) return;
      const path = topic === REFERENCE_TOPIC ? 'reference' : 'gateway';
      const sentUs = Number(sent[1]);
      this.#sent[path].push(sentUs);
      this.#latency[path].push(receivedUs - sentUs);
    });
  }

  count(path: 'gateway' | 'reference'): number {
    return this.#sent[path].length;
  }

  /** Waits until `expected` arrived on `path` or nothing more comes for 2 s (30 s at most). */
  async settle(path: 'gateway' | 'reference', expected: number): Promise<void> {
    const giveUpAt = Date.now() + 30_000;
    let last = -1;
    let quietSince = Date.now();
    while (this.count(path) < expected && Date.now() < giveUpAt) {
      if (this.count(path) !== last) {
        last = this.count(path);
        quietSince = Date.now();
      } else if (Date.now() - quietSince > 2000) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Latencies of the messages sent from `WARMUP` s after the path's first one, then forgets them. */
  take(path: 'gateway' | 'reference'): Percentiles {
    const sent = this.#sent[path];
    const first = Math.min(...sent);
    const latencies = this.#latency[path].filter((_, i) => (sent[i] as number) >= first + WARMUP * 1e6);
    this.#sent[path] = [];
    this.#latency[path] = [];
    return percentiles(latencies);
  }
}

async function runReference(broker: MosquittoBroker, rate: number): Promise<Record<string, unknown>> {
  const command = {
    ...referenceBroker(broker),
    topic: REFERENCE_TOPIC,
    payload: PAYLOAD,
    rate,
    seconds: SECONDS,
    warmup: WARMUP,
  };
  // On the load generator's core, as the sensors are: the broker and the subscriber are shared by both paths.
  const script = join(here, 'reference-publisher.js');
  const child = spawn('taskset', ['-c', '1', process.execPath, script, JSON.stringify(command)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return jsonResultOf(child, `reference-publisher`);
}

/** The probe's figures for the window just closed (it writes them on the signal, soon after). */
async function lastProbeLine(file: string): Promise<unknown> {
  for (let tries = 0; tries < 50; tries++) {
    try {
      const line = readFileSync(file, 'utf8').trim().split('\n').at(-1);
      if (line) return JSON.parse(line);
    } catch {
      // not written yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return undefined;
}

/** One build's figures: saturated rate, then gateway and reference at half of it. */
export async function benchTelemetryLatency(
  entry = builtEntry('daemon'),
  label = 'this build',
): Promise<Record<string, unknown>> {
  const work = mkdtempSync(join(tmpdir(), 'egw-telemetry-latency-'));
  let broker: MosquittoBroker | undefined;
  let gateway: RunningGateway | undefined;
  let subscriber: MqttClient | undefined;
  try {
    const prepared = await prepareCLoadGateway(work, SESSIONS, 'c-lat-');
    broker = prepared.broker;
    const setup = prepared.setup;
    const backend = broker.backend;
    if (!backend) throw new Error('the bench broker has no backend certificate');
    subscriber = await connectAsync(broker.url, {
      protocolVersion: 5,
      clientId: 'bench-latency-subscriber',
      clean: true,
      ca: broker.caPem,
      cert: readFileSync(backend.certFile, 'utf8'),
      key: readFileSync(backend.keyFile, 'utf8'),
      servername: 'localhost',
    });
    const arrivals = new Arrivals(subscriber);
    await subscriber.subscribeAsync('devices/+/telemetry', { qos: 1 });
    // NODE_FLAGS="--cpu-prof --cpu-prof-dir=DIR": the daemon's profile (summarize with cpu-profile.ts).
    const nodeFlags = (process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean);
    // LOOP_PROBE=1: the daemon's event-loop delay and GC pauses over the half-load run (loop-probe.ts).
    const probeFile = process.env.LOOP_PROBE === '1' ? join(work, 'loop-probe.jsonl') : undefined;
    if (probeFile) {
      nodeFlags.push('--import', join(here, 'loop-probe.js'));
      process.env.LOOP_PROBE_OUT = probeFile;
    }
    gateway = await RunningGateway.start(setup, nodeFlags, true, entry);
    // PIN=0 leaves the daemon to the scheduler (on a machine whose core 0 other benches crowd).
    // BENCH_LATENCY_RT=1 leaves it unpinned too: a FIFO main thread pinned with its own pool thread
    // starved that thread (realtime.ts).
    const pinned = process.env.PIN !== '0' && !realtimeLatency;
    if (pinned) await pinServer(gateway.pid);
    const target = cLoadTarget(work, setup, gateway);
    const common = {
      path: '/telemetry',
      payload: PAYLOAD,
      'content-format': 50,
      sessions: SESSIONS,
      identities: SESSIONS,
    };
    const saturated = await runLoad('post', target, {
      ...common,
      window: WINDOW,
      seconds: 5,
      warmup: 1,
      'min-server-cpu': 1,
      'max-seconds': 20,
    });
    await arrivals.settle('gateway', Number.POSITIVE_INFINITY);
    arrivals.take('gateway');
    // RATE=<messages/s>: a fixed offered rate instead (the same for every build compared).
    // BENCH_LATENCY_RT=1: half of what the daemon forwards per CPU-second (it now has its core), as
    // the GET latency bench does; else half of the wall rate it reached on this machine.
    const perCpu = Number(saturated.per_server_cpu_s);
    const saturatedRate = realtimeLatency && Number.isFinite(perCpu) ? perCpu : Number(saturated.per_s);
    const half = Number(process.env.RATE ?? 0) || Math.max(1, Math.round(saturatedRate / 2));
    const cpuBefore = cpuSeconds(gateway.pid);
    if (probeFile && gateway.pid) process.kill(gateway.pid, 'SIGUSR2');
    // BENCH_LATENCY_RT=1: the main threads of the daemon, the broker, the subscriber and the load
    // generator SCHED_FIFO; for the reference the same, its publisher in the daemon's place.
    const runningBroker = broker;
    const realtimeBroker = { pid: runningBroker.pid };
    const atHalf = await realtimeDuring([{ pid: gateway.pid }, realtimeBroker], async () => {
      const run = await runLoad('post', target, {
        ...common,
        window: WINDOW,
        rate: half,
        seconds: SECONDS,
        warmup: WARMUP,
      });
      // The probe's window is the load's: not the quiet wait for the last arrivals below.
      if (probeFile && gateway?.pid) process.kill(gateway.pid, 'SIGUSR2');
      await arrivals.settle('gateway', Number.POSITIVE_INFINITY);
      return run;
    });
    const answered = Object.entries((atHalf.codes ?? {}) as Record<string, number>)
      .filter(([code]) => code.startsWith('2.'))
      .reduce((sum, [, n]) => sum + n, 0);
    const cpuAfter = cpuSeconds(gateway.pid);
    const gatewayDelivery = arrivals.take('gateway');
    const reference = await realtimeDuring([realtimeBroker], async () => {
      const run = await runReference(runningBroker, half);
      await arrivals.settle('reference', Number(run.sent ?? 0));
      return run;
    });
    const referenceDelivery = arrivals.take('reference');
    const status = await gateway.status();
    return {
      build: label,
      saturated: {
        messages_per_wall_s: saturated.per_s,
        messages_per_daemon_cpu_s: saturated.per_server_cpu_s,
      },
      rate_per_s: half,
      daemon_pinned_to_core_0: pinned,
      ...(realtimeLatency
        ? { sched_fifo: 'main threads: daemon, mosquitto, subscriber, load generator, reference publisher' }
        : {}),
      gateway: {
        answered_per_wall_s: atHalf.per_s,
        answered_in_window: answered,
        messages_per_daemon_cpu_s: atHalf.per_server_cpu_s,
        daemon_cpu_s_incl_drain: round(
          cpuAfter.user + cpuAfter.kernel - cpuBefore.user - cpuBefore.kernel,
          2,
        ),
        offered_but_no_free_slot: atHalf.offered_but_no_free_slot,
        ack_round_trip_ms: atHalf.latency_ms,
        // How long the daemon's threads and the load generator waited, runnable, for a CPU over the
        // window: on a shared machine the wall-clock tails are mostly this.
        run_delay_ms: atHalf.run_delay_ms,
        sent_to_received_ms: gatewayDelivery,
        outbox_rows_left: status.upstream?.outbox.rows,
        ...(probeFile ? { daemon_loop: await lastProbeLine(probeFile) } : {}),
      },
      reference: {
        ...reference,
        sent_to_received_ms: referenceDelivery,
      },
      added_latency_ms: {
        p50: round(gatewayDelivery.p50 - referenceDelivery.p50, 3),
        p99: round(gatewayDelivery.p99 - referenceDelivery.p99, 3),
      },
    };
  } finally {
    await subscriber?.endAsync(true).catch(() => undefined);
    await gateway?.stop().catch(() => undefined);
    await broker?.stop().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const builds = buildsToCompare();
  const rounds = Number(process.env.ROUNDS ?? 1);
  // Round r starts with build r mod n: whoever ran first in a round was seen to win.
  const records = await inRotatingRounds(
    builds,
    rounds,
    ([label]) => label,
    ([label, entry]) => benchTelemetryLatency(entry, label),
  );
  process.stdout.write(`${JSON.stringify({ sessions: SESSIONS, rounds, runs: records }, null, 2)}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
