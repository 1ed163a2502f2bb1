/**
 * Authenticated telemetry through the whole proxy under the C load generator (test/bench/load):
 * POST /telemetry over DTLS from `sessions` sensors (one certificate each, one message in flight
 * each) → daemon (authorization, durable outbox) → mosquitto (QoS 1, PUBACK). The JS sensor fleet of
 * telemetry-per-cpu.ts costs more CPU than the daemon it loads, so on a shared 2-core machine it
 * rarely saturates the daemon; this one does (server pinned to core 0, load to core 1).
 *
 * Per build: messages answered 2.04 per daemon-CPU-second (the load generator reads the daemon's
 * utime+stime over its window) with the broker's count beside it (PUBACKed messages over the same
 * run, and the outbox left after it), then, at half of the saturated wall rate, the sensors'
 * round trip (POST → 2.04, which waits for the commit to be on disk) p50/p99.
 * BUILDS=<worktree roots, comma-separated> adds those builds' daemons, in rounds whose order rotates
 * (ROUNDS, default 2; round r starts with build r mod n), to compare before/after in one run. OUTBOX="key = value;…" adds
 * [upstream.outbox] keys. Run: node dist/test/bench/proxy/telemetry-c-load.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MosquittoBroker } from '../../../hw-sim/broker/index.js';
import { builtEntry } from '../../helpers/daemon-harness.js';
import { pinServer, runLoad } from '../load/index.js';
import { round } from '../measure.js';
import { inRotatingRounds, summarizeRounds } from '../rounds.js';
import { buildsToCompare, cLoadTarget, prepareCLoadGateway } from './c-load-gateway.js';
import { RunningGateway } from './gateway-under-test.js';
import { cpuSeconds } from './proc-stats.js';

/** Sensors (one certificate and DTLS session each): with WINDOW 4, 512 messages in flight, which keeps the daemon busy on a shared machine. */
const SESSIONS = Number(process.env.SESSIONS ?? 128);
const SECONDS = Number(process.env.SECONDS ?? 5);
/** CoAP messages each sensor keeps in flight (a real sensor: 1; more stand in for more sensors). */
const WINDOW = Number(process.env.WINDOW ?? 4);
const PAYLOAD = '{"sensor":"bench","seq":{seq},"ts":1765000000000,"temperature":21.5,"humidity":45.2}';

/**
 * One build's figures; `perCpuSecond` (the summary's telemetryPerCpuSecond) counts the messages both
 * answered and PUBACKed over the daemon's CPU from the saturated run's start until its outbox drained.
 */
export async function benchTelemetryCLoad(
  entry = builtEntry('daemon'),
  label = 'this build',
): Promise<Record<string, unknown>> {
  const work = mkdtempSync(join(tmpdir(), 'egw-telemetry-c-'));
  let broker: MosquittoBroker | undefined;
  let gateway: RunningGateway | undefined;
  try {
    const prepared = await prepareCLoadGateway(work, SESSIONS, 'c-load-');
    broker = prepared.broker;
    const setup = prepared.setup;
    // NODE_FLAGS="--cpu-prof --cpu-prof-dir=DIR": the daemon's profile (summarize with cpu-profile.ts).
    const nodeFlags = (process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean);
    gateway = await RunningGateway.start(setup, nodeFlags, true, entry);
    await pinServer(gateway.pid);
    const target = cLoadTarget(work, setup, gateway);
    const common = {
      path: '/telemetry',
      payload: PAYLOAD,
      'content-format': 50,
      sessions: SESSIONS,
      identities: SESSIONS,
      window: WINDOW,
    };
    const before = await gateway.status();
    const cpuBefore = cpuSeconds(gateway.pid);
    const saturated = await runLoad('post', target, {
      ...common,
      seconds: SECONDS,
      warmup: 1,
      'min-server-cpu': 1,
      'max-seconds': SECONDS * 4,
    });
    const after = await gateway.status();
    // Through the whole proxy: until the broker has PUBACKed what was stored (30 s at most), the
    // daemon's CPU from the saturated run's start over the messages both stored and published.
    const drainedBy = Date.now() + 30_000;
    let drained = after;
    while ((drained.upstream?.outbox.rows ?? 0) > 0 && Date.now() < drainedBy) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      drained = await gateway.status();
    }
    const cpuDrained = cpuSeconds(gateway.pid);
    const endToEndCpu = cpuDrained.user + cpuDrained.kernel - cpuBefore.user - cpuBefore.kernel;
    const half = Math.max(1, Math.round(Number(saturated.per_s) / 2));
    const latency = await runLoad('post', target, { ...common, rate: half, seconds: SECONDS, warmup: 1 });
    const published = (drained.upstream?.published ?? 0) - (before.upstream?.published ?? 0);
    const coap = (s: typeof before) => s.sensorEndpoint?.coap;
    const stored = (coap(after)?.telemetryAccepted ?? 0) - (coap(before)?.telemetryAccepted ?? 0);
    return {
      build: label,
      perCpuSecond: round(Math.min(stored, published) / Math.max(0.01, endToEndCpu), 0),
      end_to_end_daemon_cpu_s: round(endToEndCpu, 2),
      messages_per_daemon_cpu_s: saturated.per_server_cpu_s,
      messages_per_wall_s: saturated.per_s,
      daemon_cpu_s: saturated.server_cpu_s,
      codes: saturated.codes,
      // Over the whole saturated run (warm-up included) and its drain.
      stored_by_daemon: stored,
      published_to_broker: published,
      outbox_rows_at_end_of_load: after.upstream?.outbox.rows,
      outbox_rows_after_drain: drained.upstream?.outbox.rows,
      half_load: {
        offered_per_s: latency.offered_per_s,
        answered_per_wall_s: latency.per_s,
        ack_round_trip_ms: latency.latency_ms,
        messages_per_daemon_cpu_s: latency.per_server_cpu_s,
        offered_but_no_free_slot: latency.offered_but_no_free_slot,
      },
    };
  } finally {
    await gateway?.stop().catch(() => undefined);
    await broker?.stop().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const builds = buildsToCompare();
  const rounds = Number(process.env.ROUNDS ?? 2);
  // Round r starts with build r mod n: whoever ran first in a round was seen to win.
  const records = await inRotatingRounds(
    builds,
    rounds,
    ([label]) => label,
    ([label, entry]) => benchTelemetryCLoad(entry, label),
  );
  const perRound = summarizeRounds(records, builds[0]?.[0] ?? '', (r) => ({
    perCpuSecond: Number(r.perCpuSecond),
    messages_per_daemon_cpu_s: Number(r.messages_per_daemon_cpu_s),
    half_load_ack_p99_ms: Number(
      (r.half_load as { ack_round_trip_ms: { p99: number } }).ack_round_trip_ms.p99,
    ),
  }));
  // Medians over the rounds; paired ratios (geometric mean of per-round ratios) to this build.
  const summary = Object.fromEntries(
    Object.entries(perRound).map(([label, figures]) => [
      label,
      Object.fromEntries(
        Object.entries(figures).flatMap(([figure, { median, paired_ratio }]) => [
          [figure, median === null ? null : round(median, figure.endsWith('_ms') ? 3 : 0)],
          [`${figure}_paired_ratio`, paired_ratio === null ? null : round(paired_ratio, 3)],
        ]),
      ),
    ]),
  );
  process.stdout.write(
    `${JSON.stringify({ sessions: SESSIONS, window: WINDOW, rounds, summary, runs: records }, null, 2)}\n`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
