import type { UpstreamEmit } from './broker-connection.js';
import { contentTypeOf } from './content-format.js';
import { PERMANENT_PUBLISH_FAILURES, reasonText } from './mqtt-reasons.js';
import type { Outbox, OutboxRow } from './outbox/index.js';
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
 * Drains the outbox to the broker: sends the outbox head QoS 1 in global id order, a window of
 * messages in flight on one connection (ours, capped by the broker's Receive Maximum), and deletes
 * a row only on its PUBACK. After any reconnect it starts again from the outbox head: QoS 1 allows
 * the duplicates this makes, and nothing is ever sent ahead of an older message of the same sensor.
 * A PUBACK failure that will not pass (not authorized, packet too large, …) drops the message,
 * counted; one that may pass ends the session.
 */
export class OutboxPublisher {
  readonly #options: PublisherOptions;
  readonly #outbox: Outbox;
  /** Ids published on the current session and not yet settled by a PUBACK. */
  readonly #inFlight = new Set<number>();
  /** The highest id published on the current session: the next peek starts after it. */
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

  /** Fills the in-flight window from the outbox, oldest first. */
  pump(): void {
    const session = this.#options.session();
    if (!session?.live || session.retiring) return;
    while (this.#inFlight.size < session.window) {
      const rows = this.#outbox.peek(session.window - this.#inFlight.size, this.#cursor);
      if (rows.length === 0) return;
      for (const row of rows) {
        this.#cursor = row.id;
        this.#inFlight.add(row.id);
        session.client.publish(
          row.topic,
          row.payload,
          {
            qos: 1,
            properties: {
              contentType: contentTypeOf(row.contentFormat),
              userProperties: { ...row.properties, 'gateway-id': session.gatewayId },
            },
          },
          (error) => this.#onPublished(session, row, error),
        );
      }
    }
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
        // A failure that may pass (quota, server busy): start over from the outbox head, later.
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
    if (session.retiring) {
      if (this.#inFlight.size === 0) session.drained?.();
      return;
    }
    // PUBACKs come in bursts (one socket read): refill the window once per burst.
    this.wake();
  }
}
