import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FleetSummary } from './fleet-summary.js';
import { LatencyRecorder } from './latency-recorder.js';
import type { SensorCa } from './sensor-ca.js';
import { BAD_ACTOR_KINDS, type BadActorCounts, type BadActorKind } from './sensor-credentials.js';
import type { SensorMessageCounts } from './sensor-result.js';
import { SimulatedSensor, type SimulatedSensorOptions } from './simulated-sensor.js';
import type { TelemetryFormat } from './telemetry-payload.js';

export interface SensorFleetOptions {
  ca: SensorCa;
  gateway: { host: string; port: number };
  /** Trust anchors for the gateway's certificate, DER. */
  gatewayCa: readonly Uint8Array[];
  /** Honest sensors. */
  sensors: number;
  /** Bad actors added to the honest sensors, e.g. `{ unknownCa: 2, expired: 1, revoked: 1, unauthorized: 1 }`. */
  badActors?: BadActorCounts;
  /** Telemetry messages per second for the whole fleet, spread round-robin over the sensors. */
  rate: number;
  /** 'mixed': every other sensor sends CBOR. Default 'json'. */
  format?: TelemetryFormat | 'mixed';
  /** Honest sensors are named `${namePrefix}0001`… (default "sensor-"). */
  namePrefix?: string;
  /**
   * Handshakes started per second (default 8). All sensors of a fleet come from one IP address, and
   * the gateway limits handshakes per address (10/s, burst 20 by default): above that, ClientHellos
   * are dropped and the sensors retransmit them, which slows everything down.
   */
  connectRate?: number;
  /** Handshakes in progress at most (default 32). */
  connectConcurrency?: number;
  /** How long `run` waits for in-flight messages once it stops generating (default 15 s). */
  drainTimeoutMs?: number;
  /** Interval of 'progress' events during connect and run (default 1 s). */
  progressIntervalMs?: number;
  /** Passed to every SimulatedSensor (timeouts, paths, CON/NON, …). */
  sensor?: Partial<Omit<SimulatedSensorOptions, 'credentials' | 'role' | 'gateway' | 'gatewayCa' | 'format'>>;
}

export interface FleetProgress {
  phase: 'connect' | 'run' | 'drain';
  elapsedMs: number;
  connected: number;
  refused: number;
  unreachable: number;
  generated: number;
  acknowledged: number;
  /** Acknowledgements per second since the previous progress event. */
  acknowledgedPerSecond: number;
}

export type SensorFleetEvents = { progress: [progress: FleetProgress] };

/** Stops generating after `durationMs` or `messages`, whichever comes first (at least one is needed). */
export interface FleetRunOptions {
  durationMs?: number;
  messages?: number;
}

const BAD_ACTOR_NAMES: Record<BadActorKind, string> = {
  unknownCa: 'bad-unknown-ca',
  expired: 'bad-expired',
  revoked: 'bad-revoked',
  unauthorized: 'bad-unauthorized',
};

/**
 * N simulated sensors against one gateway, each with its own certificate, DTLS session and UDP port
 * (one file descriptor per sensor: 1000 sensors need `ulimit -n` above 1000), plus bad actors on
 * request. `connect()` brings them up at `connectRate`, `run()` sends telemetry at `rate` messages/s
 * for the whole fleet and waits for the answers, `summary()` says what happened.
 *
 *   const fleet = SensorFleet.create({ ca, gateway, gatewayCa, sensors: 20, rate: 50 });
 *   await fleet.connect();
 *   await fleet.run({ durationMs: 10_000 });
 *   await fleet.stop();
 *   console.log(fleet.summary());
 */
export class SensorFleet extends EventEmitter<SensorFleetEvents> {
  readonly sensors: readonly SimulatedSensor[];
  readonly #options: SensorFleetOptions;
  readonly #byName: Map<string, SimulatedSensor>;
  #connectMs = 0;
  #runMs = 0;
  #generatingMs = 0;
  #stopped = false;

  private constructor(options: SensorFleetOptions, sensors: SimulatedSensor[]) {
    super();
    this.#options = options;
    this.sensors = sensors;
    this.#byName = new Map(sensors.map((sensor) => [sensor.name, sensor]));
  }

