import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { type IConnackPacket, type IPublishPacket, MqttClient } from 'mqtt';
import type { Config } from '../config/index.js';
import type {
  CommandMessage,
  CommandSource,
  OutboxFull,
  TelemetryMessage,
  TelemetrySink,
} from '../downstream/index.js';
import { GatewayError } from '../errors/index.js';
import { connectTls, TlsClientContext } from '../tls/index.js';
import { CommandInbox } from './command-inbox.js';
import { contentFormatOf, contentTypeOf } from './content-format.js';
import { Outbox, type OutboxRow } from './outbox/index.js';
import { ReconnectBackoff } from './reconnect-backoff.js';
import type {
  UpstreamClientEvents,
  UpstreamClientOptions,
  UpstreamCredentials,
  UpstreamLog,
  UpstreamStatus,
} from './upstream-client-options.js';
import { UpstreamError } from './upstream-error.js';

type UpstreamSettings = Config['upstream'];

/** One connection attempt and, once CONNACKed, the session on it. */
interface Session {
  client: MqttClient;
  context: TlsClientContext;
  clientId: string;
  generation: number;
  gatewayId: string;
  certificateSha256: string;
  /** CONNACK accepted and not closed since. */
  live: boolean;
  /** Publishing stopped: the session is being ended (identity change, close()). */
  retiring: boolean;
  /** In-flight window for this session (ours, capped by the broker's Receive Maximum). */
  window: number;
  /** Called when its last in-flight message is settled or the connection closed. */
  drained: (() => void) | undefined;
  /** Why it failed or ended, when known. */
  error: Error | undefined;
  disposed: boolean;
}

/** PUBACK reasons that will not change by sending again: the message is dropped and counted. */
const PERMANENT_PUBLISH_FAILURES = new Set([0x87, 0x90, 0x95, 0x99]);
/** CONNACK reasons that say the broker does not accept this gateway (as opposed to being busy). */
const IDENTITY_REFUSALS = new Set([0x85, 0x86, 0x87, 0x8a, 0x8c]);
const NETWORK_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
]);

const SILENT_LOG: UpstreamLog = { info() {}, warn() {}, debug() {} };

/**
 * The gateway's MQTT 5 client towards the broker, over our TLS stream (connectTls) with the gateway
 * identity, whose key signs in the KeyStore.
 *
 * It is the daemon's TelemetrySink: accept() stores a message in the SQLite outbox (group commit)
 * and wakes the publisher, which sends the outbox head QoS 1 in global id order, a window of messages
 * in flight on one connection, and deletes a row only on its PUBACK. After any reconnect it starts
 * again from the outbox head: QoS 1 allows the duplicates this makes, and nothing is ever sent ahead
 * of an older message of the same sensor.
 *
 * It is the CommandSource as well: it subscribes to commands_topic, stores each command with its
 * expiry (MQTT 5 message expiry interval, else command_ttl_s) before acknowledging it, and hands it
 * to the sensor's subscriber.
 *
 * Reconnects are its own (mqtt.js reconnectPeriod 0): exponential backoff with full jitter between
 * reconnect_initial_ms and reconnect_max_ms, fresh credentials at every attempt, and at once on
 * reconnectWithNewIdentity(). The MQTT session is kept by the broker (clean start off, session expiry
 * command_ttl_s), so commands published while the gateway was away still arrive.
 */
