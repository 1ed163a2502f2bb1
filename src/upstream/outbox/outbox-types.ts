import type { Config } from '../../config/index.js';
import type { OutboxFull } from '../../downstream/index.js';

/** [upstream.outbox] of the config file. */
export type OutboxSettings = Config['upstream']['outbox'];

/** A message to keep until the broker has it. */
export interface OutboxMessage {
  sensorId: string;
  /** The MQTT topic it is published to. */
  topic: string;
  payload: Uint8Array;
  /** CoAP Content-Format (50 JSON, 60 CBOR, …): becomes the MQTT 5 content type. */
  contentFormat: number;
  /**
   * MQTT 5 user properties fixed at acceptance (sensor-id, certificate-sha256, …). Not to be changed
   * once given: the outbox keeps the object (and its serialization) for the rows it hands out.
   */
  properties?: Readonly<Record<string, string>>;
  /** Default: now. */
  createdAt?: Date;
}

/** A stored message, as peek() returns it. */
export interface OutboxRow {
  /** Increasing in arrival order, never reused. */
  id: number;
  sensorId: string;
  topic: string;
  payload: Buffer;
  contentFormat: number;
  properties: Readonly<Record<string, string>>;
  /** What it counts against max_bytes. */
  bytes: number;
  createdAt: Date;
}

/** enqueue()'s answer once the message is committed. */
export interface OutboxAccepted {
  full: false;
  id: number;
}

/**
 * enqueue()'s refusal under "refuse" (the sink's OutboxFull → 5.03 + Max-Age), with why: the outbox
 * is full, or this sensor holds its share of it already (the other sensors' messages are still taken).
 */
export interface OutboxRefusal extends OutboxFull {
  reason: 'outbox-full' | 'sensor-share';
}

export interface OutboxStats {
  /** Rows in the table (committed), and their bytes. */
  rows: number;
  bytes: number;
  /** Messages waiting for the next group commit. */
  waiting: number;
  /** Messages committed and waiting for their fsync (not yet acknowledged). */
  syncing: number;
  maxRows: number;
  maxBytes: number;
  whenFull: OutboxSettings['when_full'];
  /** Messages committed since open. */
  committed: number;
  /** Transactions that committed messages or removals since open (one fsync each). */
  transactions: number;
  /** Rows deleted after the broker acknowledged them. */
  removed: number;
  /** Oldest rows deleted to make room ("drop-oldest"). */
  dropped: number;
  /** Messages turned away because the outbox was full or their sensor over its share ("refuse"). */
  refused: number;
  /** The part of max_rows and max_bytes one sensor may hold. */
  perSensorShare: number;
  /** Sensors with messages in the outbox. */
  sensors: number;
  /** Of `refused`, those of a sensor over its share. */
  refusedOverShare: number;
  /** Of `dropped`, rows a sensor over its share dropped of its own ("drop-oldest"). */
  droppedOverShare: number;
}
