import { EventEmitter } from 'node:events';
import coap from 'coap';
import { libcrypto } from '../../src/native/openssl/index.js';
import type { Pointer } from '../../src/native/openssl/libssl.js';
import { DtlsClient, privateKeyFromPkcs8, TlsError } from '../../src/tls/index.js';
import { decodeCbor } from './cbor.js';
import { CoapRequestError } from './coap-request-error.js';
import { DtlsDatagramSocket } from './dtls-datagram-socket.js';
import { LatencyRecorder } from './latency-recorder.js';
import type { SensorCredentials, SensorRole } from './sensor-credentials.js';
import type {
  SensorCommand,
  SensorMessageCounts,
  SensorRefusal,
  SensorResult,
  SensorState,
} from './sensor-result.js';
import {
  CONTENT_FORMATS,
  encodeTelemetry,
  type TelemetryFormat,
  telemetryReading,
} from './telemetry-payload.js';

type CoapResponse = coap.IncomingMessage;

export interface SimulatedSensorOptions {
  credentials: SensorCredentials;
  /** What the sensor plays (default 'sensor'); 'unauthorized' asks for `forbiddenResource` first. */
  role?: SensorRole;
  gateway: { host: string; port: number };
  /** Trust anchors for the gateway's certificate, DER. */
  gatewayCa: readonly Uint8Array[];
  /** Telemetry body: JSON (Content-Format 50, default) or CBOR (60). */
  format?: TelemetryFormat;
  /** Telemetry as CON (default) or NON requests. */
  confirmable?: boolean;
  telemetryPath?: string;
  /** Observed for commands on every session (default "/commands"); null: no Observe. */
  commandsPath?: string | null;
  /** What the unauthorized bad actor POSTs to (default "/firmware"). */
  forbiddenResource?: string;
  /** GET /.well-known/core and /time on the first session (default true). */
  discover?: boolean;
  handshakeTimeoutMs?: number;
  /**
   * Longest wait between handshake retransmissions (DtlsClient maxRetransmitMs; default 2 s, as the
   * storm bench's sensors): a handshake begun while the gateway restarts is retried soon after it is
   * back, not 4 or 8 s later by OpenSSL's doubling timer.
   */
  maxRetransmitMs?: number;
  /** No answer to a request by then: the session is taken for dead (default 93 s, RFC 7252 MAX_TRANSMIT_WAIT). */
  responseTimeoutMs?: number;
  /** Unanswered attempts before a message counts as lost (default 3). */
  maxAttempts?: number;
  /** Reconnection backoff: doubles from `initialMs` up to `maxMs`, with jitter (default 200 ms … 10 s). */
  reconnectDelay?: { initialMs?: number; maxMs?: number };
  /** Consecutive failed connection attempts before the sensor gives up as unreachable (default 5). */
  connectAttempts?: number;
  /** Queued messages kept at most; the oldest is dropped beyond (default 1000). */
  maxQueued?: number;
  /** Longest wait for a 5.03's Max-Age, ms (default 120 s; RFC 7252's Max-Age default is 60 s). */
  maxRetryAfterMs?: number;
}

export type SimulatedSensorEvents = {
  state: [state: SensorState];
  acknowledged: [seq: number, latencyMs: number];
  command: [command: SensorCommand];
  refused: [refusal: SensorRefusal];
  /** Nothing queued, nothing in flight. */
  idle: [];
};

interface QueuedMessage {
  seq: number;
  payload: Uint8Array;
  /** Attempts that went unanswered. */
  timeouts: number;
  sentOnce: boolean;
}

const DEFAULT_MAX_AGE_SECONDS = 60;

/**
 * One simulated sensor: its key and certificate, a DTLS session to the gateway (resumed on
 * reconnect, from the same UDP port when it is free, as a rebooting sensor would) and node-coap's
 * client over it (DtlsDatagramSocket). Telemetry goes out one message at a time in sequence order
 * (NSTART = 1): CON by default, a 5.03 makes it wait Max-Age and send the same message again, a
 * 4.03 turns the sensor away. It observes /commands on every session and records the notifications.
 * When the session ends (close_notify, an ICMP port unreachable, or no answer within
 * responseTimeoutMs) it reconnects with exponential backoff, offering its saved session (a session
 * ticket, if the gateway issues them, survives the gateway's restart).
 */