  /** Issues every sensor's certificate (bad actors' too) and makes the sensors; nothing connects yet. */
  static create(options: SensorFleetOptions): SensorFleet {
    if (!(options.rate > 0)) throw new RangeError(`rate must be > 0 messages/s (got ${options.rate})`);
    if (!Number.isInteger(options.sensors) || options.sensors < 0)
      throw new RangeError(`sensors must be a whole number (got ${options.sensors})`);
    const width = Math.max(4, String(options.sensors).length);
    const prefix = options.namePrefix ?? 'sensor-';
    const sensors: SimulatedSensor[] = [];
    const make = (index: number, role: SimulatedSensor['role'], name: string) => {
      const credentials =
        role === 'sensor' ? options.ca.issue({ commonName: name }) : options.ca.badActor(role, name);
      const format =
        options.format === 'mixed' ? (index % 2 === 1 ? 'cbor' : 'json') : (options.format ?? 'json');
      sensors.push(
        new SimulatedSensor({
          ...options.sensor,
          credentials,
          role,
          gateway: options.gateway,
          gatewayCa: options.gatewayCa,
          format,
        }),
      );
    };
    for (let i = 1; i <= options.sensors; i++)
      make(i, 'sensor', `${prefix}${String(i).padStart(width, '0')}`);
    for (const kind of BAD_ACTOR_KINDS) {
      const count = options.badActors?.[kind] ?? 0;
      for (let i = 1; i <= count; i++) make(sensors.length + 1, kind, `${BAD_ACTOR_NAMES[kind]}-${i}`);
    }
    return new SensorFleet(options, sensors);
  }

  sensor(name: string): SimulatedSensor | undefined {
    return this.#byName.get(name);
  }

