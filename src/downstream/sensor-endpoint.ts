import coap from 'coap';
import type { Config } from '../config/index.js';
import type { KeyStore } from '../keys/index.js';
import { CoapDtlsSocket, type DtlsPeer, DtlsServer } from '../tls/index.js';
import { SensorTrust } from '../trust/index.js';
import { AnswerCacheBound } from './answer-cache-bound.js';
import { CoapRouter, type CoapRouterStatus } from './coap/index.js';
import { endpointCredentials } from './endpoint-credentials.js';
import type { CommandSource, TelemetrySink } from './proxy-ports.js';
import { sensorVerifier } from './sensor-verifier.js';
import { SessionDeadlines, type SessionDeadlinesStatus } from './session-deadlines.js';

type DtlsSettings = Config['downstream']['dtls'];
type CoapSettings = Config['downstream']['coap'];
/** How often node-coap's answer cache is brought back within its bound. */
const ANSWER_TRIM_INTERVAL_MS = 1_000;

/** What the endpoint serves besides the DTLS handshake: the trust module and the proxy's two ports. */
export interface SensorEndpointOptions {
  /** Judges sensor chains, and (with the routes) authorizes every request. */
  trust?: SensorTrust;
  /** With it, POST /telemetry. */
  telemetry?: TelemetrySink;
  /** With it, GET /commands (observe). */
  commands?: CommandSource;
  /** [downstream.coap]. */
  limits: CoapSettings;
  /** The gateway's clock for GET /time, receivedAt and command expiry (default: the system clock). */
  now?: () => Date;
}

interface Log {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

export interface SensorEndpointStatus {
  listening: string;
  serverKey: string;
  sessionsEstablished: number;
  sessionsHandshaking: number;
  handshakesCompleted: number;
  handshakesResumed: number;
  handshakesFailed: number;
  datagramsMalformed: number;
  /** The CoAP routes' counters; absent while no route is installed. */
  coap?: CoapRouterStatus;
  /** Answers node-coap keeps to replay to retransmissions, the bound on them, and those evicted. */
  answerCache: { entries: number; limit: number; evicted: number };
  /** Sessions ended by time (certificate expiry, revocation information out of date); with a trust module. */
  deadlines?: SessionDeadlinesStatus;
}

/**
 * Where sensors connect: CoAP (node-coap) over our DTLS 1.2 endpoint, mutual X.509. With a telemetry
 * sink or a command source the CoAP routes are installed (CoapRouter); without either, every request
 * is answered 4.04.
 */
export class SensorEndpoint {
  readonly #dtls: DtlsServer;
  readonly #coap: ReturnType<typeof coap.createServer>;
  readonly #listening: string;
  readonly #serverKey: string;
  readonly #router: CoapRouter | undefined;
  readonly #answers: AnswerCacheBound;
  readonly #trimTimer: NodeJS.Timeout;
  readonly #deadlines: SessionDeadlines<DtlsPeer> | undefined;

  private constructor(
    dtls: DtlsServer,
    server: ReturnType<typeof coap.createServer>,
    listening: string,
    serverKey: string,
    router: CoapRouter | undefined,
    deadlines: SessionDeadlines<DtlsPeer> | undefined,
  ) {
    this.#dtls = dtls;
    this.#deadlines = deadlines;
    this.#coap = server;
    this.#listening = listening;
    this.#serverKey = serverKey;
    this.#router = router;
    this.#answers = new AnswerCacheBound(server);
    this.#trimTimer = setInterval(
      () => this.#answers.trim(dtls.stats().sessionsEstablished),
      ANSWER_TRIM_INTERVAL_MS,
    );
    this.#trimTimer.unref();
  }

  /** Brings node-coap's answer cache within its bound now (it is also done every second). */
  trimAnswers(): void {
    this.#answers.trim(this.#dtls.stats().sessionsEstablished);
  }