export class SimulatedSensor extends EventEmitter<SimulatedSensorEvents> {
  readonly name: string;
  readonly role: SensorRole;
  readonly #credentials: SensorCredentials;
  readonly #options: SimulatedSensorOptions;
  readonly #socket: DtlsDatagramSocket;
  readonly #agent: coap.Agent;
  readonly #latency = new LatencyRecorder();
  readonly #queue: QueuedMessage[] = [];
  readonly #counts: SensorMessageCounts = {
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
  readonly #rejectedByCode: Record<string, number> = {};
  readonly #commands: SensorCommand[] = [];
  #state: SensorState = 'new';
  #client: DtlsClient | undefined;
  #savedSession: Pointer | undefined;
  #localPort: number | undefined;
  #refusal: SensorRefusal | undefined;
  #forbiddenRequestAllowed = false;
  #sessions = 0;
  #resumedSessions = 0;
  #sessionsLost = 0;
  #failedConnects = 0;
  #nextSeq = 1;
  /** The telemetry request waiting for its answer. */
  #inFlight: coap.OutgoingMessage | undefined;
  /** Cancels every request waiting for an answer (telemetry and the session's own requests). */
  readonly #pending = new Set<() => void>();
  #retryTimer: NodeJS.Timeout | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #observation: coap.ObserveReadStream | undefined;
  #clockOffsetMs: number | undefined;
  #discovered: string[] | undefined;
  #forbiddenAnswered = false;
  #discoveryDone = false;
  #started: Promise<void> | undefined;
  #stopping = false;
  #lastConnectError: string | undefined;

  constructor(options: SimulatedSensorOptions) {
    super();
    this.#options = options;
    this.#credentials = options.credentials;
    this.name = options.credentials.commonName;
    this.role = options.role ?? 'sensor';
    this.#socket = new DtlsDatagramSocket(options.gateway);
    this.#agent = new coap.Agent({ socket: this.#socket.asSocket() });
    // node-coap reports socket errors on the agent; our socket has none, but an unheard 'error' would throw.
    this.#agent.on('error', () => {});
  }

  get state(): SensorState {
    return this.#state;
  }

  /** Refused, unreachable or stopped: it will not send again. */
  get finished(): boolean {
    return this.#state === 'refused' || this.#state === 'unreachable' || this.#state === 'stopped';
  }

  /** Nothing queued, nothing in flight or waiting. */
  get idle(): boolean {
    return this.#queue.length === 0 && this.#inFlight === undefined && this.#retryTimer === undefined;
  }

  get resumed(): boolean {
    return this.#client?.resumed ?? false;
  }

  /** Telemetry messages made so far. */
  get generated(): number {
    return this.#counts.generated;
  }

  /** Telemetry messages answered 2.xx so far. */
  get acknowledged(): number {
    return this.#counts.acknowledged;
  }

  get commands(): readonly SensorCommand[] {
    return this.#commands;
  }

