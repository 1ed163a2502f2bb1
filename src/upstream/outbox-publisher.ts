import type { IClientPublishOptions } from 'mqtt';
import type { UpstreamEmit } from './broker-connection.js';
import { contentTypeOf } from './content-format.js';
import { DirectPublisher } from './direct-publish.js';
import { PERMANENT_PUBLISH_FAILURES, reasonText } from './mqtt-reasons.js';
import type { Outbox, OutboxRow } from './outbox/index.js';
import { type PublishProperties, type PublishTemplate, publishTemplate } from './publish-encoding.js';
import type { UpstreamLog } from './upstream-client-options.js';
import { UpstreamError } from './upstream-error.js';
import type { UpstreamSession } from './upstream-session.js';
import type { LastError } from './upstream-status.js';

export interface PublisherOptions {
  outbox: Outbox;
  broker: string;
  log: UpstreamLog;
  lastError: LastError;
  emit: UpstreamEmit;
  /** The current session, when there is one. */
  session(): UpstreamSession | undefined;
  /** A failure that may pass (quota, server busy): end the session; the outbox is sent again after. */
  abandon(session: UpstreamSession, error: Error): void;
}

/**
 * Rows read past the scan horizon but held back because an older message of their sensor is in
 * flight, at most: beyond this the scan waits (memory stays bounded when one sensor's backlog fills
 * the outbox head).
 */
const HELD_MAX = 4096;

/**
 * An outbox row's property that is the MQTT 5 Correlation Data (hex) of its PUBLISH, not a user
 * property: a command refusal answering a request (command-refusals.ts).
 */
export const CORRELATION_DATA_PROPERTY = 'mqtt:correlation-data';

interface PublishOptions {
  gatewayId: string;
  contentFormat: number;
  options: IClientPublishOptions;
}

/**
 * PUBLISH options per properties object (a sensor's messages share one, TelemetryEnvelopes): made
 * once, not once per message. mqtt.js copies what it changes (topic aliases); mqtt-packet would
 * delete userProperties from an oversized PUBLISH only under a maximumPacketSize of our own CONNECT,
 * which we do not set.
 */
const optionsByProperties = new WeakMap<object, PublishOptions>();

/** The encoded topic and properties per PUBLISH options object (so per sensor), for DirectPublisher. */
const templates = new WeakMap<object, { topic: string; template: PublishTemplate }>();

function templateOf(row: OutboxRow, options: IClientPublishOptions): PublishTemplate {
  const known = templates.get(options);
  if (known && known.topic === row.topic) return known.template;
  const template = publishTemplate(row.topic, options.properties as PublishProperties);
  templates.set(options, { topic: row.topic, template });
  return template;
}

function publishOptions(row: OutboxRow, gatewayId: string): IClientPublishOptions {
  const known = optionsByProperties.get(row.properties);
  if (known && known.gatewayId === gatewayId && known.contentFormat === row.contentFormat)
    return known.options;
  const { [CORRELATION_DATA_PROPERTY]: correlationData, ...userProperties } = row.properties;
  const options: IClientPublishOptions = {
    qos: 1,
    properties: {
      contentType: contentTypeOf(row.contentFormat),
      userProperties: { ...userProperties, 'gateway-id': gatewayId },
      ...(correlationData === undefined ? {} : { correlationData: Buffer.from(correlationData, 'hex') }),
    },
  };
  optionsByProperties.set(row.properties, { gatewayId, contentFormat: row.contentFormat, options });
  return options;
}

/**
 * Drains the outbox to the broker: QoS 1, oldest first, a window of messages in flight on one
 * connection (ours, capped by the broker's Receive Maximum), a row deleted only on its PUBACK.
 *
 * Order per sensor: at most one message of a sensor is in flight at a time; the window is filled
 * with other sensors' messages. A broker answers PUBACKs in order but may refuse one and take the
 * next (quota exceeded, server busy): had the sensor's next message been in flight already, it
 * would be at the subscriber before the refused one could be sent again. So a message goes only
 * once the previous one of its sensor is settled, and after a refusal that may pass the session is
 * ended and sending starts again from the outbox head — for that sensor, from the refused message.
 * After a lost connection too: QoS 1 allows the duplicates this makes (messages that were in flight),
 * and no message ever reaches the broker before an older one of its sensor.
 *
 * A PUBACK failure that will not pass (not authorized, packet too large, …) drops the message,
 * counted, and the sensor's next one goes.
 */
export class OutboxPublisher {
  readonly #options: PublisherOptions;
  readonly #outbox: Outbox;
  /** The PUBLISHes of one pump, written together. */
  readonly #direct = new DirectPublisher();
  /** Ids published on the current session and not yet settled by a PUBACK, with their sensor. */
  readonly #inFlight = new Map<number, string>();
  /** Sensors with a message in flight. */
  readonly #busy = new Set<string>();
  /** Rows read but held back behind their sensor's message in flight, per sensor in id order. */
  readonly #held = new Map<string, OutboxRow[]>();
  #heldCount = 0;
  /** Sensors whose message in flight was settled while rows of theirs were held: they go first. */
  readonly #ready: string[] = [];
  /** The highest id read on the current session: the next peek starts after it. */
  #cursor = 0;
  #pumpScheduled = false;
  #published = 0;
  #rejected = 0;

