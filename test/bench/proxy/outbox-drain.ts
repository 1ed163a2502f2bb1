/**
 * The upstream drain alone (issue 18): ROWS messages of SENSORS sensors wait in the outbox while
 * mosquitto is away; mosquitto comes back and the daemon publishes them (QoS 1), each row deleted
 * after its PUBACK. Printed: the daemon's CPU per message drained (utime+stime from /proc/<pid>/stat,
 * from the broker's return until the outbox is empty and its last deletes are committed) and the
 * drain's wall time (first PUBACK seen to outbox empty). No DTLS, no sensors: only publish → PUBACK →
 * outbox delete, the path that bounds telemetryPerCpuSecond end to end.
 *
 * The rows are written with the product's Outbox (so as the daemon writes them) before the daemon
 * starts. BUILDS=<worktree roots, comma-separated> adds those builds' daemons in rounds whose order
 * rotates (ROUNDS, default 1): `ROUNDS=6 BUILDS=/tmp/wt node dist/test/bench/proxy/outbox-drain.js`.
 * NODE_FLAGS="--cpu-prof --cpu-prof-dir=DIR" profiles the daemon (summarize with cpu-profile.ts).
 *
 * Beside each build, on the same broker once the daemon has stopped, the reference: the same number
 * of messages published by one mqtt.js client over node's TLS (drain-reference.ts), pinned where the
 * daemon was; REFERENCE=0 leaves it out.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MosquittoBroker } from '../../../hw-sim/broker/index.js';
import { ServiceSupervisor } from '../../../hw-sim/systemd/index.js';
import { controlRequest, type DaemonStatus } from '../../../src/control/index.js';
import { Store } from '../../../src/store/index.js';
import { Outbox, type OutboxSettings } from '../../../src/upstream/outbox/index.js';
import { jsonResultOf } from '../json-result-child.js';
import { pinning, pinServer } from '../load/index.js';
import { round } from '../measure.js';
import { inRotatingRounds, summarizeRounds } from '../rounds.js';
import { buildsToCompare } from './c-load-gateway.js';
import { makeFactoryCa, provisionGateway } from './gateway-under-test.js';
import { cpuSeconds } from './proc-stats.js';
import { referenceBroker } from './reference-mqtt-client.js';

const ROWS = Number(process.env.ROWS ?? 50_000);
/** As many sensors as telemetry-c-load.ts has sessions: at most one message per sensor is in flight. */
const SENSORS = Number(process.env.SENSORS ?? 128);
const PAYLOAD = '{"sensor":"bench","seq":{seq},"ts":1765000000000,"temperature":21.5,"humidity":45.2}';
/** The shipped defaults, with room for the backlog. */
const FILL_SETTINGS: OutboxSettings = {
  max_rows: 1_000_000,
  max_bytes: 256 * 1024 * 1024,
  when_full: 'refuse',
  refuse_max_age_s: 30,
  commit_interval_ms: 5,
  commit_batch: 4096,
  per_sensor_share: 1,
};
/** Longer than the outbox's removal commit delay (200 ms): the last deletes are in the CPU figure. */
const SETTLE_MS = 500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const here = dirname(fileURLToPath(import.meta.url));

