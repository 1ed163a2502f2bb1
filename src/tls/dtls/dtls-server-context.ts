import koffi from 'koffi';
import { libcrypto } from '../../native/openssl/libcrypto.js';
import {
  libssl,
  type Pointer,
  SSL_CTRL,
  SSL_MODE,
  SSL_OP,
  SSL_SESS_CACHE,
  SSL_VERIFY,
  TLS_VERSION,
  X509_V_ERR,
} from '../../native/openssl/libssl.js';
import { DTLS_CONST, libsslDtls, registerCallback } from '../../native/openssl/libssl-dtls.js';
import { libsslTicket, registerTicketKeyCallback } from '../../native/openssl/libssl-ticket.js';
import { derFromX509, dersFromX509Stack, x509FromDer } from '../openssl-objects.js';
import { applySecurityPolicy, openSslSecurityCallback, type SecurityPolicy } from '../security-policy.js';
import { TlsError } from '../tls-error.js';
import { DerSessionCache } from './der-session-cache.js';
import type { ResolvedDtlsServerOptions } from './dtls-server-options.js';
import { HandshakeFailure } from './handshake-failure.js';
import { PeerIdentity } from './peer-identity.js';
import { boundSessionLifetime, ticketKeyCallback } from './session-ticket-callback.js';

/** What the shared SSL_CTX's callbacks need to know from, and tell to, the server. */
export interface DtlsContextEvents {
  /**
   * The cookie the server already verified in JS for the ClientHello the listener SSL is reading now
   * (DTLSv1_listen asks again through the callback); undefined for any other SSL.
   */
  verifiedCookie(ssl: bigint): Buffer | undefined;
  /** OpenSSL and the trust hook accepted the chain (DER, leaf first, to the anchor). */
  chainVerified(ssl: bigint, chain: Uint8Array[], subject: string, attributes: unknown): void;
  chainRejected(ssl: bigint, failure: HandshakeFailure): void;
  /** We sent a no_renegotiation alert. */
  renegotiationRefused(ssl: bigint): void;
}

/**
 * The one SSL_CTX every session of a DtlsServer shares: certificates, trust anchors, ciphers, limits,
 * session cache, and the C callbacks (cookie generate/verify, certificate verify, info) bound to JS.
 *
 * Why shared: per-session contexts would duplicate the certificate store and key for every sensor and
 * defeat the session cache. Callbacks find their session through the SSL pointer they are given.
 */
export class DtlsServerContext {
  readonly ctx: Pointer;
  /** Security level and the CCM_8 suites admitted below it (see security-policy.ts). */
  security: SecurityPolicy = { level: 0, admittedCcm8: [] };
  readonly #options: ResolvedDtlsServerOptions;
  readonly #events: DtlsContextEvents;
  readonly #callbacks: bigint[] = [];
  #sessionCache: DerSessionCache | undefined;
  /** The info callback, set on each SSL once established (see watchRenegotiation). */
  #infoCallback: bigint | undefined;
  /** IANA codes of the CCM_8 suites the security callback admits (see prepareSession). */
  #admittedCcm8Ids = new Set<number>();
  #freed = false;

