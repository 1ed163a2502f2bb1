/**
 * DTLS 1.2 server endpoint of edge-gatewayd, on node's own OpenSSL through koffi and memory BIOs.
 *
 * Datagram path. Every datagram is first framed by scanDtlsRecords (no OpenSSL involved):
 *   - an unfragmented epoch-0 ClientHello, from anyone, is parsed in JS (client-hello.ts). Without a
 *     valid cookie it is answered with a HelloVerifyRequest made in JS, cookie = HMAC-SHA256(secret,
 *     time slot, family|address|port, version, random, session id, suites, compression) (cookie-
 *     secret.ts): no OpenSSL call, no per-peer state, no budget spent, and never more bytes than the
 *     ClientHello carried (anti-amplification). With a valid cookie it must pass the half-open caps
 *     and, unless it offers a session id of our cache (a resumption signs nothing), the signature
 *     budget (handshake-rate-limiter.ts; sources are addresses, IPv6 per prefix); then DTLSv1_listen
 *     on ONE shared listener SSL object, whose cookie callback only confirms the cookie JS verified,
 *     turns the listener into that peer's session (and a fresh listener is made), subject to
 *     maxSessions;
 *   - from the address and port of an established session, such a handshake runs beside it and
 *     replaces it only once it completes (RFC 6347 §4.2.8): the old session keeps its epoch-1 records,
 *     the new handshake gets epoch-0 records and epoch-1 handshake records (its Finished). A copy of
 *     the ClientHello that made the live session (same random) is dropped and counted;
 *   - any other datagram from a known peer (address + port) goes to that peer's DtlsSession;
 *   - anything else is dropped and counted; one peer's garbage never reaches another peer's session.
 *
 * Sessions share one SSL_CTX (DtlsServerContext): mutual X.509 with the sslclient purpose, the trust
 * hook after OpenSSL's chain check, a server-side session cache (session ids, no tickets, so the
 * verified chain of a resumed sensor is known and the hook runs again on resumption), renegotiation
 * refused, MTU set explicitly and output cut into datagrams on record boundaries.
 *
 * Memory per established session. OpenSSL's per-connection state (handshake buffer, SSL object,
 * parsed peer certificate, cipher contexts, record buffers) is only needed for the handshake: once a
 * session is established, its AEAD records move to a JS RecordChannel (record-layer/) and the SSL
 * object is freed; the SSL_SESSION stays in the cache for resumption. Measured on OpenSSL 3.5.9 (node
 * 26), malloc in use per idle session with 300 sessions: 13 KB on the JS record layer against 82 KB
 * with `recordLayer: 'openssl'` (3.5 keeps more per connection than 3.0 did: 48 KB there; details in
 * DtlsSession). Earlier, on OpenSSL 3.0, `npm run bench -- dtls` measured RSS per idle session 12.1 KB
 * at 1k sessions, against 44.6 KB with `recordLayer: 'openssl'` and 71.5 KB for libcoap's
 * coap-server-openssl in the same run.
 *
 * Signing and the event loop. OpenSSL signs the ServerKeyExchange inside SSL_do_handshake. With a
 * software key that is ~0.1 ms, on this thread. With a hardware key (the key store's EVP_PKEY hook:
 * TPM tens of ms, ATECC608A up to ~115 ms) the first step of a full handshake runs on the TLS handshake
 * thread (../handshake-thread.ts) instead: established sessions keep being served while the device
 * signs, datagrams for that handshake are held until its step returns, and the step's own callbacks
 * (cookie, info, security level) still run here, in turn. Steps run one after another there, as the
 * signer is serial anyway; the signature budget bounds how many queue. A ClientHello that offers a
 * cached session runs here (no signature, unless OpenSSL lost the session: then this thread waits for
 * one). The test dtls-hardware-key checks that round trips of a busy session complete while a
 * (deliberately slow) signer works; `npm run bench -- dtls` measures a busy session's round trips
 * while the timed ATECC608A simulator signs.
 */
