/**
 * A short saturating run of the proxy: authenticated telemetry (CoAP POST over DTLS) → daemon
 * (authorization, durable outbox) → mosquitto (QoS 1, PUBACK) → subscriber, and what it costs the
 * daemon: messages both answered to the sensors and acknowledged by the broker, per second of the
 * daemon's CPU time (utime + stime from /proc/PID/stat over the measurement window). Wall-clock rates
 * on a shared machine depend on who else runs; the CPU the daemon spent on a message does not much.
 * The reference (the same number of mqtt.js clients straight to mosquitto over TLS) is measured in
 * the same run, as messages per mosquitto-CPU-second, beside the broker's share in the gateway run.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MosquittoBroker, TelemetrySubscriber } from '../../../hw-sim/broker/index.js';
import type { DaemonStatus } from '../../../src/control/index.js';
import { round } from '../measure.js';
import { cpuProfileIn, type ProfileSummary, summarizeCpuProfile } from './cpu-profile.js';
import { makeFactoryCa, provisionGateway, RunningGateway } from './gateway-under-test.js';
import { LoadProcess } from './load-process.js';
import { cpuSeconds } from './proc-stats.js';

export interface TelemetryPerCpuOptions {
  /** Simulated sensors (one CoAP message in flight each). Default 100. */
  sensors?: number;
  /** Messages/s offered: above what the daemon forwards, so the run saturates. Default 20,000. */
  offeredPerS?: number;
  warmupMs?: number;
  measureMs?: number;
  /** Run the daemon under --cpu-prof and summarize its window by category. */
  profile?: boolean;
  /** With `profile`: copy the .cpuprofile here (for Chrome DevTools or speedscope). */
  keepProfileAs?: string;
  /** Also measure the reference (mqtt.js clients straight to mosquitto). Default true. */
  reference?: boolean;
  /**
   * mosquitto's max_inflight_messages, the Receive Maximum it announces. Default 1000: with its own
   * default (20) the broker, not the daemon, caps forwarding, the outbox grows through the window
   * and what the daemon spent on messages not yet forwarded would count against it.
   */
  brokerReceiveMaximum?: number;
}

export interface TelemetryPerCpuSecond {
  /** Messages answered to sensors and PUBACKed by the broker, per daemon-CPU-second. */
  perCpuSecond: number;
  /** Daemon CPU per such message, µs. */
  daemonCpuUsPerMessage: number;
  sensors: number;
  offered_per_s: number;
  broker_receive_maximum: number;
  window_s: number;
  acknowledged_to_sensors: number;
  published_to_broker: number;
  daemon_cpu_s: number;
  daemon_kernel_cpu_s: number;
  mosquitto_cpu_s: number;
  outbox_transactions: number;
  refused: Record<string, number>;
  reference?:
    | { perBrokerCpuSecond: number; acknowledged: number; mosquitto_cpu_s: number }
    | { error: string };
  /** With `window_us`: the measurement window on the monotonic clock, as the .cpuprofile counts time. */
  profile?: ProfileSummary & { window_us: [number, number] };
}

/**
 * The figure `npm run -s bench -- summary` reports as telemetryPerCpuSecond; a few seconds of load
 * plus the daemon's start.
 */
