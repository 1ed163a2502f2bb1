import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { connectAsync, type IPublishPacket, type MqttClient } from 'mqtt';
import {
  CONTENT_FORMATS,
  decodeTelemetry,
  LatencyRecorder,
  type TelemetryReading,
} from '../sensors/index.js';
import type { MosquittoBroker } from './mosquitto-broker.js';

export interface TelemetrySubscriberOptions {
  /** MQTT client id (default "backend"). */
  clientId?: string;
  /** Topic filter (default "devices/+/telemetry"). */
  topic?: string;
  /**
   * A durable session (clean start off, session kept an hour): with a broker that persists, what
   * gateways publish while this subscriber is away is queued for it. Default true.
   */
  persistent?: boolean;
}

/** What one sensor's stream looked like at the subscriber. */
export interface SensorStream {
  /** Sequence numbers in arrival order (duplicates included). */
  seqs: number[];
  /** Arrivals of a new seq lower than one already received (redeliveries are duplicates, not this). */
  outOfOrder: number;
  /** Arrivals of a seq already received (QoS 1 is at least once). */
  duplicates: number;
  /** MQTT 5 user properties of the latest message. */
  userProperties: Record<string, string | string[]>;
}

export type TelemetrySubscriberEvents = {
  telemetry: [reading: TelemetryReading, receivedAt: number, packet: IPublishPacket];
  /** A message on the topic that is not a telemetry reading. */
  undecodable: [topic: string, error: Error];
};

/**
 * The application side of the broker: an independent MQTT 5 client (mqtt.js over node's own TLS,
 * with the broker's backend certificate) subscribed to `devices/+/telemetry`, checking what arrives
 * per sensor (order, duplicates) and how long it took since the sensor measured (`ts` in the
 * reading). Used by the demo, the HIL tests and the proxy benchmark.
 *
 *   const backend = await TelemetrySubscriber.connect(broker);
 *   …
 *   await backend.waitFor(() => backend.received >= 100, 30_000, '100 messages');
 *   backend.stream('sensor-0001')?.seqs;
 */
export class TelemetrySubscriber extends EventEmitter<TelemetrySubscriberEvents> {
  readonly client: MqttClient;
  readonly #streams = new Map<string, SensorStream & { seen: Set<number>; highest: number }>();
  readonly #latency = new LatencyRecorder();
  #received = 0;
  #undecodable = 0;

  private constructor(client: MqttClient) {
    super();
    this.client = client;
    client.on('message', (topic, payload, packet) => this.#onMessage(topic, payload, packet));
  }

  static async connect(
    broker: MosquittoBroker,
    options: TelemetrySubscriberOptions = {},
  ): Promise<TelemetrySubscriber> {
    const backend = broker.backend;
    if (!backend)
      throw new Error(
        'TelemetrySubscriber: this broker was started with its own serverCert, so it has no backend certificate',
      );
    const persistent = options.persistent ?? true;
    const client = await connectAsync(broker.url, {
      protocolVersion: 5,
      clientId: options.clientId ?? 'backend',
      clean: !persistent,
      ...(persistent ? { properties: { sessionExpiryInterval: 3600 } } : {}),
      ca: broker.caPem,
      cert: readFileSync(backend.certFile, 'utf8'),
      key: readFileSync(backend.keyFile, 'utf8'),
      servername: 'localhost',
      reconnectPeriod: 250,
      connectTimeout: 10_000,
    });
    const subscriber = new TelemetrySubscriber(client);
    const topic = options.topic ?? 'devices/+/telemetry';
    await client.subscribeAsync(topic, { qos: 1 });
    // After a broker restart without the session, subscribe again (a persistent one keeps it).
    client.on('connect', (connack) => {
      if (!connack.sessionPresent) client.subscribe(topic, { qos: 1 });
    });
    return subscriber;
  }

  /** Messages received (duplicates included). */
  get received(): number {
    return this.#received;
  }

  get undecodable(): number {
    return this.#undecodable;
  }

  /** Sensor-measured to subscriber-received, ms (the sensor's `ts` against this machine's clock). */
  get latency(): LatencyRecorder {
    return this.#latency;
  }

  sensors(): string[] {
    return [...this.#streams.keys()];
  }

  stream(sensor: string): SensorStream | undefined {
    const stream = this.#streams.get(sensor);
    if (!stream) return undefined;
    const { seqs, outOfOrder, duplicates, userProperties } = stream;
    return { seqs, outOfOrder, duplicates, userProperties };
  }

  /** Distinct seqs received from `sensor`. */
  distinct(sensor: string): ReadonlySet<number> {
    return this.#streams.get(sensor)?.seen ?? new Set();
  }

  /** Sum over sensors of out-of-order arrivals and of duplicates. */
  totals(): { sensors: number; received: number; distinct: number; outOfOrder: number; duplicates: number } {
    let outOfOrder = 0;
    let duplicates = 0;
    let distinct = 0;
    for (const stream of this.#streams.values()) {
      outOfOrder += stream.outOfOrder;
      duplicates += stream.duplicates;
      distinct += stream.seen.size;
    }
    return { sensors: this.#streams.size, received: this.#received, distinct, outOfOrder, duplicates };
  }

  /** Resolves when `condition` holds; rejects after `timeoutMs` (a ceiling against hangs). */
  async waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const giveUpAt = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > giveUpAt)
        throw new Error(`TelemetrySubscriber: never happened within ${timeoutMs} ms: ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }

  #onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const receivedAt = Date.now();
    let reading: TelemetryReading;
    try {
      const format = packet.properties?.contentType?.startsWith('application/cbor')
        ? CONTENT_FORMATS.cbor
        : CONTENT_FORMATS.json;
      reading = decodeTelemetry(payload, format);
    } catch (error) {
      this.#undecodable++;
      this.emit('undecodable', topic, error as Error);
      return;
    }
    this.#received++;
    this.#latency.record(receivedAt - reading.ts);
    let stream = this.#streams.get(reading.sensor);
    if (!stream) {
      stream = { seqs: [], outOfOrder: 0, duplicates: 0, userProperties: {}, seen: new Set(), highest: 0 };
      this.#streams.set(reading.sensor, stream);
    }
    if (stream.seen.has(reading.seq)) stream.duplicates++;
    else if (reading.seq < stream.highest) stream.outOfOrder++;
    stream.seen.add(reading.seq);
    stream.highest = Math.max(stream.highest, reading.seq);
    stream.seqs.push(reading.seq);
    stream.userProperties = packet.properties?.userProperties ?? {};
    this.emit('telemetry', reading, receivedAt, packet);
  }
}
