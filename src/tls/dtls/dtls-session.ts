import { libcrypto } from '../../native/openssl/libcrypto.js';
import { BIO_CTRL, libssl, type Pointer, SSL_CTRL, SSL_ERROR } from '../../native/openssl/libssl.js';
import {
  DTLS_CONST,
  type DtlsTimeval,
  dtlsHandleTimeout,
  libsslDtls,
} from '../../native/openssl/libssl-dtls.js';
import { TlsError } from '../tls-error.js';
import { DatagramSplitter } from './datagram-splitter.js';
import { HandshakeFailure } from './handshake-failure.js';

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
}

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

/**
 * One DTLS association over memory BIOs: feeds received datagrams to OpenSSL, drives the handshake,
 * reads plaintext, writes what OpenSSL produced as MTU-sized datagrams, and runs the retransmission
 * and handshake-deadline timers. Everything is synchronous; the owner does the UDP I/O.
 */
export class DtlsSession {
  readonly peer: DtlsPeerAddress;
  readonly key: string;
  readonly ssl: Pointer;
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

  constructor(
    bios: SslWithBios,
    peer: DtlsPeerAddress,
    key: string,
    host: DtlsSessionHost,
    options: { mtu: number; handshakeTimeoutMs: number },
  ) {
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

  /** One received datagram (already checked for record framing). */
  receive(datagram: Buffer): void {
    if (this.state === 'closed') return;
    const ssl = libssl();
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
    this.#renewBiosIfGrown();
  }

  /** Encrypts and sends one application datagram. */
  write(data: Uint8Array): void {
    if (this.state !== 'established') {
      throw new TlsError('EGW_TLS_CLOSED', `no established DTLS session with ${describe(this.peer)}`);
    }
    const ssl = libssl();
    libcrypto().ERR_clear_error();
    const buffer = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
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

  get closed(): boolean {
    return this.state === 'closed';
  }

  /** Whether this handshake resumed a cached session. */
  get resumed(): boolean {
    return libssl().SSL_session_reused(this.ssl) === 1;
  }

  get cipher(): string {
    const ssl = libssl();
    const cipher = ssl.SSL_get_current_cipher(this.ssl);
    return cipher ? ssl.SSL_CIPHER_get_name(cipher) : '';
  }

  /** Ends the session: close_notify when established and `notify`, then frees everything. */
  close(reason: DtlsSessionEndReason, notify = true): void {
    if (this.state === 'closed') return;
    const wasEstablished = this.state === 'established';
    if (wasEstablished && notify) {
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
    if (this.state === 'established') {
      this.#allocBuffers();
      libcrypto().ERR_clear_error();
      libssl().SSL_shutdown(this.ssl);
    }
    this.#fail(failure);
  }

  #pump(): void {
    const ssl = libssl();
    const crypto = libcrypto();
    if (this.state === 'handshaking') {
      crypto.ERR_clear_error();
      const result = ssl.SSL_do_handshake(this.ssl);
      if (result === 1) {
        this.state = 'established';
        this.#clearDeadline();
        this.#host.handshakeCompleted(this);
        if (this.state !== 'established') return; // the host rejected it
      } else {
        const error = ssl.SSL_get_error(this.ssl, result);
        if (error !== SSL_ERROR.WANT_READ && error !== SSL_ERROR.WANT_WRITE) {
          this.#fail(this.failure ?? HandshakeFailure.fromErrorQueue());
          return;
        }
      }
    }
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
   * Why: OpenSSL 3.0 keeps a ~18 KB read and a ~17 KB write record buffer per DTLS connection for its
   * whole life (SSL_MODE_RELEASE_BUFFERS does not apply to DTLS). Datagrams are processed one at a time
   * on this thread, so an established session only needs them while one of its datagrams is in hand:
   * they are allocated before and freed after, and idle sessions hold none (measured: malloc in use
   * per idle session 81 KB -> 49 KB). SSL_free_buffers refuses while a record is pending.
   */
  #allocBuffers(): void {
    this.#bufferUsers++;
    if (this.#buffersReleased) {
      libsslDtls().SSL_alloc_buffers(this.ssl);
      this.#buffersReleased = false;
    }
  }

  /** Pairs with #allocBuffers; only the outermost user frees (a 'message' listener may write meanwhile). */
  #releaseBuffers(): void {
    this.#bufferUsers--;
    if (this.#bufferUsers === 0 && this.state === 'established' && !this.#buffersReleased) {
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

  #flush(): void {
    const ssl = libssl();
    const pending = ssl.BIO_ctrl(this.#writeBio, BIO_CTRL.PENDING, 0, null);
    if (pending <= 0) return;
    if (pending > this.#bioHighWater) this.#bioHighWater = pending;
    const output = Buffer.alloc(pending);
    ssl.BIO_read(this.#writeBio, output, pending);
    for (const datagram of this.#splitter.split(output)) this.#host.sendDatagram(this, datagram);
  }

  #armRetransmit(): void {
    if (this.#retransmitTimer) clearTimeout(this.#retransmitTimer);
    this.#retransmitTimer = undefined;
    if (libsslDtls().DTLS_get_timeout(this.ssl, TIMEVAL) !== 1) return;
    const ms = Math.max(1, Math.ceil(TIMEVAL.tv_sec * 1000 + TIMEVAL.tv_usec / 1000));
    this.#retransmitTimer = setTimeout(() => this.#onRetransmitTimer(), ms);
    this.#retransmitTimer.unref();
  }

  #onRetransmitTimer(): void {
    this.#retransmitTimer = undefined;
    if (this.state === 'closed') return;
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
    HandshakeFailure.drainErrorQueue();
    this.#flush(); // the alert OpenSSL queued, if any, tells the peer why
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
    libssl().SSL_free(this.ssl);
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

function describe(peer: DtlsPeerAddress): string {
  return peer.family === 'IPv6' ? `[${peer.address}]:${peer.port}` : `${peer.address}:${peer.port}`;
}