export async function benchTelemetryPerCpuSecond(
  options: TelemetryPerCpuOptions = {},
): Promise<TelemetryPerCpuSecond> {
  const sensors = options.sensors ?? Number(process.env.BENCH_TELEMETRY_SENSORS ?? 100);
  const rate = options.offeredPerS ?? 20_000;
  const timing = {
    warmupMs: options.warmupMs ?? 1500,
    measureMs: options.measureMs ?? 5000,
    drainMs: 10_000,
  };
  const receiveMaximum =
    options.brokerReceiveMaximum ?? Number(process.env.BENCH_TELEMETRY_RECEIVE_MAXIMUM ?? 1000);
  const work = mkdtempSync(join(tmpdir(), 'egw-telemetry-cpu-'));
  let broker: MosquittoBroker | undefined;
  let gateway: RunningGateway | undefined;
  let subscriber: TelemetrySubscriber | undefined;
  let fixtureDir: string | undefined;
  try {
    const factory = makeFactoryCa(work);
    broker = await MosquittoBroker.start({
      caFiles: [factory.rootFile],
      dir: join(work, 'broker'),
      maxInflightMessages: receiveMaximum,
    });
    const setup = await provisionGateway(work, factory, broker);
    fixtureDir = setup.fixture.dir;
    subscriber = await TelemetrySubscriber.connect(broker, { persistent: false, clientId: 'cpu-subscriber' });
    const profileDir = join(work, 'cpu-profile');
    gateway = await RunningGateway.start(
      setup,
      options.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [],
      true,
    );
    const load = LoadProcess.start();
    let figures: Omit<TelemetryPerCpuSecond, 'reference' | 'profile'>;
    let monotonic: [number, number] = [0, 0];
    try {
      await load.connect({
        type: 'fleet',
        sensorCaDir: setup.sensorCaDir,
        gateway: { host: '127.0.0.1', port: gateway.port },
        gatewayCaPem: readFileSync(setup.factoryRootFile, 'utf8'),
        sensors,
        namePrefix: 'cpu-',
      });
      const running = gateway;
      const brokerPid = broker.pid;
      let startCpu = { daemon: cpuSeconds(running.pid), mosquitto: cpuSeconds(brokerPid) };
      let endCpu = startCpu;
      let statusAtStart: Promise<DaemonStatus> | undefined;
      let statusAtEnd: Promise<DaemonStatus> | undefined;
      const report = await load.run({ rate, ...timing }, (event) => {
        const nowUs = Number(process.hrtime.bigint() / 1000n);
        if (event.phase === 'start') {
          startCpu = { daemon: cpuSeconds(running.pid), mosquitto: cpuSeconds(brokerPid) };
          statusAtStart = running.status();
          monotonic = [nowUs, nowUs];
        } else {
          endCpu = { daemon: cpuSeconds(running.pid), mosquitto: cpuSeconds(brokerPid) };
          statusAtEnd = running.status();
          monotonic[1] = nowUs;
        }
      });
      const [before, after] = await Promise.all([statusAtStart, statusAtEnd]);
      const published = (after?.upstream?.published ?? 0) - (before?.upstream?.published ?? 0);
      const acknowledged = report.window.acknowledged;
      const daemonCpu =
        endCpu.daemon.user + endCpu.daemon.kernel - startCpu.daemon.user - startCpu.daemon.kernel;
      const messages = Math.min(acknowledged, published);
      const refused: Record<string, number> = {};
      for (const [code, count] of Object.entries(after?.sensorEndpoint?.coap?.refused ?? {})) {
        const delta = count - (before?.sensorEndpoint?.coap?.refused[code] ?? 0);
        if (delta > 0) refused[code] = delta;
      }
      figures = {
        perCpuSecond: round(messages / Math.max(0.01, daemonCpu), 0),
        daemonCpuUsPerMessage: round((daemonCpu * 1e6) / Math.max(1, messages), 1),
        sensors,
        offered_per_s: rate,
        broker_receive_maximum: receiveMaximum,
        window_s: round((report.windowEnd - report.windowStart) / 1000, 2),
        acknowledged_to_sensors: acknowledged,
        published_to_broker: published,
        daemon_cpu_s: round(daemonCpu, 2),
        daemon_kernel_cpu_s: round(endCpu.daemon.kernel - startCpu.daemon.kernel, 2),
        mosquitto_cpu_s: round(
          endCpu.mosquitto.user +
            endCpu.mosquitto.kernel -
            startCpu.mosquitto.user -
            startCpu.mosquitto.kernel,
          2,
        ),
        outbox_transactions:
          (after?.upstream?.outbox.transactions ?? 0) - (before?.upstream?.outbox.transactions ?? 0),
        refused,
      };
      await load.stop();
    } finally {
      load.kill();
    }
    await gateway.stop();
    gateway = undefined;
    const result: TelemetryPerCpuSecond = { ...figures };
    if (options.profile) {
      const file = cpuProfileIn(profileDir);
      if (options.keepProfileAs) copyFileSync(file, options.keepProfileAs);
      result.profile = { ...summarizeCpuProfile(file, monotonic[0], monotonic[1]), window_us: monotonic };
    }
    if (options.reference ?? true) result.reference = await referenceRun(broker, sensors, rate, timing);
    return result;
  } finally {
    await gateway?.stop().catch(() => undefined);
    await subscriber?.close().catch(() => undefined);
    await broker?.stop().catch(() => undefined);
    if (fixtureDir) rmSync(fixtureDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

/** The same load from mqtt.js clients straight to mosquitto: messages per mosquitto-CPU-second. */
async function referenceRun(
  broker: MosquittoBroker,
  clients: number,
  rate: number,
  timing: { warmupMs: number; measureMs: number; drainMs: number },
): Promise<NonNullable<TelemetryPerCpuSecond['reference']>> {
  const load = LoadProcess.start();
  try {
    await load.connect({
      type: 'reference',
      brokerUrl: broker.url,
      caPem: broker.caPem,
      certFile: broker.backend?.certFile ?? '',
      keyFile: broker.backend?.keyFile ?? '',
      clients,
      namePrefix: 'cpu-ref-',
    });
    let start = cpuSeconds(broker.pid);
    let end = start;
    const report = await load.run({ rate, ...timing }, (event) => {
      if (event.phase === 'start') start = cpuSeconds(broker.pid);
      else end = cpuSeconds(broker.pid);
    });
    await load.stop();
    const cpu = end.user + end.kernel - start.user - start.kernel;
    return {
      perBrokerCpuSecond: round(report.window.acknowledged / Math.max(0.01, cpu), 0),
      acknowledged: report.window.acknowledged,
      mosquitto_cpu_s: round(cpu, 2),
    };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  } finally {
    load.kill();
  }
}
