import type { SensorIdentity } from '../trust/index.js';

/**
 * What the CoAP side needs from the upstream side, as two narrow ports the daemon connects: the
 * sensor endpoint hands telemetry to a TelemetrySink and takes commands from a CommandSource, and
 * never learns about MQTT. (src/upstream implements both over its SQLite outbox and mqtt.js.)
 */

/** One telemetry message as a sensor sent it, authenticated. */
export interface TelemetryMessage {
  /** The sensor's upstream name, bound to its enrollment (SensorIdentity.upstreamName). */
  sensorId: string;
  sensor: SensorIdentity;
  /** CoAP Content-Format: 50 application/json or 60 application/cbor. */
  contentFormat: 50 | 60;
  /** The body as received (already checked to parse as its format). */
  payload: Uint8Array;
  receivedAt: Date;
}

/** Refusal of the sink when its outbox is full under the "refuse" policy (→ 5.03 + Max-Age). */
export interface OutboxFull {
  full: true;
  retryAfterSeconds: number;
  /** Why, when the sink says: the whole outbox is full, or this sensor holds its share of it. */
  reason?: 'outbox-full' | 'sensor-share';
}

export interface TelemetrySink {
  /**
   * Resolves once the message is durable (the sensor's acknowledgement waits for this), or with
   * OutboxFull when the outbox refuses it. Rejects only on an unexpected failure (→ 5.00).
   */
  accept(message: TelemetryMessage): Promise<undefined | OutboxFull>;
}

/** A command from upstream for one sensor. */
export interface CommandMessage {
  id: string;
  sensorId: string;
  /** CoAP Content-Format of the payload (50 JSON, 60 CBOR, 0 text/plain, 42 octet-stream). */
  contentFormat: number;
  payload: Uint8Array;
  receivedAt: Date;
  expiresAt: Date;
}

export interface CommandSource {
  /**
   * Delivers the sensor's pending (unexpired) commands, oldest first, then new ones as they come,
   * until the returned function is called.
   */
  subscribe(sensorId: string, deliver: (command: CommandMessage) => void): () => void;
  /** The sensor received it (its notification was acknowledged): it is not delivered again. */
  delivered(sensorId: string, commandId: string): void;
}