import dgram, { type RemoteInfo } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIPv6 } from 'node:net';
import koffi from 'koffi';
import { libcrypto } from '../../native/openssl/libcrypto.js';
import { libssl, type Pointer, SSL_OP } from '../../native/openssl/libssl.js';
import { DTLS_CONST, libsslDtls } from '../../native/openssl/libssl-dtls.js';
import { signsOffLoop, takeKeyStoreError } from '../key-store-private-key.js';
import { derFromX509, dersFromX509Stack } from '../openssl-objects.js';
import { TlsError } from '../tls-error.js';
import { addressPrefix } from './address-prefix.js';
import { type ClientHelloFields, helloVerifyRequest, parseClientHello } from './client-hello.js';
import { CookieSecret } from './cookie-secret.js';
import { DatagramBatchSender } from './datagram-batch-sender.js';
import { DtlsCounters, type DtlsStats } from './dtls-counters.js';
import {
  DTLS_CONTENT_TYPE,
  type DtlsRecordInfo,
  isInitialClientHello,
  largestHandshakeMessage,
  scanDtlsRecords,
} from './dtls-record-scanner.js';
import { DtlsServerContext } from './dtls-server-context.js';
import {
  type DtlsServerOptions,
  type ResolvedDtlsServerOptions,
  resolveDtlsServerOptions,
} from './dtls-server-options.js';
import {
  type DtlsPeerAddress,
  DtlsSession,
  type DtlsSessionEndReason,
  type DtlsSessionHost,
  type SslWithBios,
} from './dtls-session.js';
import { HalfOpenHandshakes, type HalfOpenKind } from './half-open-handshakes.js';
import { HandshakeFailure, type HandshakeFailureReason } from './handshake-failure.js';
import { HandshakeRateLimiter, type TokenBucketSettings } from './handshake-rate-limiter.js';
import { PeerIdentity } from './peer-identity.js';
import { applyReceiveBuffer, type ReceiveBufferSize } from './receive-buffer.js';

/** An established session as the server's users see it. */
export interface DtlsPeer extends DtlsPeerAddress {
  identity: PeerIdentity;
  /** The handshake resumed a cached session (no certificate exchange, no signature). */
  resumed: boolean;
  cipher: string;
}

/** The handshake limits a server runs with (DtlsServerOptions, defaults resolved). */
export interface DtlsHandshakeLimits {
  /** What the server key signs per second, as given (it sizes the defaults). */
  signaturesPerSecond: number;
  /** Full handshakes (signatures) per source: an IPv4 address, an IPv6 prefix. */
  perAddress: TokenBucketSettings;
  /** Full handshakes (signatures) for the whole server. */
  global: TokenBucketSettings;
  halfOpenPerAddress: number;
  halfOpenGlobal: number;
  /** Half-open recognized resumptions (they sign nothing), for the whole server. */
  halfOpenResumptions: number;
  ipv6PrefixLength: number;
  cookieLifetimeMs: number;
}

export interface DtlsHandshakeFailedEvent extends DtlsPeerAddress {
  reason: HandshakeFailureReason;
  error: TlsError;
}

export type DtlsServerEvents = {
  session: [peer: DtlsPeer];
  sessionEnd: [peer: DtlsPeer, reason: DtlsSessionEndReason];
  handshakeFailed: [failure: DtlsHandshakeFailedEvent];
  message: [plaintext: Buffer, peer: DtlsPeer];
  error: [error: Error];
  listening: [];
  close: [];
};

