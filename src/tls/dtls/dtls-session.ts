import { libcrypto } from '../../native/openssl/libcrypto.js';
import { BIO_CTRL, libssl, type Pointer, SSL_CTRL, SSL_ERROR } from '../../native/openssl/libssl.js';
import {
  DTLS_CONST,
  type DtlsTimeval,
  dtlsHandleTimeout,
  libsslDtls,
} from '../../native/openssl/libssl-dtls.js';
import { handshakeThread } from '../handshake-thread.js';
import { TlsError } from '../tls-error.js';
import { DatagramSplitter } from './datagram-splitter.js';
import { type DtlsRecordInfo, RECORD_HEADER_LENGTH, scanDtlsRecords } from './dtls-record-scanner.js';
import { HandshakeFailure } from './handshake-failure.js';
import {
  aeadSuiteNamed,
  deriveEpochKeys,
  RecordChannel,
  type RecordRejection,
} from './record-layer/index.js';

export interface DtlsPeerAddress {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

export type DtlsSessionState = 'handshaking' | 'established' | 'closed';

/** Why an established session ended. */
export type DtlsSessionEndReason =
  | 'closedByPeer'
  | 'idle'
  | 'replaced'
  | 'protocolError'
  | 'closedLocally'
  | 'serverClosed';

/** What a session reports to its owner (the server, or a client). */
export interface DtlsSessionHost {
  sendDatagram(session: DtlsSession, datagram: Buffer): void;
  handshakeCompleted(session: DtlsSession): void;
  handshakeFailed(session: DtlsSession, failure: HandshakeFailure): void;
  plaintext(session: DtlsSession, data: Buffer): void;
  ended(session: DtlsSession, reason: DtlsSessionEndReason): void;
  retransmitted(session: DtlsSession): void;
  /** The session freed its SSL object (its records are protected in JS from now on). */
  released?(session: DtlsSession): void;
  /** The JS record layer refused an encrypted ClientHello (OpenSSL reports its own through the context). */
  renegotiationRefused?(session: DtlsSession): void;
  /** The JS record layer dropped a record: another version, a replay, or one that did not authenticate. */
  recordRejected?(session: DtlsSession, reason: RecordRejection): void;
}

/** Who protects the records of an established session. */
export type DtlsRecordLayer = 'js' | 'openssl';

/** One SSL object with its two memory BIOs, as made for the listener, a session or a client. */
export interface SslWithBios {
  ssl: Pointer;
  readBio: Pointer;
  writeBio: Pointer;
}

const BIO_EOF_RETRY = -1;
// One read buffer for all sessions: reads are synchronous, the data is copied out before the next one.
const READ_BUFFER = Buffer.alloc(16384 + 2048);
const TIMEVAL: DtlsTimeval = { tv_sec: 0, tv_usec: 0 };
/**
 * A memory BIO keeps the capacity of the most it ever held (BUF_MEM never shrinks, BIO_reset keeps it):
 * after a handshake ~3 KB per session for the two of them. A session swaps in fresh, empty BIOs once
 * established, and again only after more than this many bytes went through at once: datagrams are
 * bounded by the MTU, so steady traffic never causes a swap per datagram (see #renewBiosIfGrown).
 */
const BIO_RENEW_ABOVE_BYTES = 4096;
/** Epoch of the keys the first (and, renegotiation being refused, only) handshake establishes. */
const FIRST_EPOCH = 1;
const SHUTDOWN_SENT_AND_RECEIVED = 3;
/**
 * Bounds on the first-epoch records kept until the handover (see #keepForHandover). A genuine peer
 * sends a few: its Finished, once per retransmitted flight, and after a resumption perhaps some
 * application data. More means forged records: the session then stays with OpenSSL.
 */
const HANDOVER_RECORDS_MAX = 16;
const HANDOVER_BYTES_MAX = 16384;
/** Datagrams held for a session while its handshake step runs off the loop: a flight or two. */
const HELD_DATAGRAMS_MAX = 8;

/**
 * One DTLS association over memory BIOs: feeds received datagrams to OpenSSL, drives the handshake,
 * reads plaintext, writes what OpenSSL produced as MTU-sized datagrams, and runs the retransmission
 * and handshake-deadline timers. Everything is synchronous; the owner does the UDP I/O.
 *
 * With `recordLayer: 'js'` (servers), an established session hands its records to a RecordChannel
 * and frees its SSL object: the keys are derived from the session's master secret and randoms, the
 * write sequence continues after the last record OpenSSL sent, and the replay window starts with the
 * peer records OpenSSL was given that authenticate (see #keepForHandover). Resumption does not need
 * the SSL object: the server keeps the session as DER (DerSessionCache) or in the client's ticket.
 * Suites the channel cannot run (non-AEAD) stay with OpenSSL.
 */
export class DtlsSession {
  readonly peer: DtlsPeerAddress;
  readonly key: string;
  /** The SSL object; null once the session runs on the JS record layer. */
  ssl: Pointer;
  /** Last authenticated plaintext received (idle eviction looks at it). */
  lastActivity = Date.now();
  state: DtlsSessionState = 'handshaking';
  /** Set by the verify callback when it rejected the chain: a better reason than the error queue. */
  failure: HandshakeFailure | undefined;
  /** The owner's slot: the server keeps the verified identity here, then the peer view. */
  context: unknown;