  constructor(options: ResolvedDtlsServerOptions, events: DtlsContextEvents) {
    this.#options = options;
    this.#events = events;
    const ssl = libssl();
    const dtls = libsslDtls();
    libcrypto().ERR_clear_error();
    this.ctx = ssl.SSL_CTX_new(ssl.DTLS_server_method());
    if (!this.ctx) throw configError('cannot create the DTLS SSL_CTX');
    try {
      this.#configure();
      this.#register('egw_dtls_cookie_generate_cb', (s: bigint, cookie: bigint, length: bigint) =>
        this.#generateCookie(s, cookie, length),
      );
      dtls.SSL_CTX_set_cookie_generate_cb(this.ctx, this.#callbacks.at(-1) as bigint);
      this.#register('egw_dtls_cookie_verify_cb', (s: bigint, cookie: bigint, length: number) =>
        this.#verifyCookie(s, cookie, length),
      );
      dtls.SSL_CTX_set_cookie_verify_cb(this.ctx, this.#callbacks.at(-1) as bigint);
      this.#register('egw_dtls_verify_cb', (ok: number, store: bigint) => this.#verifyCertificate(ok, store));
      dtls.SSL_CTX_set_verify(
        this.ctx,
        SSL_VERIFY.PEER | SSL_VERIFY.FAIL_IF_NO_PEER_CERT,
        this.#callbacks.at(-1) as bigint,
      );
      if (options.chainVerification === 'application') {
        this.#register('egw_dtls_cert_verify_cb', (store: bigint) => this.#verifyApplication(store));
        dtls.SSL_CTX_set_cert_verify_callback(this.ctx, this.#callbacks.at(-1) as bigint, null);
      }
      // Not on the context: OpenSSL calls it at every state change (~20 times per handshake, each
      // through JS), and it only matters once established (see watchRenegotiation).
      this.#register('egw_dtls_info_cb', (s: bigint, where: number, ret: number) =>
        this.#info(s, where, ret),
      );
      this.#infoCallback = this.#callbacks.at(-1) as bigint;
      if (options.sessionTickets) {
        this.#callbacks.push(registerTicketKeyCallback(ticketKeyCallback(options.sessionTickets)));
        libsslTicket().SSL_CTX_set_tlsext_ticket_key_evp_cb(this.ctx, this.#callbacks.at(-1) as bigint);
      }
    } catch (error) {
      this.free();
      throw error;
    }
  }

  /**
   * Before a session's handshake runs: applies the verification time (clock floor), and when the
   * ClientHello (`offeredSuites`, its cipher_suites) offers none of the CCM_8 suites our security
   * callback admits, gives the SSL OpenSSL's own callback: no CCM_8 suite can be chosen, so the
   * answers are the same, without ~90 calls into JS per handshake.
   */
  prepareSession(sslPointer: Pointer, offeredSuites?: Buffer): void {
    const dtls = libsslDtls();
    const openssl = openSslSecurityCallback();
    if (offeredSuites && openssl !== undefined && !this.#offersAdmittedCcm8(offeredSuites)) {
      dtls.SSL_set_security_callback(sslPointer, openssl);
    }
    const time = this.#options.verificationTime?.();
    if (!time) return;
    dtls.X509_VERIFY_PARAM_set_time(
      dtls.SSL_get0_param(sslPointer),
      BigInt(Math.floor(time.getTime() / 1000)),
    );
  }

  /**
   * An established session: no_renegotiation alerts are counted from now on (a renegotiation can
   * only be refused once established; the JS record layer counts its own).
   */
  watchRenegotiation(sslPointer: Pointer): void {
    if (sslPointer && this.#infoCallback !== undefined) {
      libsslDtls().SSL_set_info_callback(sslPointer, this.#infoCallback);
    }
  }

  #offersAdmittedCcm8(offeredSuites: Buffer): boolean {
    if (this.#admittedCcm8Ids.size === 0) return false;
    for (let offset = 0; offset + 1 < offeredSuites.length; offset += 2) {
      if (this.#admittedCcm8Ids.has(offeredSuites.readUInt16BE(offset))) return true;
    }
    return false;
  }

  /** Drops a session from the resumption cache (e.g. the trust hook rejected it on resumption). */
  forgetSession(sslPointer: Pointer): void {
    const dtls = libsslDtls();
    const session = dtls.SSL_get_session(sslPointer);
    if (!session) return;
    dtls.SSL_CTX_remove_session(this.ctx, session);
    const length: [number] = [0];
    const id = dtls.SSL_SESSION_get_id(session, length);
    if (id !== null && length[0] > 0)
      this.#sessionCache?.forget(Buffer.from(koffi.view(id, length[0])).toString('hex'));
  }

  /** What the session-id cache holds now (zeros when it is off). */
  sessionCacheStats(): { sessionsCached: number; sessionCacheBytes: number } {
    return {
      sessionsCached: this.#sessionCache?.size ?? 0,
      sessionCacheBytes: this.#sessionCache?.bytes ?? 0,
    };
  }

  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    if (this.ctx) libssl().SSL_CTX_free(this.ctx);
    for (const callback of this.#callbacks) koffi.unregister(callback);
    this.#callbacks.length = 0;
  }

  #configure(): void {
    const ssl = libssl();
    const dtls = libsslDtls();
    const o = this.#options;
    ssl.SSL_CTX_set_options(
      this.ctx,
      SSL_OP.NO_QUERY_MTU |
        SSL_OP.NO_RENEGOTIATION |
        SSL_OP.CIPHER_SERVER_PREFERENCE |
        // Tickets only under our own keys (sessionTickets): OpenSSL's default ones die with the process.
        (o.sessionTickets ? 0n : SSL_OP.NO_TICKET),
    );
    ssl.SSL_CTX_ctrl(this.ctx, SSL_CTRL.SET_MIN_PROTO_VERSION, TLS_VERSION.DTLS1_2, null);
    // RELEASE_BUFFERS frees record buffers when drained (for DTLS too since OpenSSL 3.2; 3.0 ignored it
    // there); DtlsSession also calls SSL_free_buffers between datagrams, which on 3.5 still frees ~16 KB
    // more per idle session (measurements in DtlsSession).
    ssl.SSL_CTX_ctrl(this.ctx, SSL_CTRL.MODE, SSL_MODE.RELEASE_BUFFERS, null);
    if (ssl.SSL_CTX_set_cipher_list(this.ctx, o.ciphers) !== 1) {
      throw configError(`no usable cipher in "${o.ciphers}"`);
    }
    // Level 2 (at least) for everything; the CCM_8 suites of the list (RFC 7925) judged as CCM.
    this.security = applySecurityPolicy(this.ctx);
    this.#admittedCcm8Ids = this.#suiteIds(this.security.admittedCcm8);
    ssl.SSL_CTX_ctrl(this.ctx, DTLS_CONST.SSL_CTRL_SET_MAX_CERT_LIST, o.maxHandshakeMessageBytes, null);
    ssl.SSL_CTX_set_verify_depth(this.ctx, o.maxChainDepth);
    // The server verifies clients: chain purpose sslclient (EKU clientAuth or no EKU at all).
    if (dtls.SSL_CTX_set_purpose(this.ctx, DTLS_CONST.X509_PURPOSE_SSL_CLIENT) !== 1) {
      throw configError('cannot set the certificate purpose to SSL client');
    }
    this.#useCertificates();
    const context = Buffer.from(o.sessionIdContext);
    ssl.SSL_CTX_set_session_id_context(this.ctx, context, context.length);
    if (o.sessionCache === false) {
      ssl.SSL_CTX_ctrl(this.ctx, SSL_CTRL.SET_SESS_CACHE_MODE, SSL_SESS_CACHE.OFF, null);
    } else {
      ssl.SSL_CTX_set_timeout(this.ctx, o.sessionCache.timeoutSeconds);
      // Sessions as DER in JS rather than in OpenSSL's cache of parsed ones (memory: see DerSessionCache).
      this.#sessionCache = new DerSessionCache(o.sessionCache.size, o.sessionCache.timeoutSeconds);
      this.#callbacks.push(...this.#sessionCache.attach(this.ctx));
    }
  }

  /** The IANA codes of the context's suites named (OpenSSL names) in `names`. */
  #suiteIds(names: readonly string[]): Set<number> {
    const ssl = libssl();
    const ids = new Set<number>();
    const ciphers = ssl.SSL_CTX_get_ciphers(this.ctx);
    const count = ciphers ? ssl.OPENSSL_sk_num(ciphers) : 0;
    for (let index = 0; index < count; index++) {
      const cipher = ssl.OPENSSL_sk_value(ciphers, index);
      if (names.includes(ssl.SSL_CIPHER_get_name(cipher))) {
        ids.add(libsslDtls().SSL_CIPHER_get_protocol_id(cipher));
      }
    }
    return ids;
  }

  #useCertificates(): void {
    const ssl = libssl();
    const dtls = libsslDtls();
    const o = this.#options;
    const [leafDer, ...intermediates] = o.certificateChain;
    const leaf = x509FromDer(leafDer as Uint8Array);
    try {
      if (ssl.SSL_CTX_use_certificate(this.ctx, leaf) !== 1)
        throw configError('cannot use the server certificate');
    } finally {
      ssl.X509_free(leaf);
    }
    for (const der of intermediates) {
      const x509 = x509FromDer(der);
      try {
        if (ssl.SSL_CTX_ctrl(this.ctx, SSL_CTRL.CHAIN_CERT, 1, x509) !== 1) {
          throw configError('cannot add a chain certificate');
        }
      } finally {
        ssl.X509_free(x509);
      }
    }
    libcrypto().ERR_clear_error();
    if (
      ssl.SSL_CTX_use_PrivateKey(this.ctx, o.privateKey) !== 1 ||
      ssl.SSL_CTX_check_private_key(this.ctx) !== 1
    ) {
      throw configError('the private key does not match the server certificate');
    }
    const store = ssl.SSL_CTX_get_cert_store(this.ctx);
    for (const der of o.ca) {
      const x509 = x509FromDer(der);
      try {
        ssl.X509_STORE_add_cert(store, x509);
        // Sent in the CertificateRequest so a sensor with several certificates picks the right one.
        dtls.SSL_CTX_add_client_CA(this.ctx, x509);
      } finally {
        ssl.X509_free(x509);
      }
    }
    libcrypto().ERR_clear_error();
  }

