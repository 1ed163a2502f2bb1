import type { HandshakeFailureReason } from './handshake-failure.js';
import type { RecordRejection } from './record-layer/index.js';

/** A snapshot of the DTLS server's counters (monotonic since construction) and current gauges. */
export interface DtlsStats {
  /** Sessions in the table now: handshaking + established. */
  sessionsActive: number;
  sessionsHandshaking: number;
  sessionsEstablished: number;
  /** Established sessions whose records JS protects (their OpenSSL connection state is freed). */
  sessionsOnJsRecordLayer: number;
  /** Sources (IPv4 addresses, IPv6 prefixes) the signature budget tracks now (bounded). */
  rateLimiterAddresses: number;
  /** Sessions resumable by session id now, and the bytes their DER takes (DerSessionCache). */
  sessionsCached: number;
  sessionCacheBytes: number;
  datagramsReceived: number;
  datagramsSent: number;
  /** Not DTLS, truncated, or an unparseable ClientHello: dropped before OpenSSL saw it. */
  datagramsMalformed: number;
  /** Well-formed, but neither a ClientHello nor for a known session (e.g. a peer we forgot). */
  datagramsUnexpected: number;
  /** Records of an epoch the session cannot be in. */
  datagramsWrongEpoch: number;
  sendErrors: number;
  /** Datagrams whose processing threw (a bug, or OpenSSL out of memory): dropped, others unaffected. */
  processingErrors: number;
  /** Initial ClientHellos (with or without a cookie). */
  clientHellos: number;
  /** HelloVerifyRequests sent: the whole cost of a cookie-less ClientHello (no budget is spent). */
  cookiesSent: number;
  /** Cookies refused: forged, expired, or made for another address, port or ClientHello. */
  cookiesInvalid: number;
  /** Valid cookies in a copy of the ClientHello that made the live session there: dropped. */
  cookiesReplayed: number;
  /** HelloVerifyRequests not sent because they were larger than the ClientHello (anti-amplification). */
  amplificationDropped: number;
  /** Cookie-verified ClientHellos refused by the signature budget (per source or global, below). */
  handshakesRateLimited: number;
  signaturesRefusedPerAddress: number;
  signaturesRefusedGlobal: number;
  /** Full handshakes that signed a ServerKeyExchange with the server key. */
  signatures: number;
  /** Cookie-verified ClientHellos refused because too many handshakes were half-open. */
  halfOpenRefusedPerAddress: number;
  halfOpenRefusedGlobal: number;
  handshakesStarted: number;
  handshakesCompleted: number;
  handshakesResumed: number;
  handshakesFailed: number;
  handshakesFailedByReason: Partial<Record<HandshakeFailureReason, number>>;
  /** Established sessions replaced by a new handshake from the same address and port (a rebooted peer). */
  sessionsReplaced: number;
  sessionsEvictedIdle: number;
  sessionsClosedByPeer: number;
  /** Established sessions closed because verifyPeer refused them on reverify() (revoked, blocked …). */
  sessionsClosedByPolicy: number;
  sessionsRefusedLimit: number;
  renegotiationsRefused: number;
  /**
   * Records of established sessions (JS record layer) dropped: another header version than DTLS 1.2,
   * replays, or records that did not authenticate.
   */
  recordsRejected: number;
  recordsRejectedByReason: Partial<Record<RecordRejection, number>>;
  retransmissions: number;
  messagesReceived: number;
  messagesSent: number;
}

type CounterName = {
  [K in keyof DtlsStats]: DtlsStats[K] extends number ? K : never;
}[keyof DtlsStats];

type GaugeName =
  | 'sessionsActive'
  | 'sessionsHandshaking'
  | 'sessionsEstablished'
  | 'sessionsOnJsRecordLayer'
  | 'rateLimiterAddresses'
  | 'sessionsCached'
  | 'sessionCacheBytes';

/** The counters behind `DtlsServer.stats()`. */
export class DtlsCounters {
  readonly #values = new Map<Exclude<CounterName, GaugeName>, number>();
  readonly #failures: Partial<Record<HandshakeFailureReason, number>> = {};
  readonly #rejections: Partial<Record<RecordRejection, number>> = {};

  add(name: Exclude<CounterName, GaugeName | 'handshakesFailed' | 'recordsRejected'>, amount = 1): void {
    this.#values.set(name, (this.#values.get(name) ?? 0) + amount);
  }

  failed(reason: HandshakeFailureReason): void {
    this.#values.set('handshakesFailed', (this.#values.get('handshakesFailed') ?? 0) + 1);
    this.#failures[reason] = (this.#failures[reason] ?? 0) + 1;
  }

  rejected(reason: RecordRejection): void {
    this.#values.set('recordsRejected', (this.#values.get('recordsRejected') ?? 0) + 1);
    this.#rejections[reason] = (this.#rejections[reason] ?? 0) + 1;
  }

  snapshot(gauges: Pick<DtlsStats, GaugeName>): DtlsStats {
    const value = (name: Exclude<CounterName, GaugeName>) => this.#values.get(name) ?? 0;
    return {
      ...gauges,
      datagramsReceived: value('datagramsReceived'),
      datagramsSent: value('datagramsSent'),
      datagramsMalformed: value('datagramsMalformed'),
      datagramsUnexpected: value('datagramsUnexpected'),
      datagramsWrongEpoch: value('datagramsWrongEpoch'),
      sendErrors: value('sendErrors'),
      processingErrors: value('processingErrors'),
      clientHellos: value('clientHellos'),
      cookiesSent: value('cookiesSent'),
      cookiesInvalid: value('cookiesInvalid'),
      cookiesReplayed: value('cookiesReplayed'),
      amplificationDropped: value('amplificationDropped'),
      handshakesRateLimited: value('handshakesRateLimited'),
      signaturesRefusedPerAddress: value('signaturesRefusedPerAddress'),
      signaturesRefusedGlobal: value('signaturesRefusedGlobal'),
      signatures: value('signatures'),
      halfOpenRefusedPerAddress: value('halfOpenRefusedPerAddress'),
      halfOpenRefusedGlobal: value('halfOpenRefusedGlobal'),
      handshakesStarted: value('handshakesStarted'),
      handshakesCompleted: value('handshakesCompleted'),
      handshakesResumed: value('handshakesResumed'),
      handshakesFailed: value('handshakesFailed'),
      handshakesFailedByReason: { ...this.#failures },
      sessionsReplaced: value('sessionsReplaced'),
      sessionsEvictedIdle: value('sessionsEvictedIdle'),
      sessionsClosedByPeer: value('sessionsClosedByPeer'),
      sessionsClosedByPolicy: value('sessionsClosedByPolicy'),
      sessionsRefusedLimit: value('sessionsRefusedLimit'),
      renegotiationsRefused: value('renegotiationsRefused'),
      recordsRejected: value('recordsRejected'),
      recordsRejectedByReason: { ...this.#rejections },
      retransmissions: value('retransmissions'),
      messagesReceived: value('messagesReceived'),
      messagesSent: value('messagesSent'),
    };
  }
}