  #readBio: Pointer;
  #writeBio: Pointer;
  /** Largest datagram written into, or output read from, the current BIOs. */
  #bioHighWater = 0;
  /** The current BIOs carried the handshake: renewed as soon as the session is established and idle. */
  #biosFromHandshake = true;
  readonly #host: DtlsSessionHost;
  readonly #splitter: DatagramSplitter;
  #retransmitTimer: NodeJS.Timeout | undefined;
  #buffersReleased = false;
  #bufferUsers = 0;
  #deadlineTimer: NodeJS.Timeout | undefined;
  readonly #recordLayer: DtlsRecordLayer;
  #channel: RecordChannel | undefined;
  /** Set when the handshake completed and the session should move to the JS record layer. */
  #releaseDue = false;
  /** Highest sequence number of the records we sent in the first epoch (tracked for the handover). */
  #lastWriteSequence = -1;
  /**
   * Copies of the peer's first-epoch records given to OpenSSL before the handover: the channel marks
   * the genuine ones as received. Undefined when not collecting (OpenSSL record layer, handed over,
   * or too many to keep).
   */
  #handoverRecords: Buffer[] | undefined;
  #handoverBytes = 0;
  /** More first-epoch records came before the handover than are kept: stay with OpenSSL. */
  #handoverUnsafe = false;
  /** What went out when the handshake completed: our final flight, if we sent the last one. */
  #finalFlight: Buffer[] = [];
  #cipher: string | undefined;
  #resumed: boolean | undefined;
  /** A handshake step runs on a thread-pool thread (acceptOffLoop): the SSL object is its until it returns. */
  #offLoop = false;
  /** Datagrams that arrived while the step ran, given to the session when it returns (bounded). */
  #held: { datagram: Buffer; records: readonly DtlsRecordInfo[] | undefined }[] = [];

