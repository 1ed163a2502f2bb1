/**
 * The proxy bench's load generator, run as a child process (fork, IPC): either a fleet of simulated
 * CoAP/DTLS sensors against the gateway, or the same number of mqtt.js clients publishing the same
 * readings straight to mosquitto over TLS (the reference). Both are driven by one open-loop rate
 * loop, each target sending one message at a time (CoAP NSTART = 1; for MQTT one PUBLISH awaiting
 * its PUBACK) and queueing the rest, so both paths see the same load shape.
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectAsync, type MqttClient } from 'mqtt';
import {
  LatencyRecorder,
  SensorCa,
  SensorFleet,
  type SimulatedSensor,
  telemetryReading,
} from '../../../hw-sim/sensors/index.js';
import { pemBlocks } from '../../../src/pki/index.js';
import { round } from '../measure.js';
import {
  type FleetCommand,
  type LoadCommand,
  type LoadReport,
  MAX_BACKLOG_PER_TARGET,
  type ReferenceCommand,
  type RunCommand,
  type RunReport,
} from './protocol.js';

const TICK_MS = 2;

/** Something that sends telemetry one message at a time: a simulated sensor or a reference client. */
interface LoadTarget {
  readonly generated: number;
  readonly acknowledged: number;
  readonly failed: number;
  readonly finished: boolean;
  enqueue(): void;
}

/** Counters shared by the rate loop and the targets' answer callbacks. */
class RunCounters {
  measuring = false;
  ackLatency = new LatencyRecorder();

  /** A fresh start for the next run (the targets keep their reference to this object). */
  reset(): void {
    this.measuring = false;
    this.ackLatency = new LatencyRecorder();
  }

  answered(latencyMs: number): void {
    if (this.measuring) this.ackLatency.record(latencyMs);
  }
}

function sensorTarget(sensor: SimulatedSensor): LoadTarget {
  return {
    get generated() {
      return sensor.generated;
    },
    get acknowledged() {
      return sensor.acknowledged;
    },
    // Rejections and losses show in the fleet summary at stop; the rate loop only needs the backlog.
    failed: 0,
    get finished() {
      return sensor.finished;
    },
    enqueue: () => sensor.enqueueTelemetry(),
  };
}

/**
 * One MQTT client publishing what a sensor would, QoS 1, one PUBLISH in flight: the reading is made
 * (and timestamped) when generated, as the simulated sensor does, so queueing counts in both paths.
 */
class ReferencePublisher implements LoadTarget {
  generated = 0;
  acknowledged = 0;
  failed = 0;
  finished = false;
  readonly #name: string;
  readonly #client: MqttClient;
  readonly #counters: RunCounters;
  readonly #topic: string;
  readonly #userProperties: Record<string, string>;
  readonly #queue: { seq: number; ts: number }[] = [];
  #inFlight = false;