  /**
   * Connects and runs the first session's requests (the unauthorized actor's forbidden request,
   * discovery, the Observe registration). Resolves once the sensor is connected, refused or
   * unreachable; never rejects. Calling it again returns the same promise.
   */
  start(): Promise<void> {
    if (!this.#started) {
      this.#started = new Promise((resolve) => {
        const settled = () => {
          if (this.#state !== 'connected' && !this.finished) return;
          this.off('state', settled);
          resolve();
        };
        this.on('state', settled);
      });
      this.#connectInBackground();
    }
    return this.#started;
  }

  /** Makes the next telemetry message (next sequence number) and queues it for sending. */
  enqueueTelemetry(): void {
    if (this.finished) return;
    const seq = this.#nextSeq++;
    const reading = telemetryReading(this.name, seq, Date.now() + (this.#clockOffsetMs ?? 0));
    this.#counts.generated++;
    this.#queue.push({
      seq,
      payload: encodeTelemetry(reading, this.#options.format ?? 'json'),
      timeouts: 0,
      sentOnce: false,
    });
    const max = this.#options.maxQueued ?? 1000;
    // Never drop the head: it may be in flight.
    while (this.#queue.length > max && this.#queue.length > 1) {
      this.#queue.splice(1, 1);
      this.#counts.dropped++;
    }
    this.#pump();
  }

  /** Resolves when nothing is queued or in flight, or the sensor is finished. */
  drained(): Promise<void> {
    if (this.idle || this.finished) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.off('idle', done);
        this.off('state', onState);
        resolve();
      };
      const onState = () => {
        if (this.finished) done();
      };
      this.on('idle', done);
      this.on('state', onState);
    });
  }

  /** Drops the session without close_notify, as a sensor losing power would (it reconnects). */
  dropSession(): void {
    const client = this.#client;
    if (client) this.#sessionLost(client);
  }

  /** Closes the session (close_notify) and stops; what is in flight or queued is counted as such. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const wasFinished = this.finished;
    // A refused or unreachable sensor keeps saying so: that is its result.
    if (!wasFinished) this.#setState('stopped');
    clearTimeout(this.#reconnectTimer);
    if (this.#queue[0]?.sentOnce) {
      this.#counts.unanswered++;
      this.#queue.shift();
    }
    if (wasFinished) this.#counts.dropped += this.#queue.length;
    else this.#counts.unsent += this.#queue.length;
    this.#queue.length = 0;
    this.#cancelRequests();
    const client = this.#client;
    this.#client = undefined;
    this.#socket.detach();
    if (client && !client.closed) client.close();
    this.#agent.close();
    if (this.#savedSession) DtlsClient.freeSession(this.#savedSession);
    this.#savedSession = undefined;
  }

  result(): SensorResult {
    return {
      name: this.name,
      role: this.role,
      state: this.#state,
      admitted: this.#sessions > 0,
      refusal: this.#refusal ?? null,
      forbiddenRequestAllowed: this.#forbiddenRequestAllowed,
      sessions: this.#sessions,
      resumedSessions: this.#resumedSessions,
      sessionsLost: this.#sessionsLost,
      messages: { ...this.#counts },
      rejectedByCode: { ...this.#rejectedByCode },
      latencyMs: this.#latency.summary(),
      commands: [...this.#commands],
      clockOffsetMs: this.#clockOffsetMs ?? null,
      discoveredResources: this.#discovered ?? null,
      localPort: this.#localPort ?? null,
      lastConnectError: this.#lastConnectError ?? null,
    };
  }

  /** The acknowledgement latencies measured so far (for fleet-wide percentiles). */
  get latency(): LatencyRecorder {
    return this.#latency;
  }

  #setState(state: SensorState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }

  /** #connect, with an unexpected error turned into a refusal rather than an unhandled rejection. */
  #connectInBackground(): void {
    this.#connect().catch((error: unknown) =>
      this.#refuse({ stage: 'request', code: 'error', reason: `sensor failure: ${String(error)}` }),
    );
  }

  async #connect(): Promise<void> {
    if (this.finished) return;
    this.#setState('connecting');
    let client: DtlsClient;
    try {
      client = await this.#handshake();
    } catch (error) {
      if (this.#stopping) return;
      const refusal = handshakeRefusal(error);
      if (refusal) return this.#refuse(refusal);
      this.#failedConnects++;
      this.#lastConnectError = error instanceof Error ? error.message : String(error);
      if (this.#failedConnects >= (this.#options.connectAttempts ?? 5)) {
        this.#counts.dropped += this.#queue.length;
        this.#queue.length = 0;
        this.#setState('unreachable');
        return;
      }
      return this.#backoff();
    }
    if (this.#stopping) {
      client.close();
      return;
    }
    this.#failedConnects = 0;
    this.#sessions++;
    if (client.resumed) this.#resumedSessions++;
    if (this.#savedSession) DtlsClient.freeSession(this.#savedSession);
    this.#savedSession = client.saveSession();
    this.#client = client;
    this.#localPort = client.localPort;
    this.#socket.attach(client);
    client.on('close', (reason) => {
      if (reason !== 'closedLocally') this.#sessionLost(client);
    });
    // ICMP port unreachable: the gateway is gone (restarting): reconnect now (resuming with the saved
    // session's ticket) rather than after the CoAP response timeout.
    client.on('unreachable', () => this.#sessionLost(client));
    try {
      if (this.role === 'unauthorized' && !this.#forbiddenAnswered) await this.#forbiddenRequest();
      if (this.#client !== client || this.finished) return;
      if (!this.#discoveryDone && (this.#options.discover ?? true)) await this.#discover();
      if (this.#client !== client || this.finished) return;
      if (this.#options.commandsPath !== null) await this.#observeCommands(client);
    } catch (error) {
      if (!(error instanceof CoapRequestError) || error.kind === 'failed') throw error;
      // Cancelled (stopped, refused), or the session went quiet: then it is taken for lost.
      if (error.kind === 'noResponse') this.#sessionLost(client);
      return;
    }
    if (this.#client !== client || this.finished) return;
    this.#setState('connected');
    this.#pump();
  }

  async #handshake(): Promise<DtlsClient> {
    const options = this.#options;
    const key = privateKeyFromPkcs8(this.#credentials.privateKeyPkcs8);
    const connect = (localPort: number | undefined) =>
      DtlsClient.connect({
        host: options.gateway.host,
        port: options.gateway.port,
        ca: options.gatewayCa,
        certificateChain: this.#credentials.certificateChain,
        privateKey: key,
        handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
        maxRetransmitMs: options.maxRetransmitMs ?? 2000,
        ...(this.#savedSession ? { resume: this.#savedSession } : {}),
        ...(localPort ? { localPort } : {}),
      });
    try {
      if (this.#localPort === undefined) return await connect(undefined);
      try {
        return await connect(this.#localPort);
      } catch (error) {
        // The old port is taken (by another socket meanwhile): any port will do.
        if (error instanceof TlsError && error.code === 'EGW_TLS_CONFIG') return await connect(undefined);
        throw error;
      }
    } finally {
      // The client's SSL_CTX holds its own reference to the key.
      libcrypto().EVP_PKEY_free(key);
    }
  }

  #backoff(): void {
    if (this.finished) return;
    this.#setState('backoff');
    const initial = this.#options.reconnectDelay?.initialMs ?? 200;
    const max = this.#options.reconnectDelay?.maxMs ?? 10_000;
    const delay = Math.min(max, initial * 2 ** Math.min(this.#failedConnects, 16));
    this.#reconnectTimer = setTimeout(() => this.#connectInBackground(), delay * (0.5 + Math.random() / 2));
  }

  #sessionLost(client: DtlsClient): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    this.#sessionsLost++;
    this.#socket.detach();
    if (!client.closed) client.destroy();
    this.#closeObservation();
    // What is in flight stays in flight: node-coap retransmits it over the next session.
    this.#backoff();
  }

  #refuse(refusal: SensorRefusal): void {
    if (this.finished) return;
    this.#refusal = refusal;
    // A message sent but not answered when the sensor is turned away is lost; the rest never leave.
    if (this.#queue[0]?.sentOnce) {
      this.#counts.lost++;
      this.#queue.shift();
    }
    this.#counts.dropped += this.#queue.length;
    this.#queue.length = 0;
    this.#cancelRequests();
    const client = this.#client;
    this.#client = undefined;
    this.#socket.detach();
    if (client && !client.closed) client.close();
    this.#setState('refused');
    this.emit('refused', refusal);
  }

  /** Cancels what waits for an answer (in-flight requests, a Max-Age wait) and the Observe. */
  #cancelRequests(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    for (const cancel of [...this.#pending]) cancel();
    this.#inFlight = undefined;
    this.#closeObservation();
  }

  #closeObservation(): void {
    const observation = this.#observation;
    this.#observation = undefined;
    observation?.close();
  }

  /** Sends the head of the queue when connected and nothing is in flight. */
  #pump(): void {
    if (this.#state !== 'connected' || this.#inFlight || this.#retryTimer !== undefined) return;
    const message = this.#queue[0];
    if (!message) {
      this.emit('idle');
      return;
    }
    if (!message.sentOnce) {
      message.sentOnce = true;
      this.#counts.sent++;
    }
    const started = performance.now();
    const request = this.#agent.request({
      hostname: this.#options.gateway.host,
      port: this.#options.gateway.port,
      method: 'POST',
      pathname: this.#options.telemetryPath ?? '/telemetry',
      confirmable: this.#options.confirmable ?? true,
      contentFormat: CONTENT_FORMATS[this.#options.format ?? 'json'],
    });
    this.#inFlight = request;
    this.#send(request, Buffer.from(message.payload)).then(
      (response) => this.#telemetryAnswered(message, response, performance.now() - started),
      (error) => this.#telemetryUnanswered(message, error),
    );
  }

  #telemetryAnswered(message: QueuedMessage, response: CoapResponse, latencyMs: number): void {
    this.#inFlight = undefined;
    if (this.#stopping) return;
    const code = response.code;
    if (code.startsWith('2.')) {
      this.#queue.shift();
      this.#counts.acknowledged++;
      this.#latency.record(latencyMs);
      this.emit('acknowledged', message.seq, latencyMs);
    } else if (code === '5.03') {
      this.#counts.serviceUnavailable++;
      const maxAge = response.headers['Max-Age'];
      const seconds = typeof maxAge === 'number' ? maxAge : DEFAULT_MAX_AGE_SECONDS;
      const wait = Math.min(seconds * 1000, this.#options.maxRetryAfterMs ?? 120_000);
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.#pump();
      }, wait);
      return;
    } else {
      this.#queue.shift();
      this.#counts.rejected++;
      this.#rejectedByCode[code] = (this.#rejectedByCode[code] ?? 0) + 1;
      if (code === '4.03') {
        this.#refuse({
          stage: 'request',
          code,
          reason: response.payload.toString('utf8'),
          request: `POST ${this.#options.telemetryPath ?? '/telemetry'}`,
        });
        return;
      }
    }
    this.#pump();
  }

  #telemetryUnanswered(message: QueuedMessage, error: unknown): void {
    if (error instanceof CoapRequestError && error.kind === 'cancelled') return;
    this.#inFlight = undefined;
    if (this.finished) return;
    if (!(error instanceof CoapRequestError && error.kind === 'noResponse')) {
      // node-coap could not even build the request: count it and go on.
      this.#queue.shift();
      this.#counts.rejected++;
      this.#rejectedByCode.error = (this.#rejectedByCode.error ?? 0) + 1;
      this.#pump();
      return;
    }
    message.timeouts++;
    if (message.timeouts >= (this.#options.maxAttempts ?? 3)) {
      this.#queue.shift();
      this.#counts.lost++;
    }
    // No answer at all: the gateway forgot the session (restart, idle timeout) or is gone.
    const client = this.#client;
    if (client) this.#sessionLost(client);
  }

  /** The POST an unauthorized sensor is not allowed to make: 4.xx refuses it, 2.xx is a finding. */
  async #forbiddenRequest(): Promise<void> {
    const path = this.#options.forbiddenResource ?? '/firmware';
    const request = this.#agent.request({
      hostname: this.#options.gateway.host,
      port: this.#options.gateway.port,
      method: 'POST',
      pathname: path,
      contentFormat: CONTENT_FORMATS.json,
    });
    const response = await this.#send(
      request,
      Buffer.from(JSON.stringify({ sensor: this.name, image: 'x' })),
    );
    this.#forbiddenAnswered = true;
    if (response.code.startsWith('4.')) {
      this.#refuse({
        stage: 'request',
        code: response.code,
        reason: response.payload.toString('utf8'),
        request: `POST ${path}`,
      });
    } else if (response.code.startsWith('2.')) {
      this.#forbiddenRequestAllowed = true;
    }
  }

  /** GET /.well-known/core (the resources offered) and /time (the gateway's clock). */
  async #discover(): Promise<void> {
    const get = (pathname: string) =>
      this.#send(
        this.#agent.request({
          hostname: this.#options.gateway.host,
          port: this.#options.gateway.port,
          method: 'GET',
          pathname,
        }),
      );
    const core = await get('/.well-known/core');
    if (core.code === '2.05') {
      this.#discovered = [...core.payload.toString('utf8').matchAll(/<([^>]*)>/g)].map((m) => m[1] as string);
    }
    const sentAt = Date.now();
    const time = await get('/time');
    const receivedAt = Date.now();
    if (time.code === '2.05') {
      const gatewayMs = timeOf(time.payload, time.headers['Content-Format']);
      // `|| 0`: no -0 in the summary (JSON would turn it into 0).
      if (gatewayMs !== undefined)
        this.#clockOffsetMs = Math.round(gatewayMs - (sentAt + receivedAt) / 2) || 0;
    }
    this.#discoveryDone = true;
  }

  /** GET /commands with Observe: every notification with a payload is a command. */
  async #observeCommands(client: DtlsClient): Promise<void> {
    const path = this.#options.commandsPath ?? '/commands';
    const request = this.#agent.request({
      hostname: this.#options.gateway.host,
      port: this.#options.gateway.port,
      method: 'GET',
      pathname: path,
      observe: true,
    });
    const response = await this.#send(request);
    if (this.#client !== client || this.finished) {
      // Answered over a later session (node-coap retransmitted it there): that session registers its own.
      (response as coap.ObserveReadStream).close?.();
      return;
    }
    if (!response.code.startsWith('2.')) {
      (response as coap.ObserveReadStream).close?.();
      if (response.code === '4.03') {
        this.#refuse({
          stage: 'request',
          code: '4.03',
          reason: response.payload.toString('utf8'),
          request: `GET ${path}`,
        });
      }
      return;
    }
    const observation = response as coap.ObserveReadStream;
    this.#observation = observation;
    observation.on('data', (payload: Buffer) => {
      // The registration's answer (and any notification without a payload) carries no command.
      if (payload.length === 0) return;
      const format = observation.headers['Content-Format'];
      const command: SensorCommand = {
        receivedAt: new Date().toISOString(),
        contentFormat: typeof format === 'string' ? format : format == null ? null : String(format),
        payload: payload.toString('utf8'),
      };
      this.#commands.push(command);
      this.emit('command', command);
    });
  }

  /**
   * Sends `request` and resolves with its response. Rejects with CoapRequestError: 'noResponse'
   * after responseTimeoutMs, 'cancelled' when #cancelRequests runs first (node-coap stops
   * retransmitting it in both cases), 'failed' on node-coap's error.
   */
  #send(request: coap.OutgoingMessage, payload?: Buffer): Promise<CoapResponse> {
    const timeoutMs = this.#options.responseTimeoutMs ?? 93_000;
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#pending.delete(cancel);
        outcome();
      };
      const giveUp = (kind: 'noResponse' | 'cancelled', message: string) =>
        settle(() => {
          this.#agent.abort(request);
          reject(new CoapRequestError(kind, message));
        });
      const cancel = () => giveUp('cancelled', 'the sensor stopped waiting');
      const timer = setTimeout(() => giveUp('noResponse', `no response within ${timeoutMs} ms`), timeoutMs);
      this.#pending.add(cancel);
      request.on('response', (response: CoapResponse) => settle(() => resolve(response)));
      request.on('error', (error: Error) =>
        settle(() => reject(new CoapRequestError('failed', error.message, { cause: error }))),
      );
      request.end(payload);
    });
  }
}

