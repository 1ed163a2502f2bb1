import { EventEmitter } from 'node:events';
import type {
  CommandMessage,
  CommandSource,
  OutboxFull,
  TelemetryMessage,
  TelemetrySink,
} from '../downstream/index.js';
import { BrokerConnection } from './broker-connection.js';
import { parseBrokerUrl, readTrustAnchors } from './broker-settings.js';
import { CommandInbox } from './command-inbox.js';
import { CommandIngress } from './command-ingress.js';
import { type CommandRefusal, refusalMessage } from './command-refusals.js';
import { Outbox } from './outbox/index.js';
import { OutboxPublisher } from './outbox-publisher.js';
import { ReconnectBackoff } from './reconnect-backoff.js';
import { TelemetryEnvelopes } from './telemetry-envelopes.js';
import type {
  UpstreamClientEvents,
  UpstreamClientOptions,
  UpstreamLog,
  UpstreamStatus,
} from './upstream-client-options.js';
import { LastError } from './upstream-status.js';

const SILENT_LOG: UpstreamLog = { info() {}, warn() {}, debug() {} };

/**
 * QoS 1 PUBLISHes in flight at most, unless the broker's Receive Maximum is lower (mosquitto's
 * default: 20). Each round trip to the broker carries up to this many messages: under telemetry load
 * 64 made one TCP write and one read per ~27 messages, the daemon's costliest system calls.
 */
const IN_FLIGHT_WINDOW = 256;

/**
 * The gateway's MQTT 5 client towards the broker, over our TLS stream (connectTls) with the gateway
 * identity, whose key signs in the KeyStore. It wires four parts, one job each:
 * - BrokerConnection (broker-connection.ts): the connection, the commands_topic subscription,
 *   reconnects with backoff and jitter, the identity change;
 * - OutboxPublisher (outbox-publisher.ts): drains the SQLite outbox to the broker — the ordering
 *   rules live there;
 * - CommandIngress (command-ingress.ts): commands from the broker into the inbox — the admission
 *   rules (expiry, size) live there;
 * - LastError (upstream-status.ts) and status(): what `gatewayctl status` shows.
 *
 * It is the daemon's TelemetrySink: accept() stores a message in the outbox (group commit; the
 * fairness rules live in the outbox) and wakes the publisher. It is the CommandSource as well: a
 * sensor's subscriber gets its commands from the inbox.
 */