  constructor(name: string, client: MqttClient, counters: RunCounters) {
    this.#name = name;
    this.#client = client;
    this.#counters = counters;
    this.#topic = `devices/${name}/telemetry`;
    // The user properties the gateway adds, so that both paths carry packets of about the same size.
    this.#userProperties = {
      'sensor-id': name,
      'certificate-sha256': '0'.repeat(64),
      'device-type': 'thermometer',
      'gateway-id': 'device-reference',
    };
    client.on('close', () => {
      this.finished = true;
    });
  }

  enqueue(): void {
    this.generated++;
    this.#queue.push({ seq: this.generated, ts: Date.now() });
    this.#pump();
  }

  close(): Promise<void> {
    this.finished = true;
    return this.#client.endAsync(true);
  }

  #pump(): void {
    const next = this.#inFlight ? undefined : this.#queue.shift();
    if (!next) return;
    this.#inFlight = true;
    const payload = Buffer.from(JSON.stringify(telemetryReading(this.#name, next.seq, next.ts)));
    const sentAt = performance.now();
    this.#client.publish(
      this.#topic,
      payload,
      { qos: 1, properties: { contentType: 'application/json', userProperties: this.#userProperties } },
      (error) => {
        this.#inFlight = false;
        if (error) this.failed++;
        else {
          this.acknowledged++;
          this.#counters.answered(performance.now() - sentAt);
        }
        this.#pump();
      },
    );
  }
}

class LoadGenerator {
  #targets: LoadTarget[] = [];
  #fleet: SensorFleet | undefined;
  #publishers: ReferencePublisher[] = [];
  readonly #counters = new RunCounters();
  #next = 0;

  async fleet(command: FleetCommand): Promise<LoadReport> {
    const started = performance.now();
    const fleet = SensorFleet.create({
      ca: SensorCa.open(command.sensorCaDir),
      gateway: command.gateway,
      gatewayCa: pemBlocks(command.gatewayCaPem),
      sensors: command.sensors,
      namePrefix: command.namePrefix,
      rate: 1, // unused: the rate loop below drives the sensors
      // The gateway's per-address limit is raised for the bench; the handshakes cost CPU on both sides.
      connectRate: 400,
      connectConcurrency: 32,
      // No /time (so a reading's ts is this machine's Date.now()), no Observe: telemetry only.
      sensor: { discover: false, commandsPath: null },
    });
    this.#fleet = fleet;
    await fleet.connect();
    this.#targets = fleet.sensors.map((sensor) => {
      sensor.on('acknowledged', (_seq, latencyMs) => this.#counters.answered(latencyMs));
      return sensorTarget(sensor);
    });
    const failures: Record<string, number> = {};
    let ready = 0;
    for (const sensor of fleet.sensors) {
      if (sensor.state === 'connected') ready++;
      else {
        const reason = sensor.result().lastConnectError ?? sensor.state;
        failures[reason] = (failures[reason] ?? 0) + 1;
      }
    }
    return this.#connected(started, ready, failures);
  }

  async reference(command: ReferenceCommand): Promise<LoadReport> {
    const started = performance.now();
    const cert = readFileSync(command.certFile, 'utf8');
    const key = readFileSync(command.keyFile, 'utf8');
    const width = Math.max(4, String(command.clients).length);
    const failures: Record<string, number> = {};
    const names = Array.from(
      { length: command.clients },
      (_, i) => `${command.namePrefix}${String(i + 1).padStart(width, '0')}`,
    );
    // 32 TLS handshakes at a time: as many as the fleet's connectConcurrency.
    for (let i = 0; i < names.length; i += 32) {
      await Promise.all(
        names.slice(i, i + 32).map(async (name) => {
          try {
            const client = await connectAsync(command.brokerUrl, {
              protocolVersion: 5,
              clientId: name,
              clean: true,
              ca: command.caPem,
              cert,
              key,
              servername: 'localhost',
              reconnectPeriod: 0,
              connectTimeout: 30_000,
            });
            this.#publishers.push(new ReferencePublisher(name, client, this.#counters));
          } catch (error) {
            const reason = error instanceof Error ? error.message : String(error);
            failures[reason] = (failures[reason] ?? 0) + 1;
          }
        }),
      );
    }
    this.#targets = this.#publishers;
    return this.#connected(started, this.#publishers.length, failures);
  }

  /** Offers `rate` messages/s round-robin over the targets; measures between warm-up and drain. */
  async run(command: RunCommand, report: (message: LoadReport) => void): Promise<RunReport> {
    const counters = this.#counters;
    counters.reset();
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    const before = this.#totals();
    let shed = 0;
    let offered = 0;
    const started = performance.now();
    const windowOpensAt = started + command.warmupMs;
    const windowClosesAt = windowOpensAt + command.measureMs;
    let windowStart = 0;
    let atWindowStart = before;
    let shedAtWindowStart = 0;
    while (performance.now() < windowClosesAt) {
      const now = performance.now();
      if (windowStart === 0 && now >= windowOpensAt) {
        windowStart = Date.now();
        atWindowStart = this.#totals();
        shedAtWindowStart = shed;
        counters.measuring = true;
        loopDelay.enable();
        report({ type: 'window', phase: 'start', at: windowStart });
      }
      const due = Math.floor((command.rate * (now - started)) / 1000) - offered;
      for (let n = 0; n < due; n++) {
        offered++;
        if (!this.#offerOne()) shed++;
      }
      await sleep(TICK_MS);
    }
    counters.measuring = false;
    loopDelay.disable();
    const windowEnd = Date.now();
    const atWindowEnd = this.#totals();
    const shedInWindow = shed - shedAtWindowStart;
    report({ type: 'window', phase: 'end', at: windowEnd });
    const drainStarted = performance.now();
    const drained = await this.#drain(command.drainMs);
    const after = this.#totals();
    return {
      type: 'ran',
      windowStart,
      windowEnd,
      window: {
        generated: atWindowEnd.generated - atWindowStart.generated,
        shed: shedInWindow,
        acknowledged: atWindowEnd.acknowledged - atWindowStart.acknowledged,
      },
      step: {
        generated: after.generated - before.generated,
        shed,
        acknowledged: after.acknowledged - before.acknowledged,
        failed: after.failed - before.failed,
      },
      ackLatency: counters.ackLatency.summary(),
      generatorLoopDelayP99Ms: round(loopDelay.percentile(99) / 1e6, 1),
      drained,
      drainMs: Math.round(performance.now() - drainStarted),
    };
  }

  async stop(): Promise<LoadReport> {
    let summary: Record<string, unknown> = {};
    if (this.#fleet) {
      await this.#fleet.stop();
      const { perSensor: _perSensor, latencyMs: _latency, ...rest } = this.#fleet.summary();
      summary = rest;
    }
    if (this.#publishers.length > 0) {
      const totals = this.#totals();
      await Promise.all(this.#publishers.map((publisher) => publisher.close()));
      summary = { clients: this.#publishers.length, ...totals };
    }
    return { type: 'stopped', summary };
  }

  /** Gives the next target (round-robin, skipping finished ones) a message; false when shed. */
  #offerOne(): boolean {
    const targets = this.#targets;
    for (let tries = 0; tries < targets.length; tries++) {
      const target = targets[this.#next] as LoadTarget;
      this.#next = (this.#next + 1) % targets.length;
      if (target.finished) continue;
      if (target.generated - target.acknowledged - target.failed >= MAX_BACKLOG_PER_TARGET) return false;
      target.enqueue();
      return true;
    }
    return false;
  }

  async #drain(timeoutMs: number): Promise<boolean> {
    const giveUpAt = performance.now() + timeoutMs;
    while (performance.now() < giveUpAt) {
      if (this.#targets.every((t) => t.finished || t.generated === t.acknowledged + t.failed)) return true;
      await sleep(20);
    }
    return false;
  }

  #totals(): { generated: number; acknowledged: number; failed: number } {
    const totals = { generated: 0, acknowledged: 0, failed: 0 };
    for (const target of this.#targets) {
      totals.generated += target.generated;
      totals.acknowledged += target.acknowledged;
      totals.failed += target.failed;
    }
    return totals;
  }

  #connected(started: number, ready: number, failures: Record<string, number>): LoadReport {
    return {
      type: 'connected',
      targets: this.#targets.length,
      ready,
      failed: this.#targets.length - ready,
      seconds: round((performance.now() - started) / 1000, 1),
      failures,
    };
  }
}

const generator = new LoadGenerator();
const send = (message: LoadReport) => process.send?.(message);

async function handle(command: LoadCommand): Promise<void> {
  try {
    switch (command.type) {
      case 'fleet':
        send(await generator.fleet(command));
        break;
      case 'reference':
        send(await generator.reference(command));
        break;
      case 'run':
        send(await generator.run(command, send));
        break;
      case 'stop':
        send(await generator.stop());
        break;
    }
  } catch (error) {
    send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
}

process.on('message', (command: LoadCommand) => void handle(command));
// The parent gone (it crashed or was killed): nothing left to generate for.
process.on('disconnect', () => process.exit(0));
