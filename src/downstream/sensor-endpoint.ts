import type { Config } from '../config/index.js';
import type { KeyStore } from '../keys/index.js';
import {
  type DtlsHandshakeLimits,
  type DtlsPeer,
  DtlsServer,
  type DtlsStats,
  type ReceiveBufferSize,
  type SessionTicketKeys,
} from '../tls/index.js';
import { SensorTrust } from '../trust/index.js';
import { AnswerCacheBound } from './answer-cache-bound.js';
import { CoapRouter, type CoapRouterStatus, type CoapSession, CoapSessions } from './coap/index.js';
import { endpointCredentials } from './endpoint-credentials.js';
import type { CommandSource, TelemetrySink } from './proxy-ports.js';
import { sensorVerifier } from './sensor-verifier.js';
import { SessionDeadlines, type SessionDeadlinesStatus } from './session-deadlines.js';
import { type SigningRate, signingRate } from './signing-rate.js';

type DtlsSettings = Config['downstream']['dtls'];
type CoapSettings = Config['downstream']['coap'];

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
  /** RFC 5077 tickets under these keys (session-tickets/): sessions that survive a restart. */
  sessionTickets?: SessionTicketKeys;
  /** SO_REUSEPORT on the DTLS socket: one endpoint per sensor worker thread on the same port (workers/). */
  reusePort?: boolean;
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
  /** Records of established sessions dropped: another version than DTLS 1.2, replays, forgeries. */
  recordsRejected: number;
  recordsRejectedByReason: DtlsStats['recordsRejectedByReason'];
  /** The CoAP routes' counters; absent while no route is installed. */
  coap?: CoapRouterStatus;
  /** Answers the sessions keep to replay to retransmissions (all sessions), the bound on them, and those evicted. */
  answerCache: { entries: number; limit: number; evicted: number };
  /** Error answers the CoAP layer made itself, by code (5.00: handling threw, a gateway bug to report). */
  coapErrorAnswers: Record<string, number>;
  /**
   * The DTLS socket's SO_RCVBUF (downstream.dtls.receive_buffer_bytes) as the kernel gave it: `capped`
   * when net.core.rmem_max kept it smaller, and a reconnect storm may then lose datagrams.
   */
  receiveBuffer?: ReceiveBufferSize;
  /** The handshake budget (README "Handshake budget"): its limits and what it refused. */
  handshakes: SensorHandshakeStatus;
  /** Sessions ended by time (certificate expiry, revocation information out of date); with a trust module. */
  deadlines?: SessionDeadlinesStatus;
}

export interface SensorHandshakeStatus {
  /** What the server key signs per second, and whether configured, measured at start, or assumed. */
  signer: SigningRate;
  limits: DtlsHandshakeLimits;
  /** Full handshakes, i.e. ServerKeyExchange signatures made with the server key. */
  signatures: number;
  signaturesRefusedPerAddress: number;
  signaturesRefusedGlobal: number;
  /** Handshakes past the cookie exchange, not complete yet. */
  halfOpen: number;
  halfOpenRefusedPerAddress: number;
  halfOpenRefusedGlobal: number;
  /** HelloVerifyRequests: the whole cost of a cookie-less ClientHello. */
  cookiesSent: number;
  cookiesInvalid: number;
  cookiesReplayed: number;
  /** Sessions replaced by a completed handshake from the same address and port. */
  sessionsReplaced: number;
}

/**
 * Where sensors connect: CoAP (our message layer, one per DTLS session: CoapSessions) over our DTLS 1.2
 * endpoint, mutual X.509. With SensorEndpointOptions the CoAP routes are installed (CoapRouter):
 * GET /time and /.well-known/core always, POST /telemetry and /commands with the upstream's ports.
 * Without them (a bare SensorTrust, or nothing), every request is answered 4.04.
 */
export class SensorEndpoint {
  readonly #dtls: DtlsServer;
  readonly #coap: CoapSessions;
  readonly #listening: string;
  readonly #serverKey: string;
  readonly #router: CoapRouter | undefined;
  readonly #answers: AnswerCacheBound;
  readonly #deadlines: SessionDeadlines<DtlsPeer> | undefined;
  readonly #signer: SigningRate;

  private constructor(
    dtls: DtlsServer,
    sessions: CoapSessions,
    answers: AnswerCacheBound,
    listening: string,
    serverKey: string,
    router: CoapRouter | undefined,
    deadlines: SessionDeadlines<DtlsPeer> | undefined,
    signer: SigningRate,
  ) {
    this.#dtls = dtls;
    this.#signer = signer;
    this.#deadlines = deadlines;
    this.#coap = sessions;
    this.#listening = listening;
    this.#serverKey = serverKey;
    this.#router = router;
    this.#answers = answers;
  }