export class UpstreamClient
  extends EventEmitter<UpstreamClientEvents>
  implements TelemetrySink, CommandSource
{
  readonly outbox: Outbox;
  readonly commands: CommandInbox;
  readonly broker: string;
  readonly #envelopes: TelemetryEnvelopes;
  readonly #lastError: LastError;
  readonly #connection: BrokerConnection;
  readonly #publisher: OutboxPublisher;
  readonly #ingress: CommandIngress;
  #closed = false;

  private constructor(options: UpstreamClientOptions) {
    super();
    const settings = options.config.upstream;
    const url = parseBrokerUrl(settings.broker_url);
    const clock = options.clock ?? Date.now;
    const log = options.log ?? SILENT_LOG;
    const commandTtlMs = options.config.downstream.coap.command_ttl_s * 1000;
    const emit = this.emit.bind(this);
    this.broker = settings.broker_url;
    this.#envelopes = new TelemetryEnvelopes(settings.telemetry_topic);
    this.#lastError = new LastError(clock);
    // The publisher sends rows as soon as they are committed, while their fsync runs (the sensors'
    // answers wait for it): the broker's copy does not wait for the disk.
    this.outbox = Outbox.open(options.store, settings.outbox, {
      clock,
      onCommitted: () => this.#publisher.wake(),
    });
    this.commands = new CommandInbox(options.store, {
      clock,
      maxAttempts: settings.commands.max_attempts,
      onAbandoned: (command, attempts) =>
        void this.#ingress.report({
          commandId: command.id,
          sensorId: command.sensorId,
          reason: 'undeliverable',
          detail: `command ${command.id} for sensor ${command.sensorId} was not delivered in ${attempts} attempts (registrations of the sensor it headed); it was given up so that the commands behind it go`,
        }),
    });
    this.#connection = new BrokerConnection({
      settings,
      host: url.host,
      port: url.port,
      trustAnchors: options.trustAnchors ?? readTrustAnchors(settings.trust_anchor_file),
      credentials: options.credentials,
      gatewayId: options.gatewayId,
      sessionExpiryS: Math.ceil(commandTtlMs / 1000),
      windowOption: Math.max(1, options.inFlightWindow ?? IN_FLIGHT_WINDOW),
      drainTimeoutMs: options.drainTimeoutMs ?? 5_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 30_000,
      backoff: new ReconnectBackoff(
        settings.reconnect_initial_ms,
        settings.reconnect_max_ms,
        options.random ?? Math.random,
      ),
      log,
      clock,
      lastError: this.#lastError,
      hooks: {
        command: (topic, payload, packet, done) => this.#ingress.take(topic, payload, packet, done),
        live: () => this.#publisher.pump(),
        ended: () => this.#publisher.reset(),
        inFlight: () => this.#publisher.inFlight,
        outboxRows: () => this.outbox.stats().rows,
        emit,
      },
    });
    this.#publisher = new OutboxPublisher({
      outbox: this.outbox,
      broker: this.broker,
      log,
      lastError: this.#lastError,
      emit,
      session: () => this.#connection.session,
      abandon: (session, error) => this.#connection.abandon(session, error),
    });
    this.#ingress = new CommandIngress({
      commandsTopic: settings.commands_topic,
      settings: settings.commands,
      commandTtlMs,
      inbox: this.commands,
      report: (refusal) => this.#reportRefusal(refusal, settings.commands),
      log,
      clock,
      emit,
    });
  }

  /**
   * Opens the outbox and the command inbox in `store` and starts connecting (in the background: the
   * sink takes messages while the broker is away). Throws UpstreamError EGW_UPSTREAM_CONFIG when
   * the settings cannot work (no broker_url, no trust anchors).
   */
  static open(options: UpstreamClientOptions): UpstreamClient {
    const client = new UpstreamClient(options);
    client.#connection.start();
    return client;
  }

  // ---- TelemetrySink ----

  async accept(message: TelemetryMessage): Promise<undefined | OutboxFull> {
    const { topic, properties } = this.#envelopes.of(
      message.sensorId,
      message.sensor.sha256,
      message.sensor.deviceType,
    );
    const answer = await this.outbox.enqueue({
      sensorId: message.sensorId,
      topic,
      payload: message.payload,
      contentFormat: message.contentFormat,
      properties,
      createdAt: message.receivedAt,
    });
    // No wake here: the outbox woke the publisher when it committed the row (onCommitted), before
    // this answer waited for the fsync.
    if (answer.full) return answer;
    return undefined;
  }

  // ---- CommandSource ----

  subscribe(sensorId: string, deliver: (command: CommandMessage) => void): () => void {
    return this.commands.subscribe(sensorId, deliver);
  }

  delivered(sensorId: string, commandId: string): void {
    this.commands.delivered(sensorId, commandId);
  }

  /** Stores a command refusal's report in the outbox; false when there is nowhere to send it or no room. */
  async #reportRefusal(
    refusal: CommandRefusal,
    settings: UpstreamClientOptions['config']['upstream']['commands'],
  ): Promise<boolean> {
    const message = refusalMessage(refusal, settings);
    if (!message) return false;
    const answer = await this.outbox.enqueue(message);
    return !answer.full; // the publisher was woken at the commit (onCommitted)
  }

  // ---- connection ----

  /**
   * The gateway identity changed (renewal, rotation): stop publishing, let what is in flight be
   * acknowledged (up to drainTimeoutMs), end the session and connect at once with credentials() as
   * they are now.
   */
  async reconnectWithNewIdentity(): Promise<void> {
    if (this.#closed) return;
    await this.#connection.reconnectWithNewIdentity();
  }

  status(): UpstreamStatus {
    const outbox = this.outbox.stats();
    const connection = this.#connection;
    const session = connection.lastSession;
    const connectedSince = connection.connectedSince;
    return {
      connected: Boolean(connection.session?.live),
      broker: this.broker,
      clientId: session?.clientId,
      identity: session && {
        generation: session.generation,
        gatewayId: session.gatewayId,
        certificateSha256: session.certificateSha256,
      },
      connectedSince: connectedSince === undefined ? undefined : new Date(connectedSince).toISOString(),
      outbox,
      inFlight: this.#publisher.inFlight,
      published: this.#publisher.published,
      dropped: outbox.dropped,
      refused: outbox.refused,
      rejected: this.#publisher.rejected,
      reconnects: connection.reconnects,
      commands: { ...this.commands.stats(), ...this.#ingress.stats() },
      lastError: this.#lastError.value,
    };
  }

  /**
   * Stops: no reconnect, what is in flight gets up to drainTimeoutMs for its PUBACKs, the session is
   * ended with DISCONNECT, and the outbox commits what waits. The store stays open (its owner's).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#connection.close();
    this.outbox.close();
    this.commands.close();
  }
}