/** drain-reference.ts against `broker`: its figures, per message as the gateway's are. */
async function runReference(broker: MosquittoBroker): Promise<{
  published: number;
  cpu_s: number;
  cpu_us_per_message: number;
  messages_per_cpu_s: number;
  wall_s: number;
}> {
  const command = {
    ...referenceBroker(broker),
    rows: ROWS,
    sensors: SENSORS,
    payload: PAYLOAD,
  };
  const node = [process.execPath, join(here, 'drain-reference.js'), JSON.stringify(command)];
  const [executable, ...args] = pinning ? ['taskset', '-c', '0', ...node] : node;
  const child = spawn(executable as string, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const result = (await jsonResultOf(child, 'drain-reference')) as {
    published: number;
    cpu_s: number;
    wall_s: number;
  };
  return {
    published: result.published,
    cpu_s: round(result.cpu_s, 2),
    cpu_us_per_message: round((result.cpu_s * 1e6) / Math.max(1, result.published), 1),
    messages_per_cpu_s: round(result.published / Math.max(0.01, result.cpu_s), 0),
    wall_s: round(result.wall_s, 2),
  };
}

/** ROWS messages as the daemon stores accepted telemetry: a topic and frozen properties per sensor. */
async function fillOutbox(dbPath: string): Promise<void> {
  const store = Store.open(dbPath);
  try {
    const outbox = Outbox.open(store, FILL_SETTINGS);
    const envelopes = Array.from({ length: SENSORS }, (_, i) => ({
      sensorId: `drain-${i}`,
      topic: `devices/drain-${i}/telemetry`,
      properties: Object.freeze({ 'sensor-id': `drain-${i}`, 'certificate-sha256': 'ab'.repeat(32) }),
    }));
    const pending: Promise<unknown>[] = [];
    for (let seq = 0; seq < ROWS; seq++) {
      const envelope = envelopes[seq % SENSORS] as (typeof envelopes)[number];
      pending.push(
        outbox.enqueue({
          ...envelope,
          payload: Buffer.from(PAYLOAD.replace('{seq}', String(seq))),
          contentFormat: 50,
        }),
      );
    }
    outbox.flush();
    await Promise.all(pending);
    outbox.close();
  } finally {
    store.close();
  }
}

async function statusOf(socketPath: string): Promise<DaemonStatus> {
  return (await controlRequest(socketPath, 'status')) as DaemonStatus;
}

/** One build's drain of ROWS messages. */
export async function benchOutboxDrain(entry: string, label: string): Promise<Record<string, unknown>> {
  const work = mkdtempSync(join(tmpdir(), 'egw-drain-'));
  let broker: MosquittoBroker | undefined;
  let service: ServiceSupervisor | undefined;
  try {
    const factory = makeFactoryCa(work);
    broker = await MosquittoBroker.start({
      caFiles: [factory.rootFile],
      dir: join(work, 'broker'),
      maxInflightMessages: 1000,
    });
    const setup = await provisionGateway(work, factory, broker);
    const { fixture } = setup;
    await fillOutbox(fixture.dbPath);
    await broker.pause();
    const nodeFlags = (process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean);
    service = ServiceSupervisor.start({
      command: [process.execPath, ...nodeFlags, entry, '--config', fixture.configPath],
    });
    await service.waitReady();
    const pid = service.child.pid;
    await pinServer(pid);
    const before = await statusOf(fixture.socketPath);
    if (before.upstream?.outbox.rows !== ROWS)
      throw new Error(`the daemon sees ${before.upstream?.outbox.rows} outbox rows, not ${ROWS}`);
    // Start-up's own work (JIT, GC of what it read) out of the way before the count starts.
    await sleep(1000);
    const cpuBefore = cpuSeconds(pid);
    await broker.resume();
    // A ceiling against hangs, not a timing requirement.
    const giveUpAt = Date.now() + 300_000;
    let firstPublishAt: number | undefined;
    let status = before;
    while ((status.upstream?.outbox.rows ?? 0) > 0) {
      if (Date.now() > giveUpAt)
        throw new Error(`the outbox did not drain: ${status.upstream?.outbox.rows} rows left`);
      // Each status costs the daemon ~1 ms (20 ms polls were 6 % of its CPU in the drain).
      await sleep(100);
      status = await statusOf(fixture.socketPath);
      if (firstPublishAt === undefined && (status.upstream?.published ?? 0) > 0)
        firstPublishAt = performance.now();
    }
    const drainedAt = performance.now();
    await sleep(SETTLE_MS);
    const cpuAfter = cpuSeconds(pid);
    const after = await statusOf(fixture.socketPath);
    const cpu = cpuAfter.user + cpuAfter.kernel - cpuBefore.user - cpuBefore.kernel;
    const published = (after.upstream?.published ?? 0) - (before.upstream?.published ?? 0);
    const wallSeconds = (drainedAt - (firstPublishAt ?? drainedAt)) / 1000;
    await service.stop('SIGTERM');
    const reference = process.env.REFERENCE === '0' ? undefined : await runReference(broker);
    const cpuPerMessage = (cpu * 1e6) / Math.max(1, published);
    return {
      build: label,
      rows: ROWS,
      sensors: SENSORS,
      published,
      daemon_cpu_s: round(cpu, 2),
      daemon_user_cpu_s: round(cpuAfter.user - cpuBefore.user, 2),
      daemon_kernel_cpu_s: round(cpuAfter.kernel - cpuBefore.kernel, 2),
      cpu_us_per_message: round(cpuPerMessage, 1),
      messages_per_daemon_cpu_s: round(published / Math.max(0.01, cpu), 0),
      drain_wall_s: round(wallSeconds, 2),
      messages_per_wall_s: round(published / Math.max(0.001, wallSeconds), 0),
      outbox_rows_after: after.upstream?.outbox.rows,
      ...(reference
        ? {
            reference_mqttjs: reference,
            cpu_over_reference: round(cpuPerMessage / Math.max(0.1, reference.cpu_us_per_message), 2),
          }
        : {}),
    };
  } finally {
    await service?.stop('SIGTERM').catch(() => undefined);
    await service?.dispose().catch(() => undefined);
    await broker?.stop().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

/** This build and BUILDS' in ROUNDS rotating rounds: each run, the medians and the paired ratios to this build. */
export async function benchDrain(): Promise<Record<string, unknown>> {
  const builds = buildsToCompare();
  const rounds = Number(process.env.ROUNDS ?? 1);
  const records = await inRotatingRounds(
    builds,
    rounds,
    ([label]) => label,
    ([label, entry]) => benchOutboxDrain(entry, label),
  );
  const summary = summarizeRounds(records, builds[0]?.[0] ?? '', (r) => ({
    cpu_us_per_message: Number(r.cpu_us_per_message),
    messages_per_daemon_cpu_s: Number(r.messages_per_daemon_cpu_s),
    drain_wall_s: Number(r.drain_wall_s),
    reference_cpu_us_per_message: Number(
      (r.reference_mqttjs as { cpu_us_per_message?: number } | undefined)?.cpu_us_per_message,
    ),
    cpu_over_reference: Number(r.cpu_over_reference),
  }));
  return { rows: ROWS, sensors: SENSORS, rounds, summary, runs: records };
}

if (process.argv[1] === fileURLToPath(import.meta.url))
  process.stdout.write(`${JSON.stringify(await benchDrain(), null, 2)}\n`);