export class DtlsServer extends EventEmitter<DtlsServerEvents> {
  readonly #options: ResolvedDtlsServerOptions;
  readonly #context: DtlsServerContext;
  readonly #counters = new DtlsCounters();
  readonly #limiter: HandshakeRateLimiter;
  readonly #halfOpen: HalfOpenHandshakes;
  readonly #cookies: CookieSecret;
  /** By address:port: the established session, or the handshake when none is established there. */
  readonly #sessions = new Map<string, DtlsSession>();
  /**
   * Handshakes from the address:port of an established session: the established one keeps working
   * until the new one completes, and only then is replaced (RFC 6347 §4.2.8). A replayed ClientHello
   * therefore cannot end a live session.
   */
  readonly #pending = new Map<string, DtlsSession>();
  /** The source (address or IPv6 prefix) and allowance each half-open handshake is counted under. */
  readonly #halfOpenSource = new Map<DtlsSession, { source: string; kind: HalfOpenKind }>();
  /** The client random of each session's ClientHello: the same one again is a replay, not a new handshake. */
  readonly #clientRandom = new WeakMap<DtlsSession, Buffer>();
  /** The session ticket each handshake offered (refused for good if its session is refused on resumption). */
  readonly #offeredTicket = new WeakMap<DtlsSession, Buffer>();
  readonly #bySsl = new Map<bigint, DtlsSession>();
  /** The SSL pointer a session started with (it frees its SSL once on the JS record layer). */
  readonly #sslOf = new WeakMap<DtlsSession, Pointer>();
  /** Verified chains by session id, so a resumed session has the same identity and can be re-checked. */
  readonly #resumable = new Map<string, { identity: PeerIdentity; at: number }>();
  readonly #host: DtlsSessionHost;
  /**
   * The server key signs on the TLS handshake thread (a TPM or ATECC608A key): the first step of a
   * full handshake, which signs the ServerKeyExchange, runs there, off the event loop.
   */
  readonly #signsOffLoop: boolean;
  /** Off-loop steps not yet returned: the context (and its callbacks) must outlive them. */
  readonly #offLoopSteps = new Set<Promise<void>>();
  readonly #bioAddress: Pointer;
  #listener: SslWithBios;
  /** The cookie JS verified for the ClientHello DTLSv1_listen is reading now. */
  #listenerCookie: Buffer | undefined;
  #socket: dgram.Socket | undefined;
  /** Sends the datagrams of an event-loop turn in one sendmmsg (datagram-batch-sender.ts). */
  #sender: DatagramBatchSender | undefined;
  #receiveBuffer: ReceiveBufferSize | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: DtlsServerOptions) {
    super();
    this.#options = resolveDtlsServerOptions(options);
    const o = this.#options;
    this.#limiter = new HandshakeRateLimiter(o.perAddressRate, o.globalRate, o.maxTrackedAddresses);
    this.#halfOpen = new HalfOpenHandshakes(o.halfOpenPerAddress, o.halfOpenGlobal, o.halfOpenResumptions);
    this.#cookies = new CookieSecret(o.cookieLifetimeMs);
    this.#signsOffLoop = signsOffLoop(o.privateKey);
    this.#context = new DtlsServerContext(o, {
      // Only DTLSv1_listen asks: #listen clears SSL_OP_COOKIE_EXCHANGE once it accepted the cookie.
      verifiedCookie: (ssl) => (ssl === this.#listener.ssl ? this.#listenerCookie : undefined),
      chainVerified: (ssl, chain, subject, attributes) => {
        const session = this.#bySsl.get(ssl);
        if (session) session.context = new PeerIdentity(chain, subject, attributes);
      },
      chainRejected: (ssl, failure) => {
        const session = this.#bySsl.get(ssl);
        if (session) session.failure ??= failure;
      },
      renegotiationRefused: () => this.#counters.add('renegotiationsRefused'),
    });
    try {
      this.#listener = DtlsSession.newSsl(this.#context.ctx, o.mtu);
      this.#bioAddress = libsslDtls().BIO_ADDR_new();
    } catch (error) {
      this.#context.free();
      throw error;
    }
    this.#host = {
      sendDatagram: (session, datagram) => this.#send(session.peer, datagram),
      handshakeCompleted: (session) => this.#handshakeCompleted(session),
      handshakeFailed: (session, failure) => this.#handshakeFailed(session, failure),
      plaintext: (session, data) => {
        this.#counters.add('messagesReceived');
        this.#notify('message', data, session.context as DtlsPeer);
      },
      ended: (session, reason) => this.#ended(session, reason),
      retransmitted: () => this.#counters.add('retransmissions'),
      released: (session) => this.#bySsl.delete(this.#sslOf.get(session) as bigint),
      renegotiationRefused: () => this.#counters.add('renegotiationsRefused'),
      recordRejected: (_session, reason) => this.#counters.rejected(reason),
    };
  }

  /**
   * Binds the UDP socket. `host` '::' listens on IPv6 and (dual-stack) IPv4. Default 0.0.0.0:5684.
   * `reusePort`: SO_REUSEPORT, so that sensor worker threads each bind the same port and the kernel's
   * 4-tuple hash keeps a sensor on one of them.
   */
  listen(
    where: { port?: number; host?: string; reusePort?: boolean } = {},
  ): Promise<{ address: string; port: number; family: string }> {
    if (this.#closed) return Promise.reject(new TlsError('EGW_TLS_CLOSED', 'the DTLS server is closed'));
    if (this.#socket)
      return Promise.reject(new TlsError('EGW_TLS_CONFIG', 'the DTLS server is already listening'));
    const host = where.host ?? '0.0.0.0';
    const socket = dgram.createSocket({
      type: isIPv6(host) ? 'udp6' : 'udp4',
      ...(where.reusePort ? { reusePort: true } : {}),
    });
    this.#socket = socket;
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => {
        this.#socket = undefined;
        socket.close();
        reject(
          new TlsError(
            'EGW_TLS_CONFIG',
            `cannot listen for DTLS on ${host}:${where.port ?? 5684}: ${error.message}`,
            {
              hint: 'is the port in use, or the address not configured on this host?',
              cause: error,
            },
          ),
        );
      };
      socket.once('error', onError);
      socket.bind({ port: where.port ?? 5684, address: host }, () => {
        socket.off('error', onError);
        this.#receiveBuffer = applyReceiveBuffer(socket, this.#options.receiveBufferBytes);
        this.#sender = new DatagramBatchSender(socket, { failed: () => this.#counters.add('sendErrors') });
        socket.on('message', (message, rinfo) => this.#onDatagram(message, rinfo));
        socket.on('error', (error) => {
          if (this.listenerCount('error') > 0) this.emit('error', error);
        });
        this.#startSweep();
        this.emit('listening');
        resolve(socket.address());
      });
    });
  }

  address(): { address: string; port: number; family: string } {
    if (!this.#socket) throw new TlsError('EGW_TLS_CLOSED', 'the DTLS server is not listening');
    return this.#socket.address();
  }

  /** Encrypts `data` as one DTLS record to the established session of address:port. */
  send(address: string, port: number, data: Uint8Array): void {
    const session = this.#sessions.get(peerKey(address, port));
    if (session?.state !== 'established') {
      throw new TlsError('EGW_TLS_CLOSED', `no established DTLS session with ${address}:${port}`, {
        hint: 'the sensor must (re)connect before the gateway can send to it',
      });
    }
    session.write(data);
    this.#counters.add('messagesSent');
  }

  /** The established sessions now. */
  peers(): DtlsPeer[] {
    const peers: DtlsPeer[] = [];
    for (const session of this.#sessions.values()) {
      if (session.state === 'established') peers.push(session.context as DtlsPeer);
    }
    return peers;
  }

  /**
   * Runs verifyPeer again on every established session's chain (after a CRL, deny-list or
   * enrollment change) and closes (close_notify) those it now refuses; cached sessions for them
   * cannot resume either, since resumption runs the hook too. Returns the peers closed and why.
   */
  reverify(): { peer: DtlsPeer; reason: string }[] {
    const closed: { peer: DtlsPeer; reason: string }[] = [];
    for (const session of [...this.#sessions.values()]) {
      if (session.state !== 'established') continue;
      const peer = session.context as DtlsPeer;
      const verdict = this.#verifyAgain(peer.identity.chain as Uint8Array[]);
      if (verdict.ok) {
        const identity = new PeerIdentity(peer.identity.chain, peer.identity.subject, verdict.attributes);
        session.context = { ...peer, identity };
        continue;
      }
      session.close('closedLocally', true);
      this.#forget(session);
      this.#counters.add('sessionsClosedByPolicy');
      closed.push({ peer, reason: verdict.reason });
    }
    return closed;
  }

  /** Closes one session (close_notify), e.g. when its sensor's certificate was revoked. */
  endSession(address: string, port: number): boolean {
    const key = peerKey(address, port);
    const pending = this.#pending.get(key);
    if (pending) {
      pending.close('closedLocally', false);
      this.#forget(pending);
    }
    const session = this.#sessions.get(key);
    if (!session) return false;
    session.close('closedLocally', true);
    this.#forget(session);
    return true;
  }

  stats(): DtlsStats {
    let handshaking = 0;
    let onJsRecordLayer = 0;
    for (const session of this.#sessions.values()) {
      if (session.state === 'handshaking') handshaking++;
      if (session.onJsRecordLayer) onJsRecordLayer++;
    }
    return this.#counters.snapshot({
      sessionsActive: this.#sessions.size + this.#pending.size,
      sessionsHandshaking: handshaking + this.#pending.size,
      sessionsEstablished: this.#sessions.size - handshaking,
      sessionsOnJsRecordLayer: onJsRecordLayer,
      rateLimiterAddresses: this.#limiter.trackedAddresses,
      ...this.#context.sessionCacheStats(),
    });
  }

  /** SO_RCVBUF as asked and as the kernel set it (capped by net.core.rmem_max); undefined before listen. */
  get receiveBuffer(): ReceiveBufferSize | undefined {
    return this.#receiveBuffer;
  }

  /** The handshake limits in force (resolved defaults included), for status. */
  handshakeLimits(): DtlsHandshakeLimits {
    const o = this.#options;
    return {
      signaturesPerSecond: o.signaturesPerSecond,
      perAddress: o.perAddressRate,
      global: o.globalRate,
      halfOpenPerAddress: o.halfOpenPerAddress,
      halfOpenGlobal: o.halfOpenGlobal,
      halfOpenResumptions: o.halfOpenResumptions,
      ipv6PrefixLength: o.ipv6PrefixLength,
      cookieLifetimeMs: o.cookieLifetimeMs,
    };
  }

  /** Sends close_notify to every established session, frees all OpenSSL state and closes the socket. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    for (const session of [...this.#pending.values()]) {
      session.close('serverClosed', false);
      this.#forget(session);
    }
    for (const session of [...this.#sessions.values()]) {
      session.close('serverClosed', true);
      this.#forget(session);
    }
    libssl().SSL_free(this.#listener.ssl);
    libsslDtls().BIO_ADDR_free(this.#bioAddress);
    // A step running on the thread pool still calls the context's callbacks until it returns.
    if (this.#offLoopSteps.size > 0) await Promise.all(this.#offLoopSteps);
    this.#context.free();
    const socket = this.#socket;
    this.#socket = undefined;
    this.#sender?.close(); // the close_notify records above go out first
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
    this.emit('close');
  }

  #onDatagram(datagram: Buffer, rinfo: RemoteInfo): void {
    if (this.#closed) return;
    this.#counters.add('datagramsReceived');
    const scan = scanDtlsRecords(datagram);
    if (!scan.ok) {
      this.#counters.add('datagramsMalformed');
      return;
    }
    const peer: DtlsPeerAddress = {
      address: rinfo.address,
      port: rinfo.port,
      family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4',
    };
    const key = peerKey(peer.address, peer.port);
    const session = this.#sessions.get(key);
    const clientHello = isInitialClientHello(scan.records);
    try {
      if (!session) {
        if (clientHello) this.#clientHello(datagram, scan.records, peer, key, undefined);
        else this.#counters.add('datagramsUnexpected');
        return;
      }
      if (session.state === 'established') {
        if (clientHello) {
          this.#clientHello(datagram, scan.records, peer, key, session);
          return;
        }
        // The flights of a handshake that is to replace this session: anything of epoch 0, and the
        // Finished (an epoch-1 handshake record; the established session has no handshake left to do).
        const pending = this.#pending.get(key);
        if (pending && scan.records.some(isHandshakeFlight)) {
          this.#toHandshake(pending, datagram, scan.records);
          return;
        }
        // Renegotiation is refused, so an established session only ever reads epoch 1.
        if (!scan.records.some((record) => record.epoch === 1)) {
          this.#counters.add('datagramsWrongEpoch');
          return;
        }
        session.receive(datagram, scan.records);
        return;
      }
      this.#toHandshake(session, datagram, scan.records);
    } catch (error) {
      // A bug or an OpenSSL surprise on one peer's datagram must not take the others down.
      this.#counters.add('processingErrors');
      if (this.listenerCount('error') > 0) this.emit('error', error as Error);
    }
  }

  /** A datagram for a handshake in progress. */
  #toHandshake(session: DtlsSession, datagram: Buffer, records: DtlsRecordInfo[]): void {
    if (!records.some((record) => record.epoch <= 1)) {
      this.#counters.add('datagramsWrongEpoch');
      return;
    }
    const largest = largestHandshakeMessage(records);
    if (largest > this.#options.maxHandshakeMessageBytes) {
      session.abort(
        new HandshakeFailure(
          'messageTooLarge',
          `peer announced a ${largest}-byte handshake message (limit ${this.#options.maxHandshakeMessageBytes})`,
        ),
      );
      return;
    }
    session.receive(datagram, records);
  }

  /**
   * An initial ClientHello. Without a valid cookie it costs a stateless HelloVerifyRequest made here
   * (an HMAC, no OpenSSL, no budget). With one, it is admitted against the half-open caps and, unless
   * it resumes a cached session, the signature budget; then DTLSv1_listen turns the listener SSL into
   * the new session's.
   */
  #clientHello(
    datagram: Buffer,
    records: DtlsRecordInfo[],
    peer: DtlsPeerAddress,
    key: string,
    existing: DtlsSession | undefined,
  ): void {
    this.#counters.add('clientHellos');
    const hello = parseClientHello(datagram);
    if (!hello) {
      this.#counters.add('datagramsMalformed');
      return;
    }
    if (hello.cookie.length === 0 || !this.#cookies.verify(key, hello)) {
      if (hello.cookie.length > 0) this.#counters.add('cookiesInvalid');
      const reply = helloVerifyRequest(hello, this.#cookies.cookieFor(key, hello));
      if (reply.length > datagram.length) {
        this.#counters.add('amplificationDropped');
        return;
      }
      this.#counters.add('cookiesSent');
      this.#send(peer, reply);
      return;
    }
    let pending = this.#pending.get(key);
    if (pending && this.#clientRandom.get(pending)?.equals(hello.random)) {
      this.#toHandshake(pending, datagram, records); // a retransmitted ClientHello of that handshake
      return;
    }
    if (existing && this.#clientRandom.get(existing)?.equals(hello.random)) {
      // A client never sends the same random in a new handshake: this is a copy of the ClientHello
      // that made the live session.
      this.#counters.add('cookiesReplayed');
      return;
    }
    if (pending) {
      // The client moved on to yet another handshake: the earlier one will not complete.
      pending.close('replaced', false);
      this.#forget(pending);
      pending = undefined;
    }
    const source = addressPrefix(peer.address, this.#options.ipv6PrefixLength);
    // Only a resumption recognized here (ticket key name + HMAC, or a cached session id) is counted
    // in the resumptions' allowance; a forged ticket is a full handshake and meets the signed cap.
    const resumption = this.#offersCachedSession(hello);
    const kind: HalfOpenKind = resumption ? 'resumption' : 'full';
    const crowded = this.#halfOpen.refusal(source, kind);
    if (crowded) {
      this.#counters.add(crowded === 'perAddress' ? 'halfOpenRefusedPerAddress' : 'halfOpenRefusedGlobal');
      return;
    }
    if (!resumption) {
      const budget = this.#limiter.take(source);
      if (!budget.ok) {
        this.#counters.add('handshakesRateLimited');
        this.#counters.add(
          budget.refusedBy === 'perAddress' ? 'signaturesRefusedPerAddress' : 'signaturesRefusedGlobal',
        );
        return;
      }
    }
    if (!existing && this.#sessions.size >= this.#options.maxSessions) {
      this.#counters.add('sessionsRefusedLimit');
      this.#reportFailure(
        peer,
        new HandshakeFailure('sessionLimit', `${this.#options.maxSessions} sessions already exist`),
      );
      return;
    }
    const listener = this.#listener;
    if (!this.#listen(listener, datagram, hello.cookie)) return;
    this.#listener = DtlsSession.newSsl(this.#context.ctx, this.#options.mtu);
    const session = new DtlsSession(listener, peer, key, this.#host, this.#options);
    if (existing) this.#pending.set(key, session);
    else this.#sessions.set(key, session);
    this.#bySsl.set(listener.ssl as bigint, session);
    this.#sslOf.set(session, listener.ssl);
    this.#clientRandom.set(session, Buffer.from(hello.random));
    if (hello.sessionTicket) this.#offeredTicket.set(session, Buffer.from(hello.sessionTicket));
    this.#halfOpen.add(source, kind);
    this.#halfOpenSource.set(session, { source, kind });
    this.#context.prepareSession(listener.ssl, hello.cipherSuites);
    this.#counters.add('handshakesStarted');
    if (!this.#signsOffLoop || resumption) {
      // A resumption signs nothing (unless OpenSSL lost the session: then this thread waits for
      // the signature, as every handshake did before the handshake thread).
      session.accept();
      this.#countSignature(session, source, resumption);
      return;
    }
    const step = session
      .acceptOffLoop(() => this.#keyStoreFailure())
      .then(() => this.#countSignature(session, source, resumption));
    this.#offLoopSteps.add(step);
    void step.then(() => this.#offLoopSteps.delete(step));
  }

  /** After the first handshake step: the ServerHello flight is out, a full one signed its ServerKeyExchange. */
  #countSignature(session: DtlsSession, source: string, resumption: boolean): void {
    if (session.state === 'closed' || session.resumed) return;
    this.#counters.add('signatures');
    if (resumption) this.#limiter.charge(source); // offered a cached session, but OpenSSL had lost it
  }

  /** Why an off-loop step failed when the key store is the cause (the step's error queue is not ours). */
  #keyStoreFailure(): HandshakeFailure | undefined {
    const error = takeKeyStoreError(this.#options.privateKey);
    return error ? new HandshakeFailure('keyStore', `${error.code}: ${error.message}`) : undefined;
  }

  /** Runs DTLSv1_listen on the listener for a ClientHello whose cookie JS verified; false if it refused it. */
  #listen(listener: SslWithBios, datagram: Buffer, cookie: Buffer): boolean {
    const ssl = libssl();
    ssl.BIO_ctrl(listener.readBio, DTLS_CONST.BIO_CTRL_RESET, 0, null);
    ssl.BIO_ctrl(listener.writeBio, DTLS_CONST.BIO_CTRL_RESET, 0, null);
    ssl.BIO_write(listener.readBio, datagram, datagram.length);
    libcrypto().ERR_clear_error();
    this.#listenerCookie = cookie;
    let result: number;
    try {
      result = libsslDtls().DTLSv1_listen(listener.ssl, this.#bioAddress);
    } finally {
      this.#listenerCookie = undefined;
    }
    HandshakeFailure.drainErrorQueue();
    if (result > 0) {
      // DTLSv1_listen leaves SSL_OP_COOKIE_EXCHANGE set, and OpenSSL would then check the same cookie
      // once more (a JS callback) when the handshake reads the ClientHello it buffered: cleared, the
      // state machine skips that check and never sends a HelloVerifyRequest from inside the session.
      ssl.SSL_clear_options(listener.ssl, SSL_OP.COOKIE_EXCHANGE);
      return true;
    }
    // OpenSSL parsed the ClientHello differently from us; whatever it wrote is not sent.
    ssl.BIO_ctrl(listener.writeBio, DTLS_CONST.BIO_CTRL_RESET, 0, null);
    this.#counters.add('datagramsMalformed');
    return false;
  }

  /** The ClientHello offers a session id of our cache: an abbreviated handshake, no signature. */
  #offersCachedSession(hello: ClientHelloFields): boolean {
    if (this.#options.sessionCache === false) return false;
    // A ticket counts only when its key name and HMAC are ours (session-ticket-keys.ts): a forged or
    // stale one is a full handshake (OpenSSL then ignores the session id too) and pays the budget.
    const tickets = this.#options.sessionTickets;
    if (tickets && hello.sessionTicket) return tickets.recognizes(hello.sessionTicket);
    return hello.sessionId.length > 0 && this.#resumable.has(hello.sessionId.toString('hex'));
  }

  #handshakeCompleted(session: DtlsSession): void {
    this.#releaseHalfOpen(session);
    const resumed = session.resumed;
    // A ticket resumption's session id is the client's choice (OpenSSL copies the ClientHello's,
    // RFC 5077 §3.4): it may name another sensor's session, so only the ticket says who this is.
    const byTicket = resumed && (this.#offeredTicket.get(session)?.length ?? 0) > 0;
    const sessionId = byTicket ? '' : this.#sessionId(session.ssl);
    let identity = session.context instanceof PeerIdentity ? session.context : undefined;
    if (resumed) {
      const known =
        (byTicket ? undefined : this.#resumable.get(sessionId)?.identity) ?? this.#sentIdentity(session.ssl);
      const verdict = known
        ? this.#verifyAgain(known.chain as Uint8Array[])
        : { ok: false as const, reason: 'no client certificate in the session' };
      if (!verdict.ok || !known) {
        this.#context.forgetSession(session.ssl);
        if (!byTicket) this.#resumable.delete(sessionId);
        const ticket = this.#offeredTicket.get(session);
        if (ticket) this.#options.sessionTickets?.refuse(ticket); // a ticket cannot be forgotten
        const reason = verdict.ok ? 'no client certificate in the session' : verdict.reason;
        session.abort(new HandshakeFailure('rejectedByPolicy', `on resumption: ${reason}`));
        return;
      }
      // What the hook says now (an enrollment's label, say, may have changed since).
      identity = known.withAttributes(verdict.attributes);
    } else if (identity && this.#options.sessionCache !== false && sessionId !== '') {
      this.#resumable.set(sessionId, { identity, at: Date.now() });
      while (this.#resumable.size > this.#options.sessionCache.size) {
        this.#resumable.delete(this.#resumable.keys().next().value as string);
      }
    }
    if (!identity) {
      session.abort(new HandshakeFailure('noPeerCertificate', 'no verified client certificate'));
      return;
    }
    const peer: DtlsPeer = { ...session.peer, identity, resumed, cipher: session.cipher };
    session.context = peer;
    session.lastActivity = Date.now();
    if (this.#pending.get(session.key) === session) {
      // The new handshake from this address:port completed: now it replaces the old session.
      const old = this.#sessions.get(session.key);
      this.#pending.delete(session.key);
      this.#sessions.set(session.key, session);
      old?.close('replaced', false);
    }
    this.#context.watchRenegotiation(session.ssl);
    this.#counters.add('handshakesCompleted');
    if (resumed) this.#counters.add('handshakesResumed');
    this.#notify('session', peer);
  }

  #verifyAgain(chain: Uint8Array[]): ReturnType<ResolvedDtlsServerOptions['verifyPeer']> {
    try {
      return this.#options.verifyPeer(chain);
    } catch (error) {
      return {
        ok: false,
        reason: `verifyPeer threw: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
  }

  #handshakeFailed(session: DtlsSession, failure: HandshakeFailure): void {
    this.#forget(session);
    this.#reportFailure(session.peer, failure);
  }

  #reportFailure(peer: DtlsPeerAddress, failure: HandshakeFailure): void {
    this.#counters.failed(failure.reason);
    if (this.listenerCount('handshakeFailed') === 0) return;
    const where = peer.family === 'IPv6' ? `[${peer.address}]:${peer.port}` : `${peer.address}:${peer.port}`;
    this.#notify('handshakeFailed', { ...peer, reason: failure.reason, error: failure.toError(where) });
  }

  #ended(session: DtlsSession, reason: DtlsSessionEndReason): void {
    this.#forget(session);
    if (reason === 'idle') this.#counters.add('sessionsEvictedIdle');
    else if (reason === 'closedByPeer') this.#counters.add('sessionsClosedByPeer');
    else if (reason === 'replaced') this.#counters.add('sessionsReplaced');
    if (session.context) this.#notify('sessionEnd', session.context as DtlsPeer, reason);
  }

  /**
   * Emits from inside datagram processing. A throwing listener must not unwind through a session that
   * is half-way through a datagram: the error goes to 'error' listeners, or is rethrown on the next
   * tick (an uncaught exception, as from any emitter) once our state is consistent.
   */
  #notify<K extends 'session' | 'sessionEnd' | 'handshakeFailed' | 'message'>(
    event: K,
    ...args: DtlsServerEvents[K]
  ): void {
    try {
      (this.emit as (name: string, ...values: unknown[]) => boolean)(event, ...args);
    } catch (error) {
      if (this.listenerCount('error') > 0) this.emit('error', error as Error);
      else
        process.nextTick(() => {
          throw error;
        });
    }
  }

  #forget(session: DtlsSession): void {
    this.#releaseHalfOpen(session);
    if (this.#sessions.get(session.key) === session) this.#sessions.delete(session.key);
    if (this.#pending.get(session.key) === session) this.#pending.delete(session.key);
    // A freed SSL's address may already belong to a newer session: only remove our own entry.
    const ssl = this.#sslOf.get(session) as bigint;
    if (this.#bySsl.get(ssl) === session) this.#bySsl.delete(ssl);
  }

  #releaseHalfOpen(session: DtlsSession): void {
    const counted = this.#halfOpenSource.get(session);
    if (counted === undefined) return;
    this.#halfOpenSource.delete(session);
    this.#halfOpen.remove(counted.source, counted.kind);
  }

  #send(peer: DtlsPeerAddress, datagram: Buffer): void {
    const sender = this.#sender;
    if (!this.#socket || !sender) return;
    this.#counters.add('datagramsSent');
    sender.send(datagram, peer);
  }

  #sessionId(sslPointer: Pointer): string {
    const dtls = libsslDtls();
    const session = dtls.SSL_get_session(sslPointer);
    if (!session) return '';
    const length: [number] = [0];
    const id = dtls.SSL_SESSION_get_id(session, length);
    if (id === null || length[0] === 0) return '';
    return Buffer.from(koffi.view(id, length[0])).toString('hex');
  }

  /** The chain the peer sent (leaf first), for a resumed session whose verified chain we no longer hold. */
  #sentIdentity(sslPointer: Pointer): PeerIdentity | undefined {
    const ssl = libssl();
    const leaf = ssl.SSL_get1_peer_certificate(sslPointer);
    if (!leaf) return undefined;
    try {
      // On a server, SSL_get_peer_cert_chain leaves the leaf out.
      const chain = [derFromX509(leaf), ...dersFromX509Stack(ssl.SSL_get_peer_cert_chain(sslPointer))];
      return new PeerIdentity(chain, PeerIdentity.subjectOf(leaf));
    } finally {
      ssl.X509_free(leaf);
    }
  }

  #startSweep(): void {
    const idle = this.#options.idleTimeoutMs;
    const every = Math.min(10_000, Math.max(25, Math.floor(idle / 4)));
    this.#sweepTimer = setInterval(() => this.#sweep(), every);
    this.#sweepTimer.unref();
  }

  #sweep(): void {
    const now = Date.now();
    for (const session of [...this.#sessions.values()]) {
      if (session.state === 'established' && now - session.lastActivity >= this.#options.idleTimeoutMs) {
        session.close('idle', true);
      }
    }
    this.#limiter.prune();
    if (this.#options.sessionCache !== false) {
      const oldest = now - this.#options.sessionCache.timeoutSeconds * 1000;
      for (const [id, entry] of this.#resumable) {
        if (entry.at >= oldest) break;
        this.#resumable.delete(id);
      }
    }
  }
}

/** Records of a handshake in progress: epoch 0, or an epoch-1 handshake record (Finished). */
function isHandshakeFlight(record: DtlsRecordInfo): boolean {
  return record.epoch === 0 || (record.epoch === 1 && record.contentType === DTLS_CONTENT_TYPE.HANDSHAKE);
}

/** The session table key, also one of the cookie's HMAC inputs: family|address|port. */
function peerKey(address: string, port: number): string {
  // Only IPv6 text forms contain ':' (cheaper than net.isIPv6 on every datagram).
  return `${address.includes(':') ? 'IPv6' : 'IPv4'}|${address}|${port}`;
}
