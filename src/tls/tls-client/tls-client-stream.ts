import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { Duplex } from 'node:stream';
import { lastOpenSslError, libcrypto } from '../../native/openssl/index.js';
import {
  BIO_CTRL,
  libssl,
  type Pointer,
  SSL_CTRL,
  SSL_ERROR,
  TLSEXT_NAMETYPE_HOST_NAME,
} from '../../native/openssl/libssl.js';
import { handshakeThread } from '../handshake-thread.js';
import { signsOffLoop } from '../key-store-private-key.js';
import { dersFromX509Stack } from '../openssl-objects.js';
import { TlsError } from '../tls-error.js';
import { type ChannelBinding, readChannelBinding } from './channel-binding.js';
import { TlsClientContext } from './tls-client-context.js';
import type { TlsClientOptions, TlsCredentialOptions } from './tls-client-options.js';
import { tlsFailure } from './tls-failure.js';
import { takeVerifyFailure, watchVerification } from './verify-failure.js';

type Callback = (error?: Error | null) => void;

const READ_CHUNK = 16 * 1024;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 30_000;

/**
 * A TLS client connection as a Node Duplex: plaintext in and out, TLS records on a net.Socket
 * underneath. OpenSSL (node's own, through koffi) runs on a pair of memory BIOs; this class moves
 * bytes between them and the socket, so the handshake can sign with a key held in a TPM or an
 * ATECC608A (see key-store-private-key.ts).
 *
 * Events: 'secureConnect' once the handshake is done (then peerCertificateChain, protocol and cipher
 * are set); 'error' with a TlsError (or the socket's own error); the usual stream events. Writes made
 * before 'secureConnect' wait for it. end() sends close_notify, then FIN. Backpressure holds both
 * ways: a slow socket delays write callbacks, a reader that stops pauses the socket.
 *
 * Usable wherever a socket is: mqtt.js (`new MqttClient(() => connectTls(...), options)`) and
 * node:http (`http.request({ createConnection: () => connectTls(...) })`).
 */
export class TlsClientStream extends Duplex {
  /** The server's certificate chain as it sent it (DER, leaf first); set at 'secureConnect'. */
  peerCertificateChain: Uint8Array[] = [];
  /** Negotiated version, e.g. "TLSv1.3"; set at 'secureConnect'. */
  protocol: string | undefined;
  /** Negotiated cipher (OpenSSL name), e.g. "TLS_AES_256_GCM_SHA384"; set at 'secureConnect'. */
  cipher: string | undefined;
  /** Like tls.TLSSocket: always true here, since verification failures never reach 'secureConnect'. */
  readonly encrypted = true;
  authorized = false;

  readonly #socket: Socket;
  readonly #peer: string;
  readonly #privateKey: Pointer;
  #ssl: Pointer;
  #readBio: Pointer;
  #writeBio: Pointer;
  #secure = false;
  /** Whether the server has sent any application data yet (see #onSocketError). */
  #receivedData = false;
  #receivedCloseNotify = false;
  /** The reader asked for no more data (push returned false): the socket is paused meanwhile. */
  #readerFull = false;
  /** An OpenSSL failure produced an alert for the server: let it drain before closing the socket. */
  #alertPending = false;
  #pendingWrite: { chunk: Buffer; callback: Callback } | undefined;
  #pendingFinal: Callback | undefined;
  #drainCallback: Callback | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #readBuffer = Buffer.allocUnsafe(READ_CHUNK);
  /** The key signs on the TLS handshake thread: handshake steps run there, off the event loop. */
  readonly #stepsOffLoop: boolean;
  /** A step runs on the handshake thread: the SSL object and its BIOs are its until it returns. */
  #stepInFlight = false;
  /** What the socket delivered during that step (data, its end, its close), replayed in order after it. */
  #held: (Buffer | 'end' | 'close')[] = [];