  /** Brings every session's answer cache within its bound now (each is also trimmed as its datagrams come). */
  trimAnswers(): void {
    for (const server of this.#coap.servers()) this.#answers.trim(server);
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
    const signer = await signingRate(settings, identity);
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
      signaturesPerSecond: signer.perSecond,
      handshakeRate: {
        perAddress: given(settings.handshakes_per_second_per_address, settings.handshake_burst_per_address),
        global: given(settings.handshakes_per_second, settings.handshake_burst),
        maxTrackedAddresses: settings.max_tracked_addresses,
        ipv6PrefixLength: settings.ipv6_prefix_length,
      },
      halfOpen: {
        perAddress: settings.half_open_handshakes_per_address,
        global: settings.half_open_handshakes,
        resumptions: settings.half_open_resumptions,
      },
      receiveBufferBytes: settings.receive_buffer_bytes,
      cookieLifetimeMs: settings.cookie_lifetime_s * 1000,
      ...(routes?.sessionTickets ? { sessionTickets: routes.sessionTickets } : {}),
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
      for (const peer of dtls.peers()) {
        sessions.refresh(peer);
        deadlines?.arm(peerKey(peer), peer, deadlines.noted(peer.identity.attributes));
      }
    });
    const router = routes
      ? CoapRouter.create({
          ...(routes.telemetry ? { telemetry: routes.telemetry } : {}),
          ...(routes.commands ? { commands: routes.commands } : {}),
          ...(trust ? { trust } : {}),
          ...(routes.now ? { now: routes.now } : {}),
          limits: { maxPayloadBytes: routes.limits.max_payload_bytes, mtu: settings.mtu },
          log,
        })
      : undefined;
    const answers = new AnswerCacheBound();
    let lastErrorLog = 0;
    const sessions = new CoapSessions(dtls, {
      serve: (server, session) => (router ? router.serve(server, session) : answerNoRoute(server)),
      ...(router ? { ended: (session: string) => router.sessionEnded(session) } : {}),
      answers,
      errorAnswered: (session, code, text) => {
        // A handler that threw is a gateway bug: counted (status coapErrorAnswers), logged at most once a second.
        const now = Date.now();
        if (now - lastErrorLog < 1000) return;
        lastErrorLog = now;
        log.warn({ session, code, error: text.slice(0, 300) }, 'CoAP request failed inside the gateway');
      },
    });
    const address = await dtls.listen({
      host: settings.host,
      port: settings.port,
      ...(routes?.reusePort ? { reusePort: true } : {}),
    });
    const listening =
      address.family === 'IPv6'
        ? `[${address.address}]:${address.port}`
        : `${address.address}:${address.port}`;
    log.info(
      { listening, serverKey: credentials.keyDescription, sensorCas: credentials.sensorCas.length },
      'sensor endpoint (CoAP over DTLS) listening',
    );
    const receiveBuffer = dtls.receiveBuffer;
    if (receiveBuffer?.capped) {
      // Datagrams beyond it are dropped by the kernel while the loop is busy (a reconnect storm).
      log.warn(
        { requestedBytes: receiveBuffer.requestedBytes, effectiveBytes: receiveBuffer.effectiveBytes },
        'DTLS socket receive buffer capped by net.core.rmem_max (raise it with sysctl to use receive_buffer_bytes)',
      );
    }
    return new SensorEndpoint(
      dtls,
      sessions,
      answers,
      listening,
      credentials.keyDescription,
      router,
      deadlines,
      signer,
    );
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
      recordsRejected: stats.recordsRejected,
      recordsRejectedByReason: stats.recordsRejectedByReason,
      handshakes: {
        signer: this.#signer,
        limits: this.#dtls.handshakeLimits(),
        signatures: stats.signatures,
        signaturesRefusedPerAddress: stats.signaturesRefusedPerAddress,
        signaturesRefusedGlobal: stats.signaturesRefusedGlobal,
        halfOpen: stats.sessionsHandshaking,
        halfOpenRefusedPerAddress: stats.halfOpenRefusedPerAddress,
        halfOpenRefusedGlobal: stats.halfOpenRefusedGlobal,
        cookiesSent: stats.cookiesSent,
        cookiesInvalid: stats.cookiesInvalid,
        cookiesReplayed: stats.cookiesReplayed,
        sessionsReplaced: stats.sessionsReplaced,
      },
      ...(this.#router ? { coap: this.#router.status() } : {}),
      answerCache: this.#answers.status(this.#coap.servers()),
      coapErrorAnswers: { ...this.#coap.errorAnswers },
      ...(this.#dtls.receiveBuffer ? { receiveBuffer: { ...this.#dtls.receiveBuffer } } : {}),
      ...(this.#deadlines ? { deadlines: this.#deadlines.status() } : {}),
    };
  }

  async close(): Promise<void> {
    this.#deadlines?.stop();
    this.#router?.close();
    this.#coap.close();
    await this.#dtls.close();
  }
}

/** Without the routes (no SensorEndpointOptions), every request is answered 4.04. */
function answerNoRoute(session: CoapSession): void {
  session.on('request', (_request, answer) =>
    answer.send('4.04', 'no route: the CoAP routes are not installed'),
  );
}

/** A configured bucket: what is not "auto" (the DTLS server sizes the rest from the signer's rate). */
function given(rate: number | 'auto', burst: number | 'auto'): { ratePerSecond?: number; burst?: number } {
  return {
    ...(rate === 'auto' ? {} : { ratePerSecond: rate }),
    ...(burst === 'auto' ? {} : { burst }),
  };
}
