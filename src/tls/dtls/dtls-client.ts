import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIPv6 } from 'node:net';
import { libcrypto } from '../../native/openssl/libcrypto.js';
import {
  libssl,
  type Pointer,
  SSL_CTRL,
  SSL_OP,
  SSL_SHUTDOWN_STATE,
  SSL_VERIFY,
  TLS_VERSION,
} from '../../native/openssl/libssl.js';
import { libsslDtls } from '../../native/openssl/libssl-dtls.js';
import { x509FromDer } from '../openssl-objects.js';
import { applySecurityPolicy } from '../security-policy.js';
import { TlsError } from '../tls-error.js';
import { scanDtlsRecords } from './dtls-record-scanner.js';
import { capRetransmitTimer } from './dtls-retransmit-cap.js';
import { DEFAULT_DTLS_CIPHERS } from './dtls-server-options.js';
import { DtlsSession, type DtlsSessionEndReason, type DtlsSessionHost } from './dtls-session.js';
import type { HandshakeFailure } from './handshake-failure.js';

export interface DtlsClientOptions {
  host: string;
  port: number;
  /** Trust anchors for the server certificate, DER. */
  ca: readonly Uint8Array[];
  /** Client certificate chain (DER, leaf first) and its EVP_PKEY*; leave both out to send none. */
  certificateChain?: readonly Uint8Array[];
  privateKey?: Pointer;
  ciphers?: string;
  mtu?: number;
  handshakeTimeoutMs?: number;
  /** An SSL_SESSION* from `saveSession()` of an earlier client: offers an abbreviated handshake. */
  resume?: Pointer;
  /** Local UDP port (default: ephemeral), e.g. to play a sensor that reboots and reuses its port. */
  localPort?: number;
  /** Local address (default: any), e.g. 127.0.0.x to play many hosts against a per-address budget. */
  localAddress?: string;
  /**
   * An ICMP port unreachable (ECONNREFUSED) during the handshake fails it at once (EGW_TLS_CLOSED)
   * instead of waiting for DTLS retransmissions (1, 2, 4 … s): a caller retrying on its own short
   * timer reaches a restarted server sooner. Default false.
   */
  failWhenRefused?: boolean;
  /**
   * Longest wait between handshake retransmissions, ms (they double from 1 s; OpenSSL's own cap is
   * 60 s). A sensor whose handshake began while the gateway was restarting tries again within this
   * of its return. Default: OpenSSL's.
   */
  maxRetransmitMs?: number;
  /**
   * A context from DtlsClient.context() to connect with, instead of a new one per connection (its CA,
   * certificate, key and ciphers then come from there): a sensor reconnecting many times, or a bench
   * playing thousands, sets it up once as a device would.
   */
  context?: DtlsClientContext;
}

/** A reusable client SSL_CTX (DtlsClient.context()); free it once no connection needs it any more. */
export interface DtlsClientContext {
  readonly ctx: Pointer;
  free(): void;
}

export type DtlsClientEvents = {
  message: [plaintext: Buffer];
  /** ICMP port unreachable on the established session: nobody listens at the server's port now. */
  unreachable: [error: Error];
  close: [reason: DtlsSessionEndReason];
};

/**
 * A DTLS 1.2 client on the same engine as the server (memory BIOs, explicit MTU, timers): the sensor
 * simulator of hw-sim, benchmarks, and the tests that need a peer which keeps a session open, sends
 * crafted CoAP, resumes or renegotiates. It is not the gateway's upstream TLS client.
 */
export class DtlsClient extends EventEmitter<DtlsClientEvents> {
  readonly #socket: dgram.Socket;
  readonly #ctx: Pointer;
  readonly #session: DtlsSession;
  #closed = false;
  #socketErrors = 0;
  #lastSocketError: Error | undefined;

  private constructor(socket: dgram.Socket, ctx: Pointer, session: DtlsSession) {
    super();
    this.#socket = socket;
    this.#ctx = ctx;
    this.#session = session;
  }

  /** A client context for `options` (CA, certificate, key, ciphers), shared by the connections given it. */
  static context(options: Omit<DtlsClientOptions, 'host' | 'port'>): DtlsClientContext {
    const ctx = DtlsClient.#newContext(options);
    let freed = false;
    return {
      ctx,
      free: () => {
        if (freed) return;
        freed = true;
        libssl().SSL_CTX_free(ctx);
      },
    };
  }