  constructor(options: TlsClientOptions) {
    super({ allowHalfOpen: false });
    const name = options.servername ?? options.host;
    const port = options.port ?? options.socket?.remotePort;
    if (!options.socket && (!options.host || !port)) {
      throw new TlsError('EGW_TLS_CONFIG', 'TLS client: host and port (or an existing socket) are required');
    }
    this.#peer = `${name ?? options.socket?.remoteAddress ?? 'server'}:${port ?? '?'}`;
    const verifyHostname = options.verifyHostname ?? true;
    if (verifyHostname && !name) {
      throw new TlsError('EGW_TLS_CONFIG', `TLS client for ${this.#peer}: no host name to verify`, {
        hint: 'give host or servername, or set verifyHostname: false when the trust bundle pins the server',
      });
    }

    // TlsClientContext checks the credential fields (ca present and non-empty, chain and key together).
    const context = options.context ?? new TlsClientContext(options as TlsCredentialOptions);
    const ssl = libssl();
    try {
      this.#privateKey = context.privateKey;
      this.#stepsOffLoop = Boolean(context.privateKey) && signsOffLoop(context.privateKey);
      this.#ssl = this.#newSsl(context.handle, name, verifyHostname);
    } finally {
      // A context made for this one connection lives on through the SSL's own reference.
      if (!options.context) context.free();
    }
    this.#readBio = ssl.BIO_new(ssl.BIO_s_mem());
    this.#writeBio = ssl.BIO_new(ssl.BIO_s_mem());
    if (!this.#readBio || !this.#writeBio) {
      if (this.#readBio) ssl.BIO_free(this.#readBio);
      if (this.#writeBio) ssl.BIO_free(this.#writeBio);
      ssl.SSL_free(this.#ssl);
      throw new TlsError('EGW_TLS_CONFIG', `TLS client: cannot allocate memory BIOs: ${lastOpenSslError()}`);
    }
    // An empty read BIO means "no data yet" (retry), never end of file.
    ssl.BIO_ctrl(this.#readBio, BIO_CTRL.SET_BUF_MEM_EOF_RETURN, -1, null);
    ssl.SSL_set_bio(this.#ssl, this.#readBio, this.#writeBio); // the SSL owns both from here on
    ssl.SSL_set_connect_state(this.#ssl);
    watchVerification(this.#ssl);

    this.#socket =
      options.socket ??
      tcpConnect({ host: options.host as string, port: port as number, allowHalfOpen: true });
    this.#socket.setNoDelay(true);
    this.#socket.on('data', (data: Buffer) => this.#onSocketData(data));
    this.#socket.on('end', () => this.#onSocketEnd());
    this.#socket.on('error', (error) => this.#onSocketError(error));
    this.#socket.on('close', () => this.#onSocketClose());
    this.#socket.on('drain', () => {
      const callback = this.#drainCallback;
      this.#drainCallback = undefined;
      callback?.();
    });
    this.#socket.on('timeout', () => this.emit('timeout'));

    const timeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.#timer = setTimeout(() => {
      this.destroy(
        new TlsError(
          'EGW_TLS_TIMEOUT',
          `TLS handshake with ${this.#peer} did not finish within ${timeoutMs} ms`,
          {
            hint: 'the server or the network is not answering: check that the port speaks TLS and is reachable',
          },
        ),
      );
    }, timeoutMs);
    this.#timer.unref();

    if (this.#socket.connecting) this.#socket.once('connect', () => this.#drive());
    else process.nextTick(() => this.#drive());
  }

  #newSsl(ctx: Pointer, name: string | undefined, verifyHostname: boolean): Pointer {
    const ssl = libssl();
    libcrypto().ERR_clear_error();
    const connection = ssl.SSL_new(ctx);
    if (!connection) throw new TlsError('EGW_TLS_CONFIG', `SSL_new failed: ${lastOpenSslError()}`);
    // SNI carries DNS names only (RFC 6066 §3).
    if (name && isIP(name) === 0) {
      if (
        ssl.SSL_ctrl(
          connection,
          SSL_CTRL.SET_TLSEXT_HOSTNAME,
          TLSEXT_NAMETYPE_HOST_NAME,
          Buffer.from(`${name}\0`),
        ) !== 1
      ) {
        ssl.SSL_free(connection);
        throw new TlsError('EGW_TLS_CONFIG', `TLS client: "${name}" is not a usable server name (SNI)`);
      }
    }
    // SSL_set1_host takes a DNS name or an IP literal (matched against DNS or IP subjectAltNames).
    if (verifyHostname && ssl.SSL_set1_host(connection, name as string) !== 1) {
      ssl.SSL_free(connection);
      throw new TlsError(
        'EGW_TLS_CONFIG',
        `TLS client: cannot verify against the name "${name}": ${lastOpenSslError()}`,
      );
    }
    return connection;
  }

  /**
   * The channel binding of this connection (tls-unique up to TLS 1.2, tls-exporter for TLS 1.3; see
   * channel-binding.ts), e.g. for EST proof of possession (RFC 7030 §3.5). Only after 'secureConnect'.
   */
  channelBinding(): ChannelBinding {
    if (!this.#secure || !this.#ssl || this.#stepInFlight) {
      throw new TlsError(
        'EGW_TLS_CLOSED',
        `TLS connection to ${this.#peer}: no established connection to bind to`,
      );
    }
    return readChannelBinding(this.#ssl, this.protocol, this.#peer);
  }

  /** The TCP connection underneath (for addresses and diagnostics; do not read or write it). */
  get socket(): Socket {
    return this.#socket;
  }

  get remoteAddress(): string | undefined {
    return this.#socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.#socket.remotePort;
  }

  get localAddress(): string | undefined {
    return this.#socket.localAddress;
  }

  get localPort(): number | undefined {
    return this.#socket.localPort;
  }

  setTimeout(ms: number, callback?: () => void): this {
    this.#socket.setTimeout(ms);
    if (callback) this.once('timeout', callback);
    return this;
  }

  setNoDelay(noDelay = true): this {
    this.#socket.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this.#socket.setKeepAlive(enable, initialDelay);
    return this;
  }

  ref(): this {
    this.#socket.ref();
    return this;
  }

  unref(): this {
    this.#socket.unref();
    return this;
  }

  // ---- socket → OpenSSL → reader ----

  #onSocketData(data: Buffer): void {
    if (!this.#ssl) return;
    if (this.#stepInFlight) {
      this.#held.push(data);
      return;
    }
    libssl().BIO_write(this.#readBio, data, data.length);
    this.#drive();
  }

  /** Advances whatever can advance: the handshake, then decryption, a write waiting on either. */
  #drive(): void {
    if (!this.#ssl || this.destroyed || this.#stepInFlight) return;
    if (!this.#secure && !this.#handshake()) return;
    this.#readRecords();
    if (!this.#ssl) return;
    if (this.#pendingWrite) {
      const { chunk, callback } = this.#pendingWrite;
      this.#pendingWrite = undefined;
      this.#encrypt(chunk, callback);
    }
    if (this.#pendingFinal && !this.#pendingWrite) {
      const callback = this.#pendingFinal;
      this.#pendingFinal = undefined;
      this.#shutdown(callback);
    }
  }

  /** One handshake step; true once it is complete. */
  #handshake(): boolean {
    if (this.#stepsOffLoop) {
      this.#handshakeOffLoop();
      return false;
    }
    const ssl = libssl();
    libcrypto().ERR_clear_error();
    const result = ssl.SSL_do_handshake(this.#ssl);
    return this.#handshakeStepDone(result, result === 1 ? 0 : ssl.SSL_get_error(this.#ssl, result));
  }

  /** The step on the TLS handshake thread (a hardware key signs in it); #drive goes on when it returns. */
  #handshakeOffLoop(): void {
    this.#stepInFlight = true;
    void handshakeThread()
      .step(this.#ssl)
      .then((step) => {
        this.#stepInFlight = false;
        if (!this.#ssl || this.destroyed) {
          this.#release(); // destroyed meanwhile: the SSL object waited for the step
          return;
        }
        const done = this.#handshakeStepDone(step.result, step.sslError, step.errors);
        if (done || this.#held.length > 0) this.#replayHeld();
      });
  }

  /** Replays what the socket delivered during a step, stopping again if another step starts. */
  #replayHeld(): void {
    let fed = false;
    while (!this.#stepInFlight && this.#ssl && !this.destroyed) {
      const next = this.#held.shift();
      if (next === undefined) break;
      if (Buffer.isBuffer(next)) {
        libssl().BIO_write(this.#readBio, next, next.length);
        fed = true;
        continue;
      }
      // Whatever arrived before the end or close goes to OpenSSL first (an alert, say).
      this.#held.unshift(next);
      if (fed) {
        fed = false;
        this.#drive();
        continue;
      }
      this.#held.shift();
      if (next === 'end') this.#onSocketEnd();
      else this.#onSocketClose();
    }
    if (fed || this.#held.length === 0) this.#drive();
  }

  /** Applies a step's outcome; true once the handshake is complete. */
  #handshakeStepDone(result: number, sslError: number, errorCodes?: readonly number[]): boolean {
    if (result === 1) {
      this.#flush();
      this.#onSecure();
      return Boolean(this.#ssl);
    }
    if (sslError === SSL_ERROR.WANT_READ || sslError === SSL_ERROR.WANT_WRITE) {
      this.#flush();
      return false;
    }
    this.#fatal('handshake', errorCodes);
    return false;
  }

  #onSecure(): void {
    const ssl = libssl();
    this.#secure = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.authorized = true;
    this.protocol = ssl.SSL_get_version(this.#ssl);
    this.cipher = ssl.SSL_CIPHER_get_name(ssl.SSL_get_current_cipher(this.#ssl));
    this.peerCertificateChain = dersFromX509Stack(ssl.SSL_get_peer_cert_chain(this.#ssl));
    this.emit('secureConnect');
  }

  #readRecords(): void {
    const ssl = libssl();
    while (this.#ssl && !this.#readerFull && !this.#receivedCloseNotify) {
      libcrypto().ERR_clear_error();
      const count = ssl.SSL_read(this.#ssl, this.#readBuffer, this.#readBuffer.length);
      if (count > 0) {
        this.#receivedData = true;
        if (!this.push(Buffer.from(this.#readBuffer.subarray(0, count)))) {
          this.#readerFull = true;
          this.#socket.pause();
        }
        continue;
      }
      const code = ssl.SSL_get_error(this.#ssl, count);
      if (code === SSL_ERROR.WANT_READ || code === SSL_ERROR.WANT_WRITE) break;
      if (code === SSL_ERROR.ZERO_RETURN) {
        // close_notify: the server will send no more. Our side closes when the writer ends.
        this.#receivedCloseNotify = true;
        this.push(null);
        break;
      }
      this.#fatal('read');
      return;
    }
    // Reading can produce records too (TLS 1.3 KeyUpdate answers, alerts).
    this.#flush();
  }

  override _read(): void {
    if (!this.#readerFull) return;
    this.#readerFull = false;
    this.#socket.resume();
    if (this.#secure) this.#readRecords();
  }

  #onSocketError(error: NodeJS.ErrnoException): void {
    const reset = error.code === 'ECONNRESET' || error.code === 'EPIPE';
    if (!reset || this.#receivedData) {
      this.destroy(error);
      return;
    }
    // A TLS 1.3 server judges our certificate only after our handshake is complete; when it then
    // closes on us while our first data is in flight, the kernel may drop its alert with the RST.
    const refusedCertificate = this.#secure && this.#privateKey && this.protocol === 'TLSv1.3';
    const when = this.#secure
      ? 'right after the TLS handshake, before sending any data'
      : 'during the TLS handshake';
    this.destroy(
      new TlsError('EGW_TLS_CLOSED', `${this.#peer} reset the connection ${when} (${error.code})`, {
        hint: refusedCertificate
          ? 'the server most likely refused the gateway client certificate (TLS 1.3 refuses it after the handshake; the alert was lost in the reset): check that the server trusts its CA, the server log says why'
          : 'the server dropped the connection: check its log (client certificate, SNI, TLS version)',
        cause: error,
      }),
    );
  }

  #onSocketEnd(): void {
    if (!this.#ssl) return;
    if (this.#stepInFlight) {
      this.#held.push('end');
      return;
    }
    if (!this.#secure) {
      this.destroy(
        new TlsError('EGW_TLS_CLOSED', `${this.#peer} closed the connection during the TLS handshake`, {
          hint: 'the server dropped us without an alert: check its log (client certificate, SNI, version)',
        }),
      );
      return;
    }
    // A FIN without close_notify: everything that arrived has been decrypted; end the readable side
    // (MQTT and HTTP frame their own messages, so truncation cannot pass unnoticed there).
    if (!this.#receivedCloseNotify) {
      this.#receivedCloseNotify = true;
      this.push(null);
    }
  }

  #onSocketClose(): void {
    if (this.destroyed) return;
    if (this.#stepInFlight) {
      this.#held.push('close');
      return;
    }
    if (!this.#secure) {
      this.destroy(
        new TlsError(
          'EGW_TLS_CLOSED',
          `connection to ${this.#peer} closed before the TLS handshake finished`,
        ),
      );
      return;
    }
    if (!this.#receivedCloseNotify) {
      this.#receivedCloseNotify = true;
      this.push(null);
    }
    // Nothing more can be written: let pending writers know instead of waiting for 'drain'. What the
    // reader has not consumed yet stays readable; autoDestroy closes us once it has ('end' → end()).
    this.#failWaiters(new TlsError('EGW_TLS_CLOSED', `connection to ${this.#peer} closed`));
  }

  // ---- writer → OpenSSL → socket ----

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: Callback): void {
    if (!this.#secure) {
      this.#pendingWrite = { chunk, callback };
      return;
    }
    this.#encrypt(chunk, callback);
  }

  /**
   * Writes queued while one was in OpenSSL go out together: one TLS record and one socket write
   * instead of one per chunk (mqtt.js writes a packet as several small chunks).
   */
  override _writev(chunks: { chunk: Buffer }[], callback: Callback): void {
    const joined =
      chunks.length === 1 ? (chunks[0]?.chunk as Buffer) : Buffer.concat(chunks.map((entry) => entry.chunk));
    this._write(joined, 'binary', callback);
  }

  #encrypt(chunk: Buffer, callback: Callback): void {
    if (!this.#ssl || this.#socket.destroyed) {
      callback(new TlsError('EGW_TLS_CLOSED', `TLS connection to ${this.#peer} is closed`));
      return;
    }
    if (chunk.length === 0) {
      callback();
      return;
    }
    const ssl = libssl();
    libcrypto().ERR_clear_error();
    const written = ssl.SSL_write(this.#ssl, chunk, chunk.length);
    if (written <= 0) {
      const code = ssl.SSL_get_error(this.#ssl, written);
      if (code === SSL_ERROR.WANT_READ || code === SSL_ERROR.WANT_WRITE) {
        // OpenSSL needs the server first (e.g. a post-handshake message): retried by #drive.
        this.#pendingWrite = { chunk, callback };
        this.#flush();
        return;
      }
      const error = this.#fatal('write');
      callback(error);
      return;
    }
    // Without SSL_MODE_ENABLE_PARTIAL_WRITE a successful SSL_write took the whole chunk.
    if (this.#flush()) callback();
    else this.#drainCallback = callback;
  }

  /** Sends what OpenSSL has written to its BIO; false when the socket asks us to wait for 'drain'. */
  #flush(): boolean {
    if (!this.#ssl) return true;
    const ssl = libssl();
    const pending = ssl.BIO_ctrl(this.#writeBio, BIO_CTRL.PENDING, 0, null);
    if (pending <= 0) return true;
    const out = Buffer.allocUnsafe(pending);
    const read = ssl.BIO_read(this.#writeBio, out, pending);
    if (read <= 0 || this.#socket.destroyed || !this.#socket.writable) return true;
    return this.#socket.write(read === pending ? out : out.subarray(0, read));
  }

  override _final(callback: Callback): void {
    if (!this.#secure) {
      this.#pendingFinal = callback;
      return;
    }
    if (this.#pendingWrite) {
      this.#pendingFinal = callback;
      return;
    }
    this.#shutdown(callback);
  }

  /** close_notify, then FIN. */
  #shutdown(callback: Callback): void {
    if (!this.#ssl) {
      callback();
      return;
    }
    libcrypto().ERR_clear_error();
    libssl().SSL_shutdown(this.#ssl); // 0: sent ours, the server's may follow; both are fine here
    libcrypto().ERR_clear_error();
    this.#flush();
    if (this.#socket.destroyed || !this.#socket.writable) {
      callback();
      return;
    }
    this.#socket.end(() => callback());
  }

  // ---- failure and teardown ----

  /** Reports an OpenSSL failure: sends the alert OpenSSL produced, then destroys with the cause. */
  #fatal(stage: string, errorCodes?: readonly number[]): TlsError {
    const error = tlsFailure(
      this.#ssl,
      this.#privateKey,
      this.#peer,
      this.#secure ? stage : 'handshake',
      errorCodes,
    );
    const pending = libssl().BIO_ctrl(this.#writeBio, BIO_CTRL.PENDING, 0, null);
    this.#alertPending = pending > 0;
    this.#flush();
    this.destroy(error);
    return error;
  }

  #failWaiters(error: Error): void {
    const drain = this.#drainCallback;
    const write = this.#pendingWrite;
    const final = this.#pendingFinal;
    this.#drainCallback = undefined;
    this.#pendingWrite = undefined;
    this.#pendingFinal = undefined;
    drain?.(error);
    write?.callback(error);
    final?.(error);
  }

  override _destroy(error: Error | null, callback: Callback): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const socket = this.#socket;
    // Pending callbacks after destroy() are ignored by the stream machinery; calling them unblocks writers.
    this.#failWaiters(error ?? new TlsError('EGW_TLS_CLOSED', `TLS connection to ${this.#peer} was closed`));
    if (socket) {
      if (this.#alertPending && socket.writable) socket.destroySoon();
      else socket.destroy();
    }
    this.#release();
    callback(error);
  }

  #release(): void {
    if (this.#stepInFlight) return; // the handshake thread still holds the SSL object: freed when it returns
    if (this.#ssl) {
      takeVerifyFailure(this.#ssl); // forget the SSL before its address can be reused
      libssl().SSL_free(this.#ssl); // frees both BIOs
    }
    this.#ssl = null;
    this.#readBio = null;
    this.#writeBio = null;
  }
}

/** Opens a TLS client connection; see TlsClientStream. Configuration errors throw EGW_TLS_CONFIG here. */
export function connectTls(options: TlsClientOptions): TlsClientStream {
  return new TlsClientStream(options);
}