export class UpstreamClient
  extends EventEmitter<UpstreamClientEvents>
  implements TelemetrySink, CommandSource
{
  readonly outbox: Outbox;
  readonly commands: CommandInbox;
  readonly broker: string;
  readonly #settings: UpstreamSettings;
  readonly #commandTtlMs: number;
  readonly #host: string;
  readonly #port: number;
  readonly #trustAnchors: Uint8Array[];
  readonly #credentials: () => UpstreamCredentials;
  readonly #gatewayId: string | undefined;
  readonly #log: UpstreamLog;
  readonly #clock: () => number;
  readonly #windowOption: number;
  readonly #drainTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #backoff: ReconnectBackoff;
  readonly #commandLevel: number;
  #session: Session | undefined;
  #lastSession: Pick<Session, 'clientId' | 'generation' | 'gatewayId' | 'certificateSha256'> | undefined;
  #connectedSince: number | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  /** Ids published on the current session and not yet settled by a PUBACK. */
  readonly #inFlight = new Set<number>();
  /** The highest id published on the current session: the next peek starts after it. */
  #cursor = 0;
  #pumpScheduled = false;
  #closed = false;
  #published = 0;
  #rejected = 0;
  #reconnects = 0;
  #lastError: UpstreamStatus['lastError'];

  private constructor(options: UpstreamClientOptions) {
    super();
    const settings = options.config.upstream;
    const url = parseBrokerUrl(settings.broker_url);
    this.#settings = settings;
    this.#host = url.host;
    this.#port = url.port;
    this.broker = settings.broker_url;
    this.#trustAnchors = options.trustAnchors ?? readTrustAnchors(settings.trust_anchor_file);
    this.#credentials = options.credentials;
    this.#gatewayId = options.gatewayId;
    this.#log = options.log ?? SILENT_LOG;
    this.#clock = options.clock ?? Date.now;
    this.#commandTtlMs = options.config.downstream.coap.command_ttl_s * 1000;
    this.#windowOption = Math.max(1, options.inFlightWindow ?? 64);
    this.#drainTimeoutMs = options.drainTimeoutMs ?? 5_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
    this.#backoff = new ReconnectBackoff(
      settings.reconnect_initial_ms,
      settings.reconnect_max_ms,
      options.random ?? Math.random,
    );
    this.#commandLevel = settings.commands_topic.split('/').indexOf('+');
    this.outbox = Outbox.open(options.store, settings.outbox, { clock: this.#clock });
    this.commands = new CommandInbox(options.store, { clock: this.#clock });
  }

  /**
   * Opens the outbox and the command inbox in `store` and starts connecting (in the background: the
   * sink takes messages while the broker is away). Throws UpstreamError EGW_UPSTREAM_CONFIG when
   * the settings cannot work (no broker_url, no trust anchors).
   */
  static open(options: UpstreamClientOptions): UpstreamClient {
    const client = new UpstreamClient(options);
    client.#connect();
    return client;
  }

  // ---- TelemetrySink ----

  async accept(message: TelemetryMessage): Promise<undefined | OutboxFull> {
    const properties: Record<string, string> = {
      'sensor-id': message.sensorId,
      'certificate-sha256': message.sensor.sha256,
    };
    if (message.sensor.deviceType) properties['device-type'] = message.sensor.deviceType;
    const answer = await this.outbox.enqueue({
      sensorId: message.sensorId,
      topic: this.#settings.telemetry_topic.replaceAll('{sensorId}', message.sensorId),
      payload: message.payload,
      contentFormat: message.contentFormat,
      properties,
      createdAt: message.receivedAt,
    });
    if (answer.full) return answer;
    this.#wake();
    return undefined;
  }

  // ---- CommandSource ----

  subscribe(sensorId: string, deliver: (command: CommandMessage) => void): () => void {
    return this.commands.subscribe(sensorId, deliver);
  }

  delivered(sensorId: string, commandId: string): void {
    this.commands.delivered(sensorId, commandId);
  }

  // ---- connection ----

  /**
   * The gateway identity changed (renewal, rotation): stop publishing, let what is in flight be
   * acknowledged (up to drainTimeoutMs), end the session and connect at once with credentials() as
   * they are now.
   */
  async reconnectWithNewIdentity(): Promise<void> {
    if (this.#closed) return;
    this.#log.info({ broker: this.broker }, 'upstream: reconnecting with the new gateway identity');
    this.#cancelReconnect();
    const session = this.#session;
    if (session) await this.#retire(session);
    if (this.#closed || this.#session) return;
    this.#backoff.reset();
    this.#connect();
  }

  status(): UpstreamStatus {
    const outbox = this.outbox.stats();
    const session = this.#session ?? this.#lastSession;
    return {
      connected: Boolean(this.#session?.live),
      broker: this.broker,
      clientId: session?.clientId,
      identity: session && {
        generation: session.generation,
        gatewayId: session.gatewayId,
        certificateSha256: session.certificateSha256,
      },
      connectedSince:
        this.#connectedSince === undefined ? undefined : new Date(this.#connectedSince).toISOString(),
      outbox,
      inFlight: this.#inFlight.size,
      published: this.#published,
      dropped: outbox.dropped,
      refused: outbox.refused,
      rejected: this.#rejected,
      reconnects: this.#reconnects,
      commands: this.commands.stats(),
      lastError: this.#lastError,
    };
  }

  /**
   * Stops: no reconnect, what is in flight gets up to drainTimeoutMs for its PUBACKs, the session is
   * ended with DISCONNECT, and the outbox commits what waits. The store stays open (its owner's).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelReconnect();
    const session = this.#session;
    if (session) await this.#retire(session);
    this.outbox.close();
    this.commands.close();
  }

  #connect(): void {
    if (this.#closed || this.#session) return;
    let credentials: UpstreamCredentials;
    let leaf: { sha256: string; commonName: string };
    let context: TlsClientContext;
    try {
      credentials = this.#credentials();
      leaf = describeLeaf(credentials.chain);
    } catch (cause) {
      const error =
        cause instanceof GatewayError
          ? cause
          : new UpstreamError(
              'EGW_UPSTREAM_IDENTITY',
              `no usable gateway identity for the broker connection: ${(cause as Error).message}`,
              { hint: 'check the identity (gatewayctl identity status)', cause },
            );
      this.#failed(error);
      this.emit('offline', error);
      this.#scheduleReconnect();
      return;
    }
    try {
      context = new TlsClientContext({
        ca: this.#trustAnchors,
        certificateChain: credentials.chain,
        privateKey: credentials.privateKey,
      });
    } catch (cause) {
      this.#failed(cause as Error);
      this.emit('offline', cause as Error);
      this.#scheduleReconnect();
      return;
    }
    const gatewayId = this.#gatewayId ?? leaf.commonName;
    const clientId = this.#settings.client_id || gatewayId;
    const client = new MqttClient(() => connectTls({ host: this.#host, port: this.#port, context }), {
      protocolVersion: 5,
      clientId,
      // The broker keeps our subscription and queues commands while we are away.
      clean: false,
      properties: { sessionExpiryInterval: Math.ceil(this.#commandTtlMs / 1000) },
      keepalive: this.#settings.keepalive_s,
      reconnectPeriod: 0,
      connectTimeout: this.#connectTimeoutMs,
      // QoS 1 commands are stored before mqtt.js sends their PUBACK.
      customHandleAcks: (topic, payload, packet, done) => this.#onCommand(topic, payload, packet, done),
    });
    const session: Session = {
      client,
      context,
      clientId,
      generation: credentials.generation,
      gatewayId,
      certificateSha256: leaf.sha256,
      live: false,
      retiring: false,
      window: this.#windowOption,
      drained: undefined,
      error: undefined,
      disposed: false,
    };
    this.#session = session;
    this.#lastSession = session;
    client.on('connect', (connack) => this.#onConnect(session, connack));
    client.on('error', (error) => this.#sessionFailed(session, this.#explain(error)));
    client.on('disconnect', (packet) => {
      const code = packet.reasonCode ?? 0;
      this.#sessionFailed(
        session,
        new UpstreamError(
          'EGW_UPSTREAM_DISCONNECTED',
          `broker ${this.broker} ended the session: ${packet.properties?.reasonString ?? reasonText(code)} (reason ${code})`,
          {
            reasonCode: code,
            hint:
              code === 0x8e
                ? `another client connected with client id "${clientId}": give each gateway its own upstream.client_id`
                : 'the broker log says why; the gateway reconnects',
          },
        ),
      );
    });
    // QoS 0 commands have no acknowledgement to hold back: store them as they come.
    client.on('message', (topic, payload, packet) => {
      if (packet.qos === 0) this.#onCommand(topic, payload, packet, () => undefined);
    });
    client.on('close', () => this.#onClose(session));
    this.#log.debug(
      { broker: this.broker, clientId, generation: credentials.generation },
      'upstream: connecting',
    );
  }

  #onConnect(session: Session, connack: IConnackPacket): void {
    if (this.#session !== session) return;
    session.live = true;
    session.window = Math.min(this.#windowOption, connack.properties?.receiveMaximum ?? 65_535);
    this.#connectedSince = this.#clock();
    this.#backoff.reset();
    this.#inFlight.clear();
    this.#cursor = 0;
    const topic = this.#settings.commands_topic;
    session.client.subscribe(topic, { qos: 1 }, (error) => {
      if (this.#session !== session) return;
      if (!error) this.emit('subscribed', { topic });
      // A SUBACK failure carries its reason code; a lost connection is reported by 'close'.
      else if (typeof (error as { code?: unknown }).code === 'number')
        this.#failed(
          new UpstreamError(
            'EGW_UPSTREAM_REFUSED',
            `broker ${this.broker} refused the subscription to ${topic}: ${error.message}`,
            {
              hint: 'the broker ACL must allow the gateway to subscribe to upstream.commands_topic',
              cause: error,
            },
          ),
        );
    });
    this.#log.info(
      {
        broker: this.broker,
        clientId: session.clientId,
        generation: session.generation,
        sessionPresent: connack.sessionPresent,
        outboxRows: this.outbox.stats().rows,
      },
      'upstream: connected',
    );
    this.emit('connect', {
      broker: this.broker,
      clientId: session.clientId,
      generation: session.generation,
      certificateSha256: session.certificateSha256,
    });
    this.#pump();
  }

  #onClose(session: Session): void {
    const wasLive = session.live;
    session.live = false;
    session.drained?.();
    if (this.#session !== session) return;
    this.#session = undefined;
    this.#connectedSince = undefined;
    this.#inFlight.clear();
    this.#cursor = 0;
    this.#dispose(session);
    if (session.retiring) return; // #retire() decides what comes next
    if (!session.error)
      this.#sessionFailed(
        session,
        new UpstreamError(
          'EGW_UPSTREAM_DISCONNECTED',
          wasLive
            ? `connection to broker ${this.broker} lost`
            : `broker ${this.broker} closed the connection before accepting the session (no CONNACK)`,
          { hint: 'the gateway reconnects with backoff; the broker log says why it closed' },
        ),
      );
    this.#log.warn(
      { broker: this.broker, error: this.#lastError },
      wasLive ? 'upstream: connection lost' : 'upstream: connection failed',
    );
    this.emit('offline', session.error);
    this.#scheduleReconnect();
  }

  /** Stops publishing on `session`, waits (bounded) for its in-flight PUBACKs, then ends it. */
  async #retire(session: Session): Promise<void> {
    session.retiring = true;
    if (session.live && this.#inFlight.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => finish(), this.#drainTimeoutMs);
        const finish = () => {
          clearTimeout(timer);
          session.drained = undefined;
          resolve();
        };
        session.drained = finish;
      });
    }
    const drained = this.#inFlight.size === 0;
    await new Promise<void>((resolve) => session.client.end(!drained || !session.live, () => resolve()));
    if (this.#session === session) {
      this.#session = undefined;
      this.#connectedSince = undefined;
      this.#inFlight.clear();
      this.#cursor = 0;
      this.#dispose(session);
    }
  }

  #dispose(session: Session): void {
    if (session.disposed) return;
    session.disposed = true;
    if (!session.client.disconnecting && !session.client.disconnected) session.client.end(true);
    session.context.free();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer || this.#session) return;
    const delayMs = this.#backoff.next();
    this.#reconnects++;
    this.emit('reconnect', { attempt: this.#backoff.attempt, delayMs });
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#connect();
    }, delayMs);
  }

  #cancelReconnect(): void {
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
  }

  // ---- publishing ----

  #wake(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    // Right after the current burst of PUBACKs (one socket read), not at the end of the event-loop
    // turn: under load a turn handles hundreds of sensor datagrams, and a broker's Receive Maximum
    // (mosquitto: 20) would then cap forwarding at one window per turn.
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  /** Fills the in-flight window from the outbox, oldest first. */
  #pump(): void {
    const session = this.#session;
    if (!session?.live || session.retiring) return;
    while (this.#inFlight.size < session.window) {
      const rows = this.outbox.peek(session.window - this.#inFlight.size, this.#cursor);
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

  #onPublished(session: Session, row: OutboxRow, error: Error | undefined): void {
    // Settled on a session already replaced: the new one sends the row again from the outbox.
    if (this.#session !== session || !this.#inFlight.delete(row.id)) return;
    if (error) {
      const code: unknown = (error as { code?: unknown }).code;
      // No reason code: the connection is going; its 'close' starts over from the outbox head.
      if (typeof code !== 'number') return;
      if (!PERMANENT_PUBLISH_FAILURES.has(code)) {
        // A failure that may pass (quota, server busy): start over from the outbox head, later.
        this.#sessionFailed(
          session,
          new UpstreamError(
            'EGW_UPSTREAM_PUBLISH_REJECTED',
            `broker ${this.broker} did not take message ${row.id} on ${row.topic}: ${reasonText(code)} (reason ${code}); it will be sent again`,
            { reasonCode: code, hint: 'the broker log says why' },
          ),
        );
        session.live = false;
        session.client.end(true);
        return;
      }
      const rejection = new UpstreamError(
        'EGW_UPSTREAM_PUBLISH_REJECTED',
        `broker ${this.broker} refused message ${row.id} of sensor ${row.sensorId} on ${row.topic}: ${reasonText(code)} (reason ${code}); it was dropped`,
        { reasonCode: code, hint: 'check the broker ACL for the telemetry topic and its message size limit' },
      );
      this.#rejected++;
      this.outbox.remove([row.id]);
      this.#failed(rejection);
      this.#log.warn(
        { id: row.id, sensorId: row.sensorId, error: rejection.message },
        'upstream: message rejected',
      );
      this.emit('rejected', { id: row.id, sensorId: row.sensorId, error: rejection });
    } else {
      this.#published++;
      this.outbox.remove([row.id]);
    }
    if (session.retiring) {
      if (this.#inFlight.size === 0) session.drained?.();
      return;
    }
    // PUBACKs come in bursts (one socket read): refill the window once per burst.
    this.#wake();
  }

  // ---- commands ----

  #onCommand(
    topic: string,
    payload: Buffer,
    packet: IPublishPacket,
    done: (error: Error | number, code?: number) => void,
  ): void {
    const sensorId = this.#sensorOfCommandTopic(topic);
    if (!sensorId) {
      this.#log.warn({ topic }, 'upstream: command on a topic outside commands_topic, ignored');
      done(0x90); // Topic Name invalid
      return;
    }
    const properties = packet.properties ?? {};
    const now = this.#clock();
    const lifetimeMs =
      properties.messageExpiryInterval !== undefined
        ? properties.messageExpiryInterval * 1000
        : this.#commandTtlMs;
    const command: CommandMessage = {
      id: commandIdOf(properties),
      sensorId,
      contentFormat: contentFormatOf(properties.contentType, properties.payloadFormatIndicator),
      payload,
      receivedAt: new Date(now),
      expiresAt: new Date(now + lifetimeMs),
    };
    let added: boolean;
    try {
      added = this.commands.add(command);
    } catch (cause) {
      // No PUBACK: the broker sends it again on the next connection.
      done(
        new UpstreamError(
          'EGW_UPSTREAM_PROTOCOL',
          `cannot store command ${command.id} for sensor ${sensorId}: ${(cause as Error).message}`,
          { hint: 'check the state database (free space, file system)', cause },
        ),
      );
      return;
    }
    done(0);
    if (added) {
      this.#log.debug({ sensorId, commandId: command.id }, 'upstream: command stored');
      this.emit('command', command);
    }
  }

  #sensorOfCommandTopic(topic: string): string | undefined {
    const filter = this.#settings.commands_topic.split('/');
    const levels = topic.split('/');
    if (levels.length !== filter.length) return undefined;
    if (!filter.every((level, index) => level === '+' || level === levels[index])) return undefined;
    return levels[this.#commandLevel] || undefined;
  }

  // ---- errors ----

  /** Records why `session` failed (the first reason wins: later ones are its consequences). */
  #sessionFailed(session: Session, error: Error): void {
    if (this.#session !== session) return;
    session.error ??= error;
    this.#failed(error);
  }

  #failed(error: Error): void {
    const gatewayError = error instanceof GatewayError ? error : undefined;
    this.#lastError = {
      code: gatewayError?.code ?? 'EGW_UPSTREAM_PROTOCOL',
      message: error.message,
      hint: gatewayError?.hint,
      at: new Date(this.#clock()).toISOString(),
    };
  }

  /** What mqtt.js or the TLS stream reported, as the error an operator should see. */
  #explain(error: Error): Error {
    if (error instanceof GatewayError) return error;
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'number')
      return new UpstreamError(
        'EGW_UPSTREAM_REFUSED',
        `broker ${this.broker} refused the connection: ${reasonText(code)} (reason ${code})`,
        {
          reasonCode: code,
          cause: error,
          hint: IDENTITY_REFUSALS.has(code)
            ? 'the broker does not accept this gateway: check that its certificate CN is a known user and the ACL'
            : 'the broker log says why; the gateway retries with backoff',
        },
      );
    if (typeof code === 'string' && NETWORK_ERRORS.has(code))
      return new UpstreamError('EGW_UPSTREAM_UNREACHABLE', `cannot reach broker ${this.broker}: ${code}`, {
        cause: error,
        hint: 'check upstream.broker_url, the network and that the broker runs; the gateway retries with backoff',
      });
    return new UpstreamError(
      'EGW_UPSTREAM_PROTOCOL',
      `connection to broker ${this.broker} failed: ${error.message}`,
      {
        cause: error,
        hint: 'the gateway retries with backoff; the broker log may say more',
      },
    );
  }
}