  /**
   * Starts every sensor's handshake, `connectRate` per second with at most `connectConcurrency`
   * under way; resolves when each one is connected, refused or unreachable.
   */
  async connect(): Promise<void> {
    const started = performance.now();
    const interval = 1000 / (this.#options.connectRate ?? 8);
    const concurrency = this.#options.connectConcurrency ?? 32;
    const underWay = new Set<Promise<void>>();
    const progress = this.#progressEvery('connect', started);
    try {
      for (const sensor of this.sensors) {
        if (this.#stopped) break;
        while (underWay.size >= concurrency) await Promise.race(underWay);
        const settled: Promise<void> = sensor.start().then(() => {
          underWay.delete(settled);
        });
        underWay.add(settled);
        if (interval >= 1) await sleep(interval);
      }
      await Promise.all(underWay);
    } finally {
      clearInterval(progress);
      this.#connectMs = performance.now() - started;
    }
  }

  /**
   * Generates telemetry at `rate` messages/s, round-robin over the sensors that are not refused,
   * unreachable or stopped, until `durationMs` or `messages`; then waits (up to drainTimeoutMs) for
   * the sensors to empty their queues.
   */
  async run(options: FleetRunOptions): Promise<void> {
    if (options.durationMs === undefined && options.messages === undefined)
      throw new RangeError('run needs durationMs or messages');
    const rate = this.#options.rate;
    const limit = options.messages ?? Number.POSITIVE_INFINITY;
    const durationMs = options.durationMs ?? Number.POSITIVE_INFINITY;
    const started = performance.now();
    let issued = 0;
    let next = 0;
    const progress = this.#progressEvery('run', started);
    // Ticks of 5–50 ms: a few messages per tick at high rates, about one per tick at low ones.
    const tickMs = Math.min(50, Math.max(5, 1000 / rate));
    try {
      while (!this.#stopped && issued < limit) {
        const elapsed = performance.now() - started;
        if (elapsed >= durationMs) break;
        const due = Math.min(limit, Math.floor((rate * elapsed) / 1000) + 1) - issued;
        let enqueued = 0;
        for (let n = 0; n < due; n++) {
          const index = this.#nextEligible(next);
          if (index === undefined) break;
          next = (index + 1) % this.sensors.length;
          (this.sensors[index] as SimulatedSensor).enqueueTelemetry();
          issued++;
          enqueued++;
        }
        if (due > 0 && enqueued === 0) break; // every sensor is refused, unreachable or stopped
        await sleep(tickMs);
      }
      this.#generatingMs += performance.now() - started;
      clearInterval(progress);
      const drainProgress = this.#progressEvery('drain', started);
      try {
        await Promise.race([
          Promise.all(this.sensors.map((sensor) => sensor.drained())),
          sleep(this.#options.drainTimeoutMs ?? 15_000, undefined, { ref: false }),
        ]);
      } finally {
        clearInterval(drainProgress);
      }
    } finally {
      clearInterval(progress);
      this.#runMs += performance.now() - started;
    }
  }

  /** Stops every sensor (close_notify); what is still queued or in flight is counted as such. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.sensors.map((sensor) => sensor.stop()));
  }

  summary(): FleetSummary {
    const results = this.sensors.map((sensor) => sensor.result());
    const messages: SensorMessageCounts = {
      generated: 0,
      sent: 0,
      acknowledged: 0,
      rejected: 0,
      lost: 0,
      unanswered: 0,
      unsent: 0,
      dropped: 0,
      serviceUnavailable: 0,
    };
    const rejectedByCode: Record<string, number> = {};
    const refusalsByReason: Record<string, number> = {};
    const notRefused: string[] = [];
    const honestRefused: string[] = [];
    let badActorsRefused = 0;
    const sessions = { established: 0, resumed: 0, lost: 0 };
    let commandsReceived = 0;
    for (const result of results) {
      for (const key of Object.keys(messages) as (keyof SensorMessageCounts)[]) {
        messages[key] += result.messages[key];
      }
      for (const [code, count] of Object.entries(result.rejectedByCode)) {
        rejectedByCode[code] = (rejectedByCode[code] ?? 0) + count;
      }
      sessions.established += result.sessions;
      sessions.resumed += result.resumedSessions;
      sessions.lost += result.sessionsLost;
      commandsReceived += result.commands.length;
      const refusal = result.refusal;
      if (refusal) {
        const reason =
          refusal.stage === 'handshake'
            ? `handshake: ${refusal.reason}`
            : `request ${refusal.code} ${refusal.request ?? ''}`.trim();
        refusalsByReason[reason] = (refusalsByReason[reason] ?? 0) + 1;
      }
      if (result.role === 'sensor') {
        if (refusal) honestRefused.push(result.name);
      } else if (refusal) {
        badActorsRefused++;
      } else if (result.role === 'unauthorized' ? result.forbiddenRequestAllowed : result.admitted) {
        notRefused.push(result.name);
      }
    }
    const perSecond = (count: number, ms: number) => (ms > 0 ? Math.round((count / ms) * 10_000) / 10 : 0);
    const { gateway } = this.#options;
    return {
      gateway: gateway.host.includes(':')
        ? `[${gateway.host}]:${gateway.port}`
        : `${gateway.host}:${gateway.port}`,
      format: this.#options.format ?? 'json',
      confirmable: this.#options.sensor?.confirmable ?? true,
      connectSeconds: Math.round(this.#connectMs) / 1000,
      generatingSeconds: Math.round(this.#generatingMs) / 1000,
      runSeconds: Math.round(this.#runMs) / 1000,
      sensors: {
        total: results.length,
        honest: results.filter((result) => result.role === 'sensor').length,
        admitted: results.filter((result) => result.admitted).length,
        connected: results.filter((result) => result.state === 'connected').length,
        refused: results.filter((result) => result.state === 'refused').length,
        unreachable: results.filter((result) => result.state === 'unreachable').length,
        stopped: results.filter((result) => result.state === 'stopped').length,
      },
      badActors: {
        requested: { ...this.#options.badActors },
        refused: badActorsRefused,
        notRefused,
      },
      honestRefused,
      refusalsByReason,
      sessions,
      messages,
      rejectedByCode,
      rates: {
        targetPerSecond: this.#options.rate,
        generatedPerSecond: perSecond(messages.generated, this.#generatingMs),
        acknowledgedPerSecond: perSecond(messages.acknowledged, this.#runMs),
      },
      latencyMs: LatencyRecorder.combined(this.sensors.map((sensor) => sensor.latency)),
      commandsReceived,
      perSensor: results,
    };
  }

  /** The index of the first sensor from `start` on (round-robin) that can still send. */
  #nextEligible(start: number): number | undefined {
    const count = this.sensors.length;
    for (let i = 0; i < count; i++) {
      const index = (start + i) % count;
      if (!(this.sensors[index] as SimulatedSensor).finished) return index;
    }
    return undefined;
  }

  #progressEvery(phase: FleetProgress['phase'], started: number): NodeJS.Timeout {
    let lastAcknowledged = this.#acknowledged();
    let lastAt = performance.now();
    const timer = setInterval(() => {
      if (this.listenerCount('progress') === 0) return;
      const now = performance.now();
      const acknowledged = this.#acknowledged();
      const counts = { connected: 0, refused: 0, unreachable: 0 };
      let generated = 0;
      for (const sensor of this.sensors) {
        if (sensor.state === 'connected') counts.connected++;
        else if (sensor.state === 'refused') counts.refused++;
        else if (sensor.state === 'unreachable') counts.unreachable++;
        generated += sensor.generated;
      }
      this.emit('progress', {
        phase,
        elapsedMs: Math.round(now - started),
        ...counts,
        generated,
        acknowledged,
        acknowledgedPerSecond: Math.round(((acknowledged - lastAcknowledged) * 1000) / (now - lastAt)),
      });
      lastAcknowledged = acknowledged;
      lastAt = now;
    }, this.#options.progressIntervalMs ?? 1000);
    timer.unref();
    return timer;
  }

  #acknowledged(): number {
    let total = 0;
    for (const sensor of this.sensors) total += sensor.acknowledged;
    return total;
  }
}