  /**
   * With `trust`, the trust module alone judges sensor chains (path, revocation, enrollment, deny
   * list; chainVerification 'application') and its changes close refused live sessions at once.
   * Without it, OpenSSL verifies against downstream.dtls.sensor_ca_files only — and no request has a
   * sensor identity (the routes answer 4.01). A bare SensorTrust is taken as `{ trust }`.
   */
  static async start(
    settings: DtlsSettings,
    identity: KeyStore | undefined,
    log: Log,
    options?: SensorEndpointOptions | SensorTrust,
  ): Promise<SensorEndpoint> {
    const routes = options instanceof SensorTrust ? undefined : options;
    const trust = options instanceof SensorTrust ? options : options?.trust;
    const credentials = await endpointCredentials(settings, identity);
    const peerKey = (peer: DtlsPeer) => `${peer.address}:${peer.port}`;
    // Time ends sessions: each is re-judged at its deadline (one timer for all), at the trust's now.
    const deadlines = trust
      ? new SessionDeadlines<DtlsPeer>({
          now: () => trust.now(),
          recheck: (peer) => {
            const verdict = trust.verify(peer.identity.chain);
            return verdict.ok
              ? { ok: true, deadline: verdict.validUntil }
              : { ok: false, reason: verdict.refusal.reason, detail: verdict.refusal.detail };
          },
          close: (peer) => dtls.endSession(peer.address, peer.port),
          describe: (peer) => ({ peer: peerKey(peer), sensor: peer.identity.subject }),
          log,
        })
      : undefined;
    const dtls = new DtlsServer({
      certificateChain: credentials.certificateChain,
      privateKey: credentials.privateKey,
      ca: trust ? [] : credentials.sensorCas,
      ...(trust
        ? {
            chainVerification: 'application' as const,
            verifyPeer: sensorVerifier(trust, (attributes, verdict) =>
              deadlines?.note(attributes, verdict.validUntil),
            ),
          }
        : {}),
      ...(settings.ciphers ? { ciphers: settings.ciphers } : {}),
      mtu: settings.mtu,
      handshakeTimeoutMs: settings.handshake_timeout_ms,
      idleTimeoutMs: settings.idle_timeout_ms,
      maxSessions: settings.max_sessions,
      handshakeRate: {
        perAddress: {
          ratePerSecond: settings.handshakes_per_second_per_address,
          burst: settings.handshake_burst_per_address,
        },
      },
    });
    dtls.on('session', (peer) => {
      log.debug(
        { peer: `${peer.address}:${peer.port}`, subject: peer.identity.subject },
        'sensor session established',
      );
      deadlines?.arm(peerKey(peer), peer, deadlines.noted(peer.identity.attributes));
    });
    dtls.on('sessionEnd', (peer) => deadlines?.disarm(peerKey(peer)));
    dtls.on('handshakeFailed', (event) =>
      log.info({ peer: `${event.address}:${event.port}`, reason: event.reason }, 'sensor handshake refused'),
    );
    trust?.on('changed', (why) => {
      for (const { peer, reason } of dtls.reverify()) {
        log.info(
          { peer: `${peer.address}:${peer.port}`, subject: peer.identity.subject, why, reason },
          'sensor session closed: no longer trusted',
        );
      }
      // The survivors were judged again: their deadlines may have moved (a newer CRL, say).
      if (deadlines) {
        for (const peer of dtls.peers())
          deadlines.arm(peerKey(peer), peer, deadlines.noted(peer.identity.attributes));
      }
    });
    const address = await dtls.listen({ host: settings.host, port: settings.port });
    const server = coap.createServer();
    const router =
      routes?.telemetry || routes?.commands
        ? CoapRouter.install(server, {
            ...(routes.telemetry ? { telemetry: routes.telemetry } : {}),
            ...(routes.commands ? { commands: routes.commands } : {}),
            ...(trust ? { trust } : {}),
            ...(routes.now ? { now: routes.now } : {}),
            limits: { maxPayloadBytes: routes.limits.max_payload_bytes },
            log,
          })
        : undefined;
    if (router) {
      dtls.on('sessionEnd', (peer) => router.sessionEnded(peer));
    } else {
      server.on('request', (_request: unknown, response: { code: string; end(body: string): void }) => {
        response.code = '4.04';
        response.end('no route: the telemetry and command routes are not installed');
      });
    }
    server.listen(new CoapDtlsSocket(dtls) as never);
    const listening =
      address.family === 'IPv6'
        ? `[${address.address}]:${address.port}`
        : `${address.address}:${address.port}`;
    log.info(
      { listening, serverKey: credentials.keyDescription, sensorCas: credentials.sensorCas.length },
      'sensor endpoint (CoAP over DTLS) listening',
    );
    return new SensorEndpoint(dtls, server, listening, credentials.keyDescription, router, deadlines);
  }

  status(): SensorEndpointStatus {
    const stats = this.#dtls.stats();
    return {
      listening: this.#listening,
      serverKey: this.#serverKey,
      sessionsEstablished: stats.sessionsEstablished,
      sessionsHandshaking: stats.sessionsHandshaking,
      handshakesCompleted: stats.handshakesCompleted,
      handshakesResumed: stats.handshakesResumed,
      handshakesFailed: stats.handshakesFailed,
      datagramsMalformed: stats.datagramsMalformed,
      ...(this.#router ? { coap: this.#router.status() } : {}),
      answerCache: this.#answers.status(),
      ...(this.#deadlines ? { deadlines: this.#deadlines.status() } : {}),
    };
  }

  async close(): Promise<void> {
    clearInterval(this.#trimTimer);
    this.#deadlines?.stop();
    this.#router?.close();
    await new Promise<void>((resolve) => this.#coap.close(() => resolve()));
    await this.#dtls.close();
  }
}