function parseBrokerUrl(brokerUrl: string): { host: string; port: number } {
  const fail = (why: string): never => {
    throw new UpstreamError(
      'EGW_UPSTREAM_CONFIG',
      `upstream.broker_url ${JSON.stringify(brokerUrl)} ${why}`,
      {
        hint: 'set upstream.broker_url to mqtts://host:port (TLS only; 8883 when the port is left out)',
      },
    );
  };
  if (!brokerUrl) fail('is empty');
  let url: URL;
  try {
    url = new URL(brokerUrl);
  } catch {
    return fail('is not a URL');
  }
  if (url.protocol !== 'mqtts:') fail('is not an mqtts:// URL');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) fail('has no host');
  return { host, port: url.port ? Number(url.port) : 8883 };
}

/** The DER certificates of a PEM bundle (upstream.trust_anchor_file). */
function readTrustAnchors(file: string): Uint8Array[] {
  if (!file)
    throw new UpstreamError(
      'EGW_UPSTREAM_CONFIG',
      'no trust anchors for the broker (upstream.trust_anchor_file is "")',
      {
        hint: 'set upstream.trust_anchor_file to the PEM file of the CA that issued the broker certificate',
      },
    );
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new UpstreamError(
      'EGW_UPSTREAM_CONFIG',
      `cannot read upstream.trust_anchor_file ${file}: ${(cause as Error).message}`,
      { hint: 'the file must be readable by the edge-gatewayd user', cause },
    );
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0)
    throw new UpstreamError(
      'EGW_UPSTREAM_CONFIG',
      `upstream.trust_anchor_file ${file} holds no PEM certificate`,
      {
        hint: 'give the broker CA certificate(s) in PEM',
      },
    );
  return blocks.map((block) => new Uint8Array(new X509Certificate(block).raw));
}