  #register(
    prototype: Parameters<typeof registerCallback>[1],
    callback: Parameters<typeof registerCallback>[0],
  ): void {
    this.#callbacks.push(registerCallback(callback, prototype));
  }

  // Callbacks run inside SSL calls: they must never throw into C, so each one catches everything.

  /**
   * Never makes a cookie: HelloVerifyRequests are made in JS (DtlsServer), and DTLSv1_listen only ever
   * sees ClientHellos whose cookie JS verified. Failing here makes a surprise an error, not an answer.
   */
  #generateCookie(_sslPointer: bigint, _cookie: bigint, _length: bigint): number {
    return 0;
  }

  #verifyCookie(sslPointer: bigint, cookie: bigint, length: number): number {
    try {
      const verified = this.#events.verifiedCookie(sslPointer);
      if (verified === undefined || length !== verified.length) return 0;
      return verified.equals(new Uint8Array(koffi.view(cookie, length))) ? 1 : 0;
    } catch {
      return 0;
    }
  }

  #verifyCertificate(preverifyOk: number, store: bigint): number {
    const ssl = libssl();
    const dtls = libsslDtls();
    let sslPointer: bigint | null = null;
    try {
      sslPointer = dtls.X509_STORE_CTX_get_ex_data(store, dtls.SSL_get_ex_data_X509_STORE_CTX_idx());
      if (sslPointer === null) return 0;
      const depth = ssl.X509_STORE_CTX_get_error_depth(store);
      if (preverifyOk !== 1) {
        const error = ssl.X509_STORE_CTX_get_error(store);
        this.#events.chainRejected(sslPointer, HandshakeFailure.fromVerifyError(error, depth));
        return 0;
      }
      if (depth > 0) return 1;
      if (this.#options.requireClientAuthEku) {
        const usage = dtls.X509_get_extended_key_usage(ssl.X509_STORE_CTX_get_current_cert(store));
        if (usage === DTLS_CONST.XKU_ABSENT || (usage & DTLS_CONST.XKU_SSL_CLIENT) === 0) {
          ssl.X509_STORE_CTX_set_error(store, X509_V_ERR.INVALID_PURPOSE);
          this.#events.chainRejected(
            sslPointer,
            new HandshakeFailure('badPurpose', 'the client certificate has no extendedKeyUsage clientAuth'),
          );
          return 0;
        }
      }
      const chain = dersFromX509Stack(ssl.X509_STORE_CTX_get0_chain(store));
      const verdict = this.#options.verifyPeer(chain);
      if (!verdict.ok) {
        ssl.X509_STORE_CTX_set_error(store, X509_V_ERR.APPLICATION_VERIFICATION);
        this.#events.chainRejected(sslPointer, new HandshakeFailure('rejectedByPolicy', verdict.reason));
        return 0;
      }
      this.#boundTicketLifetime(sslPointer, chain[0]);
      this.#events.chainVerified(
        sslPointer,
        chain,
        PeerIdentity.subjectOf(ssl.X509_STORE_CTX_get_current_cert(store)),
        verdict.attributes,
      );
      return 1;
    } catch (error) {
      return this.#refuseThrown(store, sslPointer, error);
    }
  }

  /**
   * chainVerification 'application': replaces X509_verify_cert. The peer's chain (leaf first, as
   * sent) goes to verifyPeer, whose verdict alone decides; its verifyError picks the alert.
   */
  #verifyApplication(store: bigint): number {
    const ssl = libssl();
    const dtls = libsslDtls();
    let sslPointer: bigint | null = null;
    try {
      sslPointer = dtls.X509_STORE_CTX_get_ex_data(store, dtls.SSL_get_ex_data_X509_STORE_CTX_idx());
      const leaf = dtls.X509_STORE_CTX_get0_cert(store);
      if (sslPointer === null || !leaf) return 0;
      const leafDer = derFromX509(leaf);
      const sent = dersFromX509Stack(dtls.X509_STORE_CTX_get0_untrusted(store));
      const chain = [
        leafDer,
        ...sent.filter((der, index) => !(index === 0 && Buffer.from(der).equals(leafDer))),
      ];
      const verdict = this.#options.verifyPeer(chain);
      if (!verdict.ok) {
        ssl.X509_STORE_CTX_set_error(store, verdict.verifyError ?? X509_V_ERR.APPLICATION_VERIFICATION);
        this.#events.chainRejected(sslPointer, new HandshakeFailure('rejectedByPolicy', verdict.reason));
        return 0;
      }
      this.#boundTicketLifetime(sslPointer, leafDer);
      this.#events.chainVerified(sslPointer, chain, PeerIdentity.subjectOf(leaf), verdict.attributes);
      return 1;
    } catch (error) {
      return this.#refuseThrown(store, sslPointer, error);
    }
  }

  /** With tickets: the ticket made for this session lives no longer than the keys allow nor the leaf is valid. */
  #boundTicketLifetime(sslPointer: bigint, leafDer: Uint8Array | undefined): void {
    const keys = this.#options.sessionTickets;
    if (!keys || !leafDer) return;
    boundSessionLifetime(sslPointer, leafDer, keys, this.#options.verificationTime?.() ?? new Date());
  }

  /** A verify callback whose hook threw: the handshake fails with the error in its reason. */
  #refuseThrown(store: bigint, sslPointer: bigint | null, error: unknown): number {
    if (sslPointer !== null) {
      const message = error instanceof Error ? error.message : String(error);
      this.#events.chainRejected(
        sslPointer,
        new HandshakeFailure('rejectedByPolicy', `verifyPeer threw: ${message}`),
      );
    }
    libssl().X509_STORE_CTX_set_error(store, X509_V_ERR.APPLICATION_VERIFICATION);
    return 0;
  }

  #info(sslPointer: bigint, where: number, ret: number): void {
    try {
      if ((where & DTLS_CONST.SSL_CB_ALERT) !== 0 && (where & DTLS_CONST.SSL_CB_WRITE) !== 0) {
        if ((ret & 0xff) === DTLS_CONST.SSL_AD_NO_RENEGOTIATION)
          this.#events.renegotiationRefused(sslPointer);
      }
    } catch {
      // an info callback has nothing to report back to OpenSSL
    }
  }
}

function configError(message: string): TlsError {
  return new TlsError('EGW_TLS_CONFIG', `DTLS server: ${message}`, {
    hint: 'check the server certificate chain, private key, CA certificates and cipher list',
  });
}
