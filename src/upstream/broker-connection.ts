import type { EventEmitter } from 'node:events';
import { type IConnackPacket, type IPublishPacket, MqttClient } from 'mqtt';
import type { Config } from '../config/index.js';
import { GatewayError } from '../errors/index.js';
import { connectTls, TlsClientContext } from '../tls/index.js';
import { describeLeaf } from './broker-settings.js';
import { IDENTITY_REFUSALS, NETWORK_ERRORS, reasonText } from './mqtt-reasons.js';
import type { ReconnectBackoff } from './reconnect-backoff.js';
import type { UpstreamClientEvents, UpstreamCredentials, UpstreamLog } from './upstream-client-options.js';
import { UpstreamError } from './upstream-error.js';
import type { SessionIdentity, UpstreamSession } from './upstream-session.js';
import type { LastError } from './upstream-status.js';

/** The client's emit(): the parts report their events through it. */
export type UpstreamEmit = EventEmitter<UpstreamClientEvents>['emit'];

/** What the connection needs from the rest of the client. */
export interface ConnectionHooks {
  /** A QoS 1 command (acknowledged when `done` is called) or a QoS 0 one (`done` does nothing). */
  command(
    topic: string,
    payload: Buffer,
    packet: IPublishPacket,
    done: (error: Error | number, code?: number) => void,
  ): void;
  /** The session was CONNACKed: publishing may start on it. */
  live(session: UpstreamSession): void;
  /** The session ended (lost, or retired): what was in flight on it is to be sent again. */
  ended(session: UpstreamSession): void;
  /** Messages published and not yet settled on the current session. */
  inFlight(): number;
  /** For the log line of a new connection. */
  outboxRows(): number;
  emit: UpstreamEmit;
}

export interface ConnectionOptions {
  settings: Config['upstream'];
  host: string;
  port: number;
  trustAnchors: Uint8Array[];
  credentials: () => UpstreamCredentials;
  gatewayId: string | undefined;
  /** The broker keeps the session (and queued commands) this long while we are away. */
  sessionExpiryS: number;
  windowOption: number;
  drainTimeoutMs: number;
  connectTimeoutMs: number;
  backoff: ReconnectBackoff;
  log: UpstreamLog;
  clock: () => number;
  lastError: LastError;
  hooks: ConnectionHooks;
}

/**
 * The connection to the broker and its lifecycle: one mqtt.js client per attempt over our TLS
 * stream with the credentials of the moment, the commands_topic subscription on every CONNACK,
 * reconnects with exponential backoff and full jitter (mqtt.js reconnectPeriod 0: they are ours), at
 * once on an identity change, and a bounded drain of in-flight PUBACKs before a session is ended on
 * purpose. The MQTT session is kept by the broker (clean start off), so commands published while the
 * gateway was away still arrive.
 */
export class BrokerConnection {
  readonly broker: string;
  readonly #options: ConnectionOptions;
  readonly #hooks: ConnectionHooks;
  #session: UpstreamSession | undefined;
  #lastSession: SessionIdentity | undefined;
  #connectedSince: number | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #reconnects = 0;
  #closed = false;

  constructor(options: ConnectionOptions) {
    this.#options = options;
    this.#hooks = options.hooks;
    this.broker = options.settings.broker_url;
  }

  /** The current session (connecting or live), if any. */
  get session(): UpstreamSession | undefined {
    return this.#session;
  }

  /** The current or, when away, the last session. */
  get lastSession(): SessionIdentity | undefined {
    return this.#session ?? this.#lastSession;
  }

  get connectedSince(): number | undefined {
    return this.#connectedSince;
  }

  /** Connection attempts after a lost or failed connection. */
  get reconnects(): number {
    return this.#reconnects;
  }

  /** Starts connecting (in the background). */
  start(): void {
    this.#connect();
  }

  /** Ends `session` (a failure the publisher saw, already recorded): the reconnect follows its close. */
  abandon(session: UpstreamSession, error: Error): void {
    this.sessionFailed(session, error);
    session.live = false;
    session.client.end(true);
  }