function describeLeaf(chain: Uint8Array[]): { sha256: string; commonName: string } {
  const der = chain[0];
  if (!der) throw new Error('the certificate chain is empty');
  const certificate = new X509Certificate(der);
  const commonName = /^CN=(.*)$/m.exec(certificate.subject)?.[1];
  return {
    sha256: createHash('sha256').update(der).digest('hex'),
    commonName: commonName ?? `sha256-${createHash('sha256').update(der).digest('hex').slice(0, 16)}`,
  };
}

/** A command's id: its command-id user property, else its correlation data, else a new one. */
function commandIdOf(properties: NonNullable<IPublishPacket['properties']>): string {
  const fromProperty = properties.userProperties?.['command-id'];
  const id = Array.isArray(fromProperty) ? fromProperty[0] : fromProperty;
  if (id) return id;
  if (properties.correlationData && properties.correlationData.length > 0)
    return `cd-${Buffer.from(properties.correlationData).toString('hex')}`;
  return randomUUID();
}

const REASONS: Record<number, string> = {
  128: 'unspecified error',
  129: 'malformed packet',
  130: 'protocol error',
  131: 'implementation specific error',
  132: 'unsupported protocol version',
  133: 'client identifier not valid',
  134: 'bad user name or password',
  135: 'not authorized',
  136: 'server unavailable',
  137: 'server busy',
  138: 'banned',
  139: 'server shutting down',
  140: 'bad authentication method',
  141: 'keep alive timeout',
  142: 'session taken over',
  144: 'topic name invalid',
  147: 'receive maximum exceeded',
  149: 'packet too large',
  150: 'message rate too high',
  151: 'quota exceeded',
  152: 'administrative action',
  153: 'payload format invalid',
  156: 'use another server',
  157: 'server moved',
  159: 'connection rate exceeded',
  160: 'maximum connect time',
};

function reasonText(code: number): string {
  return REASONS[code] ?? (code === 0 ? 'normal disconnection' : `reason 0x${code.toString(16)}`);
}