/** A handshake failure that is the gateway's (or our) verdict, rather than a transient one. */
function handshakeRefusal(error: unknown): SensorRefusal | undefined {
  if (!(error instanceof TlsError)) return { stage: 'handshake', code: 'error', reason: String(error) };
  switch (error.code) {
    case 'EGW_TLS_TIMEOUT':
    case 'EGW_TLS_CONFIG':
    case 'EGW_TLS_CLOSED':
    case 'EGW_DTLS_LIMIT':
    case 'EGW_TLS_PROTOCOL':
      return undefined;
    case 'EGW_TLS_ALERT': {
      const alert = /peer sent alert (.+)$/.exec(error.message)?.[1];
      return { stage: 'handshake', code: error.code, reason: alert ?? error.message };
    }
    default:
      // Our side refused the gateway's certificate (unknown CA, expired, …).
      return { stage: 'handshake', code: error.code, reason: `gateway certificate: ${error.message}` };
  }
}

/**
 * The gateway's time from a /time body: the gateway's `{"unix_ms", "iso"}` (JSON or CBOR), or for
 * other gateways epoch ms/s as a number, `{epochMs|epoch|time|now}`, or ISO 8601 text.
 */
function timeOf(payload: Buffer, contentFormat: unknown): number | undefined {
  let value: unknown;
  try {
    value =
      contentFormat === 'application/cbor'
        ? decodeCbor(payload)
        : contentFormat === 'application/json'
          ? JSON.parse(payload.toString('utf8'))
          : payload.toString('utf8').trim();
  } catch {
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    value = record.unix_ms ?? record.iso ?? record.epochMs ?? record.epoch ?? record.time ?? record.now;
  }
  if (typeof value === 'number') return value < 1e11 ? value * 1000 : value;
  if (typeof value === 'string') {
    const parsed = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Date.parse(value);
    if (Number.isNaN(parsed)) return undefined;
    return parsed < 1e11 ? parsed * 1000 : parsed;
  }
  return undefined;
}