  constructor(
    bios: SslWithBios,
    peer: DtlsPeerAddress,
    key: string,
    host: DtlsSessionHost,
    options: { mtu: number; handshakeTimeoutMs: number; recordLayer?: DtlsRecordLayer },
  ) {
    this.#recordLayer = options.recordLayer ?? 'openssl';
    if (this.#recordLayer === 'js') this.#handoverRecords = [];
    this.ssl = bios.ssl;
    this.#readBio = bios.readBio;
    this.#writeBio = bios.writeBio;
    this.peer = peer;
    this.key = key;
    this.#host = host;
    this.#splitter = new DatagramSplitter(options.mtu);
    this.#deadlineTimer = setTimeout(() => {
      this.#deadlineTimer = undefined;
      if (this.state === 'handshaking') {
        this.#fail(
          new HandshakeFailure('timeout', `no complete handshake after ${options.handshakeTimeoutMs} ms`),
        );
      }
    }, options.handshakeTimeoutMs);
    this.#deadlineTimer.unref();
  }

  /** A new SSL object on `ctx` with memory BIOs, an explicit MTU and no MTU probing. */
  static newSsl(ctx: Pointer, mtu: number): SslWithBios {
    const ssl = libssl();
    libcrypto().ERR_clear_error();
    const object = ssl.SSL_new(ctx);
    if (!object) throw new TlsError('EGW_TLS_CONFIG', 'SSL_new failed (out of memory?)');
    const pair = newMemBios();
    if (!pair) {
      ssl.SSL_free(object);
      throw new TlsError('EGW_TLS_CONFIG', 'BIO_new failed (out of memory?)');
    }
    const { readBio, writeBio } = pair;
    ssl.SSL_set_bio(object, readBio, writeBio); // the SSL owns both BIOs from here
    ssl.SSL_ctrl(object, SSL_CTRL.SET_MTU, mtu, null);
    return { ssl: object, readBio, writeBio };
  }

  /** Starts a client handshake (the ClientHello goes out at once). */
  connect(): void {
    libssl().SSL_set_connect_state(this.ssl);
    this.#pump();
  }

  /**
   * Continues a server handshake whose ClientHello DTLSv1_listen already buffered. (No
   * SSL_set_accept_state here: it would reset the state machine and lose that ClientHello.)
   */
  accept(): void {
    this.#pump();
  }

  /**
   * accept(), with OpenSSL's step run on the TLS handshake thread, so that the event loop keeps
   * serving while the step waits for a hardware signature (its ServerKeyExchange).
   * From now until the step returns, datagrams for this session are held (up to HELD_DATAGRAMS_MAX,
   * then dropped: the peer retransmits) and a close or a timeout takes effect at once for the owner,
   * the SSL object being freed when the step is back. Resolves once the step's outcome is applied;
   * `keyStoreFailure` says whether the key store was why it failed.
   */
  acceptOffLoop(keyStoreFailure: () => HandshakeFailure | undefined): Promise<void> {
    this.#offLoop = true;
    return handshakeThread()
      .step(this.ssl)
      .then(
        (step) => {
          if (this.state === 'closed') {
            this.#stepReturned();
            return;
          }
          this.#offLoop = false;
          const failure = () => keyStoreFailure() ?? HandshakeFailure.fromErrorCodes(step.errors);
          if (this.#handshakeStep(step.result, { sslError: step.sslError, failure })) this.#afterStep();
          this.#receiveHeld();
        },
        (error: unknown) => {
          this.#stepReturned();
          this.#fail(new HandshakeFailure('protocol', `the handshake step could not run: ${String(error)}`));
        },
      );
  }

  /** The off-loop step is over: the SSL object is this thread's again (freed if the session closed). */
  #stepReturned(): void {
    this.#offLoop = false;
    if (this.state === 'closed') this.#free();
  }

  #receiveHeld(): void {
    const held = this.#held;
    this.#held = [];
    for (const { datagram, records } of held) this.receive(datagram, records);
  }

  /** One received datagram (already checked for record framing; `records` is its scan, if at hand). */
  receive(datagram: Buffer, records?: readonly DtlsRecordInfo[]): void {
    if (this.state === 'closed') return;
    if (this.#offLoop) {
      if (this.#held.length < HELD_DATAGRAMS_MAX) this.#held.push({ datagram, records });
      return;
    }
    if (this.#channel) {
      this.#channel.receive(datagram, records ?? scannedRecords(datagram));
      return;
    }
    const ssl = libssl();
    if (this.#handoverRecords) this.#keepForHandover(datagram, records ?? scannedRecords(datagram));
    if (datagram.length > this.#bioHighWater) this.#bioHighWater = datagram.length;
    this.#allocBuffers();
    try {
      ssl.BIO_write(this.#readBio, datagram, datagram.length);
      this.#pump();
    } finally {
      this.#releaseBuffers();
    }
    // Whatever OpenSSL left unread cannot belong to the next datagram: drop it.
    if (!this.closed && ssl.BIO_ctrl(this.#readBio, BIO_CTRL.PENDING, 0, null) > 0) {
      ssl.BIO_ctrl(this.#readBio, DTLS_CONST.BIO_CTRL_RESET, 0, null);
    }
    if (this.#releaseDue && this.state === 'established' && this.#bufferUsers === 0) {
      this.#releaseDue = false;
      const moved = this.#moveToRecordChannel();
      this.#handoverRecords = undefined;
      if (moved) return;
    }
    this.#renewBiosIfGrown();
  }

  /** Encrypts and sends one application datagram. */
  write(data: Uint8Array): void {
    if (this.state !== 'established') {
      throw new TlsError('EGW_TLS_CLOSED', `no established DTLS session with ${describe(this.peer)}`);
    }
    const buffer = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
    if (this.#channel) {
      if (buffer.length > RecordChannel.MAX_PLAINTEXT) {
        throw new TlsError(
          'EGW_TLS_PROTOCOL',
          `a ${buffer.length}-byte DTLS write to ${describe(this.peer)} exceeds one record (${RecordChannel.MAX_PLAINTEXT} bytes)`,
          { hint: 'split the message (CoAP: block-wise transfer)' },
        );
      }
      this.#channel.write(buffer);
      return;
    }
    // Only OpenSSL's record layer reads the error queue (a koffi call saved per JS-layer record).
    const ssl = libssl();
    libcrypto().ERR_clear_error();
    let written: number;
    this.#allocBuffers();
    try {
      written = ssl.SSL_write(this.ssl, buffer, buffer.length);
    } finally {
      this.#releaseBuffers();
    }
    if (written !== buffer.length) {
      const failure = HandshakeFailure.fromErrorQueue();
      throw new TlsError(
        'EGW_TLS_PROTOCOL',
        `DTLS write to ${describe(this.peer)} failed: ${failure.detail}`,
      );
    }
    this.#flush();
    this.#renewBiosIfGrown();
  }

  /** Starts a renegotiation (client side; for tests of the server's refusal). */
  renegotiate(): void {
    this.#allocBuffers();
    libcrypto().ERR_clear_error();
    libsslDtls().SSL_renegotiate(this.ssl);
    libssl().SSL_do_handshake(this.ssl);
    HandshakeFailure.drainErrorQueue();
    this.#flush();
    this.#armRetransmit();
    this.#releaseBuffers();
  }

  /** The session's records are protected by the JS RecordChannel (its SSL object is freed). */
  get onJsRecordLayer(): boolean {
    return this.#channel !== undefined;
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  /** Whether this handshake resumed a cached session. */
  get resumed(): boolean {
    return this.#resumed ?? libssl().SSL_session_reused(this.ssl) === 1;
  }

  get cipher(): string {
    if (this.#cipher !== undefined) return this.#cipher;
    const ssl = libssl();
    const cipher = ssl.SSL_get_current_cipher(this.ssl);
    return cipher ? ssl.SSL_CIPHER_get_name(cipher) : '';
  }

  /** Ends the session: close_notify when established and `notify`, then frees everything. */
  close(reason: DtlsSessionEndReason, notify = true): void {
    if (this.state === 'closed') return;
    const wasEstablished = this.state === 'established';
    if (wasEstablished && notify && this.#channel) {
      this.#channel.closeNotify();
    } else if (wasEstablished && notify) {
      this.#allocBuffers();
      libcrypto().ERR_clear_error();
      libssl().SSL_shutdown(this.ssl);
      HandshakeFailure.drainErrorQueue();
      this.#flush();
    }
    this.#free();
    if (wasEstablished) this.#host.ended(this, reason);
  }

  /** Ends a handshake that has not completed (or a resumed session the trust hook rejected). */
  abort(failure: HandshakeFailure): void {
    if (this.state === 'established' && !this.#channel) {
      this.#allocBuffers();
      libcrypto().ERR_clear_error();
      libssl().SSL_shutdown(this.ssl);
    }
    this.#fail(failure);
  }

  #pump(): void {
    if (this.state === 'handshaking') {
      libcrypto().ERR_clear_error();
      if (!this.#handshakeStep(libssl().SSL_do_handshake(this.ssl))) return;
    }
    this.#afterStep();
  }

  /**
   * Applies SSL_do_handshake's `result`; false when the session failed or its host rejected it.
   * `offLoop`: the step ran on the handshake thread, which read SSL_get_error and the error queue.
   */
  #handshakeStep(result: number, offLoop?: { sslError: number; failure: () => HandshakeFailure }): boolean {
    const ssl = libssl();
    if (result === 1) {
      this.state = 'established';
      this.#clearDeadline();
      this.#resumed = ssl.SSL_session_reused(this.ssl) === 1;
      this.#cipher = this.cipher;
      // Our final flight goes out before the host looks at the session (it may already write).
      this.#finalFlight = this.#flush();
      this.#host.handshakeCompleted(this);
      if (this.state !== 'established') return false; // the host rejected it
      this.#releaseDue = this.#recordLayer === 'js';
      return true;
    }
    const error = offLoop ? offLoop.sslError : ssl.SSL_get_error(this.ssl, result);
    if (error === SSL_ERROR.WANT_READ || error === SSL_ERROR.WANT_WRITE) return true;
    this.#fail(this.failure ?? offLoop?.failure() ?? HandshakeFailure.fromErrorQueue());
    return false;
  }

  #afterStep(): void {
    if (this.state === 'established') this.#readAll();
    if (this.state === 'closed') return;
    this.#flush();
    // Retransmission timers only run during a handshake; skipping the call saves a native round trip
    // per application datagram.
    if (this.state === 'handshaking' || this.#retransmitTimer) this.#armRetransmit();
  }

  #readAll(): void {
    const ssl = libssl();
    for (;;) {
      libcrypto().ERR_clear_error();
      const read = ssl.SSL_read(this.ssl, READ_BUFFER, READ_BUFFER.length);
      if (read > 0) {
        // Only authenticated plaintext counts as activity: spoofed garbage must not keep a session alive.
        this.lastActivity = Date.now();
        this.#host.plaintext(this, Buffer.from(READ_BUFFER.subarray(0, read)));
        if (this.state !== 'established') return;
        continue;
      }
      const error = ssl.SSL_get_error(this.ssl, read);
      if (error === SSL_ERROR.WANT_READ || error === SSL_ERROR.WANT_WRITE) return;
      HandshakeFailure.drainErrorQueue();
      this.close(error === SSL_ERROR.ZERO_RETURN ? 'closedByPeer' : 'protocolError', true);
      return;
    }
  }

  /**
   * Why: an established session only needs OpenSSL's record buffers while one of its datagrams is in
   * hand (datagrams are processed one at a time on this thread): they are allocated before and freed
   * after, so idle sessions on the OpenSSL record layer hold as little as OpenSSL lets go of.
   * SSL_free_buffers refuses while a record is pending.
   *
   * Measured, malloc in use per idle session ('openssl' record layer, 300 sessions, our server
   * process), neither / SSL_MODE_RELEASE_BUFFERS only / SSL_free_buffers only / both:
   *   OpenSSL 3.5.9 (node 24/26): 131 / 98 / 99 / 82 KB. Since the 3.2 record layer RELEASE_BUFFERS
   *     applies to DTLS too; SSL_free_buffers still frees ~16 KB more on top of it, so both are kept.
   *   OpenSSL 3.0.19 (node 20):   81 / 81 / 48 / 48 KB. RELEASE_BUFFERS did nothing for DTLS there.
   * The default 'js' record layer frees the SSL object altogether: 13 KB per idle session on both.
   */
  #allocBuffers(): void {
    this.#bufferUsers++;
    if (this.#buffersReleased && this.ssl) {
      libsslDtls().SSL_alloc_buffers(this.ssl);
      this.#buffersReleased = false;
    }
  }

  /** Pairs with #allocBuffers; only the outermost user frees (a 'message' listener may write meanwhile). */
  #releaseBuffers(): void {
    this.#bufferUsers--;
    if (this.#bufferUsers === 0 && this.state === 'established' && !this.#buffersReleased && this.ssl) {
      this.#buffersReleased = libsslDtls().SSL_free_buffers(this.ssl) === 1;
    }
  }

  /**
   * Why: the handshake flights grow both memory BIOs to ~1.5 KB each, and they would keep that for the
   * session's whole life (measured: malloc in use per idle session 49.6 KB -> 46.6 KB). Only between
   * datagrams (no datagram in hand, no nested user) and when both BIOs are empty, so nothing is lost;
   * the SSL frees the old BIOs. DTLS keeps no state in a memory BIO (the MTU is set on the SSL, and
   * retransmissions are rebuilt from OpenSSL's own copies), so retransmission and resumption are
   * unaffected.
   */
  #renewBiosIfGrown(): void {
    if (this.state !== 'established') return;
    if (!this.#biosFromHandshake && this.#bioHighWater <= BIO_RENEW_ABOVE_BYTES) return;
    if (this.#bufferUsers !== 0) return;
    const ssl = libssl();
    if (
      ssl.BIO_ctrl(this.#readBio, BIO_CTRL.PENDING, 0, null) > 0 ||
      ssl.BIO_ctrl(this.#writeBio, BIO_CTRL.PENDING, 0, null) > 0
    ) {
      return;
    }
    const pair = newMemBios();
    if (!pair) return; // out of memory: the old BIOs still work, they are only larger
    const dtls = libsslDtls();
    dtls.SSL_set0_rbio(this.ssl, pair.readBio);
    dtls.SSL_set0_wbio(this.ssl, pair.writeBio);
    this.#readBio = pair.readBio;
    this.#writeBio = pair.writeBio;
    this.#bioHighWater = 0;
    this.#biosFromHandshake = false;
  }

  /** Sends what OpenSSL wrote; returns the datagrams. */
  #flush(): Buffer[] {
    const ssl = libssl();
    const pending = ssl.BIO_ctrl(this.#writeBio, BIO_CTRL.PENDING, 0, null);
    if (pending <= 0) return [];
    if (pending > this.#bioHighWater) this.#bioHighWater = pending;
    const output = Buffer.alloc(pending);
    ssl.BIO_read(this.#writeBio, output, pending);
    if (this.#recordLayer === 'js') this.#trackWriteSequence(output);
    const datagrams = this.#splitter.split(output);
    for (const datagram of datagrams) this.#host.sendDatagram(this, datagram);
    return datagrams;
  }

  /** OpenSSL does not say where its write sequence is: read it off the records it produced. */
  #trackWriteSequence(output: Buffer): void {
    for (const record of scannedRecords(output)) {
      if (record.epoch === FIRST_EPOCH && record.sequence > this.#lastWriteSequence) {
        this.#lastWriteSequence = record.sequence;
      }
    }
  }

  /**
   * Why: OpenSSL does not tell which peer records it accepted (its replay bitmap is internal), and the
   * channel must not accept them again. Every first-epoch record OpenSSL is given before the handover
   * is kept, the final flight's reordered or early ones included (OpenSSL buffers records of the next
   * epoch), not only those of the datagram that completed the handshake; the channel marks those that
   * authenticate. Past the bounds, the session stays with OpenSSL, whose own window is right.
   */
  #keepForHandover(datagram: Buffer, records: readonly DtlsRecordInfo[]): void {
    const kept = this.#handoverRecords as Buffer[];
    for (const record of records) {
      if (record.epoch !== FIRST_EPOCH) continue;
      const size = RECORD_HEADER_LENGTH + record.length;
      this.#handoverBytes += size;
      if (kept.length === HANDOVER_RECORDS_MAX || this.#handoverBytes > HANDOVER_BYTES_MAX) {
        this.#handoverRecords = undefined;
        this.#handoverUnsafe = true;
        return;
      }
      kept.push(Buffer.from(datagram.subarray(record.offset, record.offset + size)));
    }
  }

  /**
   * Hands the established session to a RecordChannel and frees the SSL object (see the class comment).
   * False (the session stays with OpenSSL) for a suite the channel does not run, or when the records
   * OpenSSL was given could not all be kept (#keepForHandover).
   */
  #moveToRecordChannel(): boolean {
    const suite = aeadSuiteNamed(this.cipher);
    const dtls = libsslDtls();
    const session = suite ? dtls.SSL_get_session(this.ssl) : null;
    if (!suite || !session || this.#lastWriteSequence < 0 || this.#handoverUnsafe) return false;
    const master = Buffer.alloc(48);
    const clientRandom = Buffer.alloc(32);
    const serverRandom = Buffer.alloc(32);
    const masterLength = dtls.SSL_SESSION_get_master_key(session, master, master.length);
    dtls.SSL_get_client_random(this.ssl, clientRandom, clientRandom.length);
    dtls.SSL_get_server_random(this.ssl, serverRandom, serverRandom.length);
    if (masterLength !== master.length) return false;
    const keys = deriveEpochKeys(suite, master, clientRandom, serverRandom);
    master.fill(0);
    this.#channel = new RecordChannel(
      suite,
      keys,
      {
        epoch: FIRST_EPOCH,
        nextWriteSequence: this.#lastWriteSequence + 1,
        received: this.#handoverRecords ?? [],
        lastFlight: this.#finalFlight,
      },
      {
        send: (datagram) => this.#host.sendDatagram(this, datagram),
        plaintext: (data) => {
          this.lastActivity = Date.now();
          this.#host.plaintext(this, data);
        },
        peerClosed: (fatal) => this.close(fatal ? 'protocolError' : 'closedByPeer', !fatal),
        renegotiationRefused: () => this.#host.renegotiationRefused?.(this),
        retransmitted: () => this.#host.retransmitted(this),
        rejected: (reason) => this.#host.recordRejected?.(this, reason),
      },
    );
    this.#finalFlight = [];
    // Without "shutdown sent", SSL_free would drop the session from the cache as a bad one.
    dtls.SSL_set_shutdown(this.ssl, SHUTDOWN_SENT_AND_RECEIVED);
    libssl().SSL_free(this.ssl);
    this.ssl = null;
    this.#host.released?.(this);
    return true;
  }

  #armRetransmit(): void {
    if (this.#retransmitTimer) clearTimeout(this.#retransmitTimer);
    this.#retransmitTimer = undefined;
    if (!this.ssl) return;
    if (libsslDtls().DTLS_get_timeout(this.ssl, TIMEVAL) !== 1) return;
    const ms = Math.max(1, Math.ceil(TIMEVAL.tv_sec * 1000 + TIMEVAL.tv_usec / 1000));
    this.#retransmitTimer = setTimeout(() => this.#onRetransmitTimer(), ms);
    this.#retransmitTimer.unref();
  }

  #onRetransmitTimer(): void {
    this.#retransmitTimer = undefined;
    if (this.state === 'closed' || this.#offLoop) return; // the step's return re-arms it
    this.#allocBuffers();
    libcrypto().ERR_clear_error();
    const result = dtlsHandleTimeout(this.ssl);
    if (result < 0) {
      // OpenSSL gave up after its maximum number of retransmissions.
      this.#releaseBuffers();
      this.#fail(this.failure ?? new HandshakeFailure('timeout', 'peer stopped answering retransmissions'));
      return;
    }
    if (result > 0) this.#host.retransmitted(this);
    this.#flush();
    this.#armRetransmit();
    this.#releaseBuffers();
  }

  #fail(failure: HandshakeFailure): void {
    if (this.state === 'closed') return;
    if (!this.#offLoop) {
      HandshakeFailure.drainErrorQueue();
      this.#flush(); // the alert OpenSSL queued, if any, tells the peer why
    }
    this.#free();
    this.#host.handshakeFailed(this, failure);
  }

  #clearDeadline(): void {
    if (this.#deadlineTimer) clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
  }

  #free(): void {
    this.state = 'closed';
    this.#clearDeadline();
    if (this.#retransmitTimer) clearTimeout(this.#retransmitTimer);
    this.#retransmitTimer = undefined;
    this.#channel?.stop();
    this.#handoverRecords = undefined;
    this.#held = [];
    if (this.#offLoop) return; // the thread-pool step still holds the SSL object: freed when it returns
    if (this.ssl) libssl().SSL_free(this.ssl);
    this.ssl = null;
  }
}

/** Two memory BIOs that answer "retry" when empty, or null (nothing leaked) when out of memory. */
function newMemBios(): { readBio: Pointer; writeBio: Pointer } | null {
  const ssl = libssl();
  const readBio = ssl.BIO_new(ssl.BIO_s_mem());
  const writeBio = ssl.BIO_new(ssl.BIO_s_mem());
  if (!readBio || !writeBio) {
    if (readBio) ssl.BIO_free(readBio);
    if (writeBio) ssl.BIO_free(writeBio);
    return null;
  }
  // An empty memory BIO must say "retry", not EOF: more datagrams will come.
  ssl.BIO_ctrl(readBio, BIO_CTRL.SET_BUF_MEM_EOF_RETURN, BIO_EOF_RETRY, null);
  ssl.BIO_ctrl(writeBio, BIO_CTRL.SET_BUF_MEM_EOF_RETURN, BIO_EOF_RETRY, null);
  return { readBio, writeBio };
}

/** The records of a datagram we framed or produced ourselves (never malformed; [] if it were). */
function scannedRecords(datagram: Buffer): readonly DtlsRecordInfo[] {
  const scan = scanDtlsRecords(datagram);
  return scan.ok ? scan.records : [];
}

function describe(peer: DtlsPeerAddress): string {
  return peer.family === 'IPv6' ? `[${peer.address}]:${peer.port}` : `${peer.address}:${peer.port}`;
}