  static async connect(options: DtlsClientOptions): Promise<DtlsClient> {
    // Each client holds (and frees) its own reference to a shared context.
    const ctx = options.context?.ctx ?? DtlsClient.#newContext(options);
    if (options.context) libssl().SSL_CTX_up_ref(ctx);
    const socket = dgram.createSocket(isIPv6(options.host) ? 'udp6' : 'udp4');
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(
          {
            port: options.localPort ?? 0,
            ...(options.localAddress ? { address: options.localAddress } : {}),
          },
          () =>
            socket.connect(options.port, options.host, () => {
              socket.off('error', reject);
              resolve();
            }),
        );
      });
    } catch (error) {
      socket.close();
      libssl().SSL_CTX_free(ctx);
      throw new TlsError('EGW_TLS_CONFIG', `cannot reach ${options.host}:${options.port}: ${String(error)}`);
    }
    let settle: { resolve: () => void; reject: (error: Error) => void } | undefined;
    const handshake = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject };
    });
    let client: DtlsClient | undefined;
    const host: DtlsSessionHost = {
      sendDatagram: (_session, datagram) => socket.send(datagram),
      handshakeCompleted: () => settle?.resolve(),
      handshakeFailed: (_session, failure: HandshakeFailure) =>
        settle?.reject(failure.toError(`${options.host}:${options.port}`)),
      plaintext: (_session, data) => client?.emit('message', data),
      ended: (_session, reason) => {
        if (client) client.#ended(reason);
      },
      retransmitted: () => {},
    };
    const bios = DtlsSession.newSsl(ctx, options.mtu ?? 1200);
    if (options.resume) libssl().SSL_set_session(bios.ssl, options.resume);
    if (options.maxRetransmitMs) capRetransmitTimer(bios.ssl, options.maxRetransmitMs);
    const local = socket.address();
    const session = new DtlsSession(
      bios,
      { address: local.address, port: local.port, family: isIPv6(local.address) ? 'IPv6' : 'IPv4' },
      `${options.host}:${options.port}`,
      host,
      { mtu: options.mtu ?? 1200, handshakeTimeoutMs: options.handshakeTimeoutMs ?? 30_000 },
    );
    const created = new DtlsClient(socket, ctx, session);
    client = created;
    // A connected UDP socket reports an ICMP port unreachable as ECONNREFUSED (the server is down or
    // restarting). Not fatal for DTLS: retransmission and the caller's timeouts decide; unhandled it
    // would crash the process.
    socket.on('error', (error) => {
      created.#socketError(error);
      if ((error as NodeJS.ErrnoException).code !== 'ECONNREFUSED') return;
      if (session.state === 'established') created.emit('unreachable', error);
      else if (options.failWhenRefused)
        settle?.reject(
          new TlsError(
            'EGW_TLS_CLOSED',
            `${options.host}:${options.port} refused (nobody listens there now)`,
          ),
        );
    });
    socket.on('message', (datagram) => {
      if (scanDtlsRecords(datagram).ok) session.receive(datagram);
    });
    session.connect();
    try {
      await handshake;
    } catch (error) {
      client.destroy();
      throw error;
    }
    return client;
  }

  /** Frees an SSL_SESSION* returned by saveSession(). */
  static freeSession(session: Pointer): void {
    libssl().SSL_SESSION_free(session);
  }

  get resumed(): boolean {
    return this.#session.resumed;
  }

  get cipher(): string {
    return this.#session.cipher;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Socket errors seen (ECONNREFUSED: nobody listens at the server's port right now), and the last one. */
  get socketErrors(): { count: number; last: Error | undefined } {
    return { count: this.#socketErrors, last: this.#lastSocketError };
  }

  /** The local UDP port (to reconnect from the same one, as a rebooting sensor would). */
  get localPort(): number {
    return this.#session.peer.port;
  }

  send(data: Uint8Array): void {
    this.#session.write(data);
  }

  /** Puts raw bytes on the client's UDP socket, bypassing DTLS (tests of the server's input handling). */
  sendRaw(datagram: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) =>
      this.#socket.send(datagram, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** Sends `data` and resolves with the next datagram received. */
  request(data: Uint8Array): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const onClose = (reason: DtlsSessionEndReason) => {
        this.off('message', onMessage);
        reject(new TlsError('EGW_TLS_CLOSED', `session closed (${reason}) before a reply`));
      };
      const onMessage = (reply: Buffer) => {
        this.off('close', onClose);
        resolve(reply);
      };
      this.once('message', onMessage);
      this.once('close', onClose);
      try {
        this.send(data);
      } catch (error) {
        this.off('message', onMessage);
        this.off('close', onClose);
        reject(error);
      }
    });
  }

  /** SSL_SESSION* for `resume` of a later client; free it with DtlsClient.freeSession. */
  saveSession(): Pointer {
    return libssl().SSL_get1_session(this.#session.ssl);
  }

  /** Asks for a renegotiation (servers should refuse it). */
  renegotiate(): void {
    this.#session.renegotiate();
  }

  /** close_notify, then the socket closes. */
  close(): void {
    this.#session.close('closedLocally', true);
    this.destroy();
  }

  /** Vanishes: frees everything without telling the server (a sensor losing power). */
  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    // The session stays resumable (a saved copy, ticket included, is offered on reconnection): freed
    // without "shutdown" marked, OpenSSL would take it for a bad one and never offer it again.
    const ssl = this.#session.ssl;
    if (ssl && this.#session.state === 'established')
      libsslDtls().SSL_set_shutdown(ssl, SSL_SHUTDOWN_STATE.SENT | SSL_SHUTDOWN_STATE.RECEIVED);
    this.#session.close('closedLocally', false);
    this.#socket.close();
    libssl().SSL_CTX_free(this.#ctx);
  }

  #socketError(error: Error): void {
    this.#socketErrors++;
    this.#lastSocketError = error;
  }

  #ended(reason: DtlsSessionEndReason): void {
    this.emit('close', reason);
    if (reason !== 'closedLocally') this.destroy();
  }

  static #newContext(options: Omit<DtlsClientOptions, 'host' | 'port'>): Pointer {
    const ssl = libssl();
    libsslDtls();
    libcrypto().ERR_clear_error();
    const ctx = ssl.SSL_CTX_new(ssl.DTLS_client_method());
    if (!ctx) throw new TlsError('EGW_TLS_CONFIG', 'cannot create a DTLS client SSL_CTX');
    try {
      // Tickets allowed: a server that issues them lets the session outlive its own restart.
      ssl.SSL_CTX_set_options(ctx, SSL_OP.NO_QUERY_MTU);
      ssl.SSL_CTX_ctrl(ctx, SSL_CTRL.SET_MIN_PROTO_VERSION, TLS_VERSION.DTLS1_2, null);
      if (ssl.SSL_CTX_set_cipher_list(ctx, options.ciphers ?? DEFAULT_DTLS_CIPHERS) !== 1) {
        throw new TlsError('EGW_TLS_CONFIG', `no usable cipher in "${options.ciphers}"`);
      }
      applySecurityPolicy(ctx); // level 2, CCM_8 suites of the list admitted (RFC 7925 sensors)
      ssl.SSL_CTX_set_verify(ctx, SSL_VERIFY.PEER, null);
      const store = ssl.SSL_CTX_get_cert_store(ctx);
      for (const der of options.ca) {
        const x509 = x509FromDer(der);
        ssl.X509_STORE_add_cert(store, x509);
        ssl.X509_free(x509);
      }
      const [leaf, ...chain] = options.certificateChain ?? [];
      if (leaf && options.privateKey) {
        const x509 = x509FromDer(leaf);
        ssl.SSL_CTX_use_certificate(ctx, x509);
        ssl.X509_free(x509);
        for (const der of chain) {
          const extra = x509FromDer(der);
          ssl.SSL_CTX_ctrl(ctx, SSL_CTRL.CHAIN_CERT, 1, extra);
          ssl.X509_free(extra);
        }
        if (ssl.SSL_CTX_use_PrivateKey(ctx, options.privateKey) !== 1) {
          throw new TlsError('EGW_TLS_CONFIG', 'the client key does not match its certificate');
        }
      }
      libcrypto().ERR_clear_error();
      return ctx;
    } catch (error) {
      ssl.SSL_CTX_free(ctx);
      throw error;
    }
  }
}