  constructor(options: PublisherOptions) {
    this.#options = options;
    this.#outbox = options.outbox;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Messages the broker acknowledged (PUBACK) since start. */
  get published(): number {
    return this.#published;
  }

  /** Messages the broker refused for good since start. */
  get rejected(): number {
    return this.#rejected;
  }

  /** The session ended or a new one began: what was in flight is sent again from the outbox head. */
  reset(): void {
    this.#inFlight.clear();
    this.#busy.clear();
    this.#held.clear();
    this.#heldCount = 0;
    this.#ready.length = 0;
    this.#cursor = 0;
  }

  wake(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    // Right after the current burst of PUBACKs (one socket read), not at the end of the event-loop
    // turn: under load a turn handles hundreds of sensor datagrams, and a broker's Receive Maximum
    // (mosquitto: 20) would then cap forwarding at one window per turn.
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.pump();
    });
  }

  /** Fills the in-flight window: held rows whose sensor is free first, then the outbox, oldest first. */
  pump(): void {
    const session = this.#options.session();
    if (!session?.live || session.retiring) return;
    try {
      this.#fill(session);
    } finally {
      this.#direct.write();
    }
  }

  #fill(session: UpstreamSession): void {
    while (this.#inFlight.size < session.window) {
      const sensorId = this.#ready.shift();
      if (sensorId === undefined) break;
      const held = this.#held.get(sensorId);
      const row = held?.shift();
      if (!row) continue;
      if (held?.length === 0) this.#held.delete(sensorId);
      this.#heldCount--;
      this.#send(session, row);
    }
    while (this.#inFlight.size < session.window && this.#heldCount < HELD_MAX) {
      const rows = this.#outbox.peek(session.window - this.#inFlight.size, this.#cursor);
      if (rows.length === 0) return;
      for (const row of rows) {
        this.#cursor = row.id;
        const held = this.#held.get(row.sensorId);
        if (this.#busy.has(row.sensorId) || held) {
          if (held) held.push(row);
          else this.#held.set(row.sensorId, [row]);
          this.#heldCount++;
        } else this.#send(session, row);
      }
    }
  }

  #send(session: UpstreamSession, row: OutboxRow): void {
    this.#inFlight.set(row.id, row.sensorId);
    this.#busy.add(row.sensorId);
    const options = publishOptions(row, session.gatewayId);
    const callback = (error?: Error) => this.#onPublished(session, row, error);
    const properties = options.properties as PublishProperties;
    if (
      this.#direct.add(session.client, templateOf(row, options), row.topic, row.payload, properties, callback)
    )
      return;
    // mqtt.js sends it (not connected at this instant, replaying its store, …): after those queued.
    this.#direct.write();
    session.client.publish(row.topic, row.payload, options, callback);
  }

  /** The sensor's message in flight is settled: its next one may go. */
  #free(sensorId: string): void {
    this.#busy.delete(sensorId);
    if (this.#held.has(sensorId)) this.#ready.push(sensorId);
  }

  #onPublished(session: UpstreamSession, row: OutboxRow, error: Error | undefined): void {
    const options = this.#options;
    // Settled on a session already replaced: the new one sends the row again from the outbox.
    if (options.session() !== session || !this.#inFlight.delete(row.id)) return;
    if (error) {
      const code: unknown = (error as { code?: unknown }).code;
      // No reason code: the connection is going; its 'close' starts over from the outbox head.
      if (typeof code !== 'number') return;
      if (!PERMANENT_PUBLISH_FAILURES.has(code)) {
        // A failure that may pass (quota, server busy): start over from the outbox head, later. The
        // sensor stays busy meanwhile: none of its later messages may go before this one.
        options.abandon(
          session,
          new UpstreamError(
            'EGW_UPSTREAM_PUBLISH_REJECTED',
            `broker ${options.broker} did not take message ${row.id} on ${row.topic}: ${reasonText(code)} (reason ${code}); it will be sent again`,
            { reasonCode: code, hint: 'the broker log says why' },
          ),
        );
        return;
      }
      const rejection = new UpstreamError(
        'EGW_UPSTREAM_PUBLISH_REJECTED',
        `broker ${options.broker} refused message ${row.id} of sensor ${row.sensorId} on ${row.topic}: ${reasonText(code)} (reason ${code}); it was dropped`,
        { reasonCode: code, hint: 'check the broker ACL for the telemetry topic and its message size limit' },
      );
      this.#rejected++;
      this.#outbox.remove([row.id]);
      options.lastError.record(rejection);
      options.log.warn(
        { id: row.id, sensorId: row.sensorId, error: rejection.message },
        'upstream: message rejected',
      );
      options.emit('rejected', { id: row.id, sensorId: row.sensorId, error: rejection });
    } else {
      this.#published++;
      this.#outbox.remove([row.id]);
    }
    this.#free(row.sensorId);
    if (session.retiring) {
      if (this.#inFlight.size === 0) session.drained?.();
      return;
    }
    // PUBACKs come in bursts (one socket read): refill the window once per burst.
    this.wake();
  }
}