  /** See UpstreamClient.reconnectWithNewIdentity(). */
  async reconnectWithNewIdentity(): Promise<void> {
    if (this.#closed) return;
    this.#options.log.info({ broker: this.broker }, 'upstream: reconnecting with the new gateway identity');
    this.#cancelReconnect();
    const session = this.#session;
    if (session) await this.#retire(session);
    if (this.#closed || this.#session) return;
    this.#options.backoff.reset();
    this.#connect();
  }

  /** No reconnect from now on; the session (if any) is drained (bounded) and ended. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelReconnect();
    const session = this.#session;
    if (session) await this.#retire(session);
  }

  /** Records why `session` failed (the first reason wins: later ones are its consequences). */
  sessionFailed(session: UpstreamSession, error: Error): void {
    if (this.#session !== session) return;
    session.error ??= error;
    this.#options.lastError.record(error);
  }

  #connect(): void {
    if (this.#closed || this.#session) return;
    const options = this.#options;
    let credentials: UpstreamCredentials;
    let leaf: { sha256: string; commonName: string };
    let context: TlsClientContext;
    try {
      credentials = options.credentials();
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
      options.lastError.record(error);
      this.#hooks.emit('offline', error);
      this.#scheduleReconnect();
      return;
    }
    try {
      context = new TlsClientContext({
        ca: options.trustAnchors,
        certificateChain: credentials.chain,
        privateKey: credentials.privateKey,
      });
    } catch (cause) {
      options.lastError.record(cause as Error);
      this.#hooks.emit('offline', cause as Error);
      this.#scheduleReconnect();
      return;
    }
    const gatewayId = options.gatewayId ?? leaf.commonName;
    const clientId = options.settings.client_id || gatewayId;
    const client = new MqttClient(() => connectTls({ host: options.host, port: options.port, context }), {
      protocolVersion: 5,
      clientId,
      // The broker keeps our subscription and queues commands while we are away.
      clean: false,
      properties: { sessionExpiryInterval: options.sessionExpiryS },
      keepalive: options.settings.keepalive_s,
      // Per PUBACK, mqtt.js would move its keep-alive timer (a clear and a set) and call its debug
      // logger several times: under telemetry load ~2 % of the daemon's busy time. A PINGREQ every
      // keepalive_s instead, and mqtt.js's debug lines only when DEBUG asks for them.
      reschedulePings: false,
      ...(process.env.DEBUG ? {} : { log: () => undefined }),
      reconnectPeriod: 0,
      connectTimeout: options.connectTimeoutMs,
      // QoS 1 commands are stored before mqtt.js sends their PUBACK.
      customHandleAcks: (topic, payload, packet, done) => this.#hooks.command(topic, payload, packet, done),
    });
    const session: UpstreamSession = {
      client,
      context,
      clientId,
      generation: credentials.generation,
      gatewayId,
      certificateSha256: leaf.sha256,
      live: false,
      retiring: false,
      window: options.windowOption,
      drained: undefined,
      error: undefined,
      disposed: false,
    };
    this.#session = session;
    this.#lastSession = session;
    client.on('connect', (connack) => this.#onConnect(session, connack));
    client.on('error', (error) => this.sessionFailed(session, this.#explain(error)));
    client.on('disconnect', (packet) => {
      const code = packet.reasonCode ?? 0;
      this.sessionFailed(
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
      if (packet.qos === 0) this.#hooks.command(topic, payload, packet, () => undefined);
    });
    client.on('close', () => this.#onClose(session));
    options.log.debug(
      { broker: this.broker, clientId, generation: credentials.generation },
      'upstream: connecting',
    );
  }

  #onConnect(session: UpstreamSession, connack: IConnackPacket): void {
    if (this.#session !== session) return;
    const options = this.#options;
    session.live = true;
    session.window = Math.min(options.windowOption, connack.properties?.receiveMaximum ?? 65_535);
    this.#connectedSince = options.clock();
    options.backoff.reset();
    this.#hooks.ended(session); // anything in flight before belongs to no session now
    const topic = options.settings.commands_topic;
    session.client.subscribe(topic, { qos: 1 }, (error) => {
      if (this.#session !== session) return;
      if (!error) this.#hooks.emit('subscribed', { topic });
      // A SUBACK failure carries its reason code; a lost connection is reported by 'close'.
      else if (typeof (error as { code?: unknown }).code === 'number')
        options.lastError.record(
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
    options.log.info(
      {
        broker: this.broker,
        clientId: session.clientId,
        generation: session.generation,
        sessionPresent: connack.sessionPresent,
        outboxRows: this.#hooks.outboxRows(),
      },
      'upstream: connected',
    );
    this.#hooks.emit('connect', {
      broker: this.broker,
      clientId: session.clientId,
      generation: session.generation,
      certificateSha256: session.certificateSha256,
    });
    this.#hooks.live(session);
  }

  #onClose(session: UpstreamSession): void {
    const wasLive = session.live;
    session.live = false;
    session.drained?.();
    if (this.#session !== session) return;
    this.#session = undefined;
    this.#connectedSince = undefined;
    this.#hooks.ended(session);
    this.#dispose(session);
    if (session.retiring) return; // #retire() decides what comes next
    // Closed without an error or a DISCONNECT before: that is the reason (no longer the current
    // session, so not through sessionFailed()).
    if (!session.error) {
      session.error = new UpstreamError(
        'EGW_UPSTREAM_DISCONNECTED',
        wasLive
          ? `connection to broker ${this.broker} lost`
          : `broker ${this.broker} closed the connection before accepting the session (no CONNACK)`,
        { hint: 'the gateway reconnects with backoff; the broker log says why it closed' },
      );
      this.#options.lastError.record(session.error);
    }
    this.#options.log.warn(
      { broker: this.broker, error: this.#options.lastError.value },
      wasLive ? 'upstream: connection lost' : 'upstream: connection failed',
    );
    this.#hooks.emit('offline', session.error);
    this.#scheduleReconnect();
  }

  /** Stops publishing on `session`, waits (bounded) for its in-flight PUBACKs, then ends it. */
  async #retire(session: UpstreamSession): Promise<void> {
    session.retiring = true;
    if (session.live && this.#hooks.inFlight() > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => finish(), this.#options.drainTimeoutMs);
        const finish = () => {
          clearTimeout(timer);
          session.drained = undefined;
          resolve();
        };
        session.drained = finish;
      });
    }
    const drained = this.#hooks.inFlight() === 0;
    await new Promise<void>((resolve) => session.client.end(!drained || !session.live, () => resolve()));
    if (this.#session === session) {
      this.#session = undefined;
      this.#connectedSince = undefined;
      this.#hooks.ended(session);
      this.#dispose(session);
    }
  }

  #dispose(session: UpstreamSession): void {
    if (session.disposed) return;
    session.disposed = true;
    if (!session.client.disconnecting && !session.client.disconnected) session.client.end(true);
    session.context.free();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer || this.#session) return;
    const backoff = this.#options.backoff;
    const delayMs = backoff.next();
    this.#reconnects++;
    this.#hooks.emit('reconnect', { attempt: backoff.attempt, delayMs });
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#connect();
    }, delayMs);
  }

  #cancelReconnect(): void {
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
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
