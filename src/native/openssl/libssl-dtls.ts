import koffi from 'koffi';
import { libssl, type Pointer } from './libssl.js';

/**
 * The DTLS server pieces of node's own OpenSSL that libssl.ts does not bind: the stateless cookie
 * exchange (DTLSv1_listen and its callbacks), typed verify/info callbacks, retransmission timers,
 * session-cache access and verify parameters. Pointers are BigInt (koffi 3); `null` is NULL.
 *
 * Type names declared here carry an `egw_dtls_` prefix: koffi's type registry is process-wide and
 * other binding files may declare their own `timeval` or callback types.
 */

/** Numbers from openssl/ssl.h, sslerr.h, x509v3.h and x509_vfy.h (the same in 3.0 and 3.5, see supported-versions.ts). */
export const DTLS_CONST = {
  SSL_CTRL_SET_MAX_CERT_LIST: 51,
  SSL_CTRL_SET_SESS_CACHE_SIZE: 42,
  BIO_CTRL_RESET: 1,
  SSL_CB_ALERT: 0x4000,
  SSL_CB_WRITE: 0x08,
  X509_PURPOSE_SSL_CLIENT: 1,
  XKU_SSL_CLIENT: 0x2,
  XKU_ABSENT: 0xffffffff,
  SSL_AD_NO_RENEGOTIATION: 100,
  /** XN_FLAG_RFC2253 without ASN1_STRFLGS_ESC_MSB: RFC 2253 order and escaping, UTF-8 kept readable. */
  XN_FLAG_RFC2253_UTF8: 0x1110313,
} as const;

/** int (*)(SSL *, unsigned char *cookie, unsigned int *cookie_len): cookie buffer holds 255 bytes. */
export type CookieGenerateCallback = (ssl: bigint, cookie: bigint, cookieLength: bigint) => number;
/** int (*)(SSL *, const unsigned char *cookie, unsigned int cookie_len). */
export type CookieVerifyCallback = (ssl: bigint, cookie: bigint, cookieLength: number) => number;
/** int (*)(int preverify_ok, X509_STORE_CTX *). */
export type VerifyCallback = (preverifyOk: number, storeCtx: bigint) => number;
/** int (*)(X509_STORE_CTX *, void *arg): replaces X509_verify_cert (application chain verification). */
export type CertVerifyCallback = (storeCtx: bigint, arg: bigint | null) => number;
/** void (*)(const SSL *, int where, int ret). */
export type InfoCallback = (ssl: bigint, where: number, ret: number) => void;

export interface DtlsTimeval {
  tv_sec: number;
  tv_usec: number;
}

export interface LibSslDtls {
  DTLSv1_listen(ssl: Pointer, client: Pointer): number;
  BIO_ADDR_new(): Pointer;
  BIO_ADDR_free(address: Pointer): void;
  SSL_CTX_set_cookie_generate_cb(ctx: Pointer, callback: bigint | null): void;
  SSL_CTX_set_cookie_verify_cb(ctx: Pointer, callback: bigint | null): void;
  SSL_CTX_set_verify(ctx: Pointer, mode: number, callback: bigint | null): void;
  SSL_CTX_set_cert_verify_callback(ctx: Pointer, callback: bigint | null, arg: null): void;
  SSL_CTX_set_info_callback(ctx: Pointer, callback: bigint | null): void;
  SSL_set_info_callback(ssl: Pointer, callback: bigint | null): void;
  /** The SSL's own security callback (SSL_new copies the context's). */
  SSL_set_security_callback(ssl: Pointer, callback: bigint | null): void;
  /** The suite's two-byte IANA code, as in a ClientHello's cipher_suites. */
  SSL_CIPHER_get_protocol_id(cipher: Pointer): number;
  SSL_CTX_set_purpose(ctx: Pointer, purpose: number): number;
  SSL_CTX_add_client_CA(ctx: Pointer, x509: Pointer): number;
  SSL_CTX_remove_session(ctx: Pointer, session: Pointer): number;
  /** DTLS_get_timeout: 1 and the time left when a retransmission timer runs, else 0. */
  DTLS_get_timeout(ssl: Pointer, out: DtlsTimeval): number;
  SSL_get0_verified_chain(ssl: Pointer): Pointer;
  SSL_get_session(ssl: Pointer): Pointer;
  SSL_SESSION_get_id(session: Pointer, length: [number]): bigint | null;
  /** Copies the session's master secret into `out`; returns its length (48 for TLS/DTLS 1.2). */
  SSL_SESSION_get_master_key(session: Pointer, out: Buffer, length: number): number;
  SSL_get_client_random(ssl: Pointer, out: Buffer, length: number): number;
  SSL_get_server_random(ssl: Pointer, out: Buffer, length: number): number;
  /** Marks close_notify as sent/received without sending: SSL_free then keeps the session cached. */
  SSL_set_shutdown(ssl: Pointer, mode: number): void;
  SSL_get0_param(ssl: Pointer): Pointer;
  SSL_renegotiate(ssl: Pointer): number;
  SSL_free_buffers(ssl: Pointer): number;
  SSL_alloc_buffers(ssl: Pointer): number;
  /** Replaces the SSL's read BIO; the SSL takes ownership of `bio` and frees the previous one. */
  SSL_set0_rbio(ssl: Pointer, bio: Pointer): void;
  /** Replaces the SSL's write BIO; the SSL takes ownership of `bio` and frees the previous one. */
  SSL_set0_wbio(ssl: Pointer, bio: Pointer): void;
  X509_VERIFY_PARAM_set_time(param: Pointer, time: bigint): void;
  X509_get_extended_key_usage(x509: Pointer): number;
  X509_get_subject_name(x509: Pointer): Pointer;
  X509_NAME_print_ex(bio: Pointer, name: Pointer, indent: number, flags: number): number;
  X509_STORE_CTX_get_ex_data(ctx: Pointer, index: number): bigint | null;
  /** The certificate being verified (the peer's leaf). */
  X509_STORE_CTX_get0_cert(ctx: Pointer): Pointer;
  /** The certificates the peer sent (a STACK_OF(X509), leaf included on a server). */
  X509_STORE_CTX_get0_untrusted(ctx: Pointer): Pointer;
  SSL_get_ex_data_X509_STORE_CTX_idx(): number;
}

let bound: LibSslDtls | undefined;

export function libsslDtls(): LibSslDtls {
  if (bound) return bound;
  libssl(); // declares SSL, SSL_CTX, X509, X509_STORE_CTX, OPENSSL_STACK, BIO
  const lib = koffi.load(null as unknown as string);
  koffi.proto('int egw_dtls_cookie_generate_cb(SSL *ssl, void *cookie, void *cookie_len)');
  koffi.proto('int egw_dtls_cookie_verify_cb(SSL *ssl, void *cookie, unsigned int cookie_len)');
  koffi.proto('int egw_dtls_verify_cb(int preverify_ok, X509_STORE_CTX *ctx)');
  koffi.proto('void egw_dtls_info_cb(const SSL *ssl, int where, int ret)');
  koffi.proto('int egw_dtls_cert_verify_cb(X509_STORE_CTX *ctx, void *arg)');
  koffi.struct('egw_dtls_timeval', { tv_sec: 'long', tv_usec: 'long' });
  const f = (signature: string) => lib.func(signature);
  bound = {
    DTLSv1_listen: f('int DTLSv1_listen(SSL *, void *)'),
    BIO_ADDR_new: f('void *BIO_ADDR_new(void)'),
    BIO_ADDR_free: f('void BIO_ADDR_free(void *)'),
    SSL_CTX_set_cookie_generate_cb: f(
      'void SSL_CTX_set_cookie_generate_cb(SSL_CTX *, egw_dtls_cookie_generate_cb *)',
    ),
    SSL_CTX_set_cookie_verify_cb: f(
      'void SSL_CTX_set_cookie_verify_cb(SSL_CTX *, egw_dtls_cookie_verify_cb *)',
    ),
    SSL_CTX_set_verify: f('void SSL_CTX_set_verify(SSL_CTX *, int, egw_dtls_verify_cb *)'),
    SSL_CTX_set_info_callback: f('void SSL_CTX_set_info_callback(SSL_CTX *, egw_dtls_info_cb *)'),
    SSL_set_info_callback: f('void SSL_set_info_callback(SSL *, egw_dtls_info_cb *)'),
    SSL_set_security_callback: f('void SSL_set_security_callback(SSL *, void *)'),
    SSL_CIPHER_get_protocol_id: f('uint16_t SSL_CIPHER_get_protocol_id(const SSL_CIPHER *)'),
    SSL_CTX_set_cert_verify_callback: f(
      'void SSL_CTX_set_cert_verify_callback(SSL_CTX *, egw_dtls_cert_verify_cb *, void *)',
    ),
    SSL_CTX_set_purpose: f('int SSL_CTX_set_purpose(SSL_CTX *, int)'),
    SSL_CTX_add_client_CA: f('int SSL_CTX_add_client_CA(SSL_CTX *, X509 *)'),
    SSL_CTX_remove_session: f('int SSL_CTX_remove_session(SSL_CTX *, SSL_SESSION *)'),
    DTLS_get_timeout: lib.func('SSL_ctrl', 'long', ['SSL *', 'int', 'long', koffi.out('egw_dtls_timeval *')]),
    SSL_get0_verified_chain: f('OPENSSL_STACK *SSL_get0_verified_chain(const SSL *)'),
    SSL_get_session: f('SSL_SESSION *SSL_get_session(const SSL *)'),
    SSL_SESSION_get_id: f('const void *SSL_SESSION_get_id(const SSL_SESSION *, _Out_ unsigned int *)'),
    SSL_SESSION_get_master_key: f(
      'size_t SSL_SESSION_get_master_key(const SSL_SESSION *, _Out_ uint8_t *, size_t)',
    ),
    SSL_get_client_random: f('size_t SSL_get_client_random(const SSL *, _Out_ uint8_t *, size_t)'),
    SSL_get_server_random: f('size_t SSL_get_server_random(const SSL *, _Out_ uint8_t *, size_t)'),
    SSL_set_shutdown: f('void SSL_set_shutdown(SSL *, int)'),
    SSL_get0_param: f('void *SSL_get0_param(SSL *)'),
    SSL_renegotiate: f('int SSL_renegotiate(SSL *)'),
    SSL_free_buffers: f('int SSL_free_buffers(SSL *)'),
    SSL_alloc_buffers: f('int SSL_alloc_buffers(SSL *)'),
    SSL_set0_rbio: f('void SSL_set0_rbio(SSL *, BIO *)'),
    SSL_set0_wbio: f('void SSL_set0_wbio(SSL *, BIO *)'),
    X509_VERIFY_PARAM_set_time: f('void X509_VERIFY_PARAM_set_time(void *, int64_t)'),
    X509_get_extended_key_usage: f('uint32_t X509_get_extended_key_usage(X509 *)'),
    X509_get_subject_name: f('void *X509_get_subject_name(const X509 *)'),
    X509_NAME_print_ex: f('int X509_NAME_print_ex(BIO *, const void *, int, unsigned long)'),
    X509_STORE_CTX_get_ex_data: f('void *X509_STORE_CTX_get_ex_data(const X509_STORE_CTX *, int)'),
    X509_STORE_CTX_get0_cert: f('X509 *X509_STORE_CTX_get0_cert(const X509_STORE_CTX *)'),
    X509_STORE_CTX_get0_untrusted: f('OPENSSL_STACK *X509_STORE_CTX_get0_untrusted(const X509_STORE_CTX *)'),
    SSL_get_ex_data_X509_STORE_CTX_idx: f('int SSL_get_ex_data_X509_STORE_CTX_idx(void)'),
  };
  const original = bound.DTLS_get_timeout as unknown as (
    ssl: Pointer,
    command: number,
    larg: number,
    out: DtlsTimeval,
  ) => number;
  bound.DTLS_get_timeout = (ssl, out) => original(ssl, 73, 0, out);
  return bound;
}

/** DTLS_CTRL_HANDLE_TIMEOUT through SSL_ctrl: retransmits the last flight when its timer expired. */
export function dtlsHandleTimeout(ssl: Pointer): number {
  return libssl().SSL_ctrl(ssl, 74, 0, null);
}

/** Registers a JS function as a C callback of one of the prototypes above; free with koffi.unregister. */
export function registerCallback(
  callback:
    | CookieGenerateCallback
    | CookieVerifyCallback
    | VerifyCallback
    | InfoCallback
    | CertVerifyCallback,
  prototype:
    | 'egw_dtls_cookie_generate_cb'
    | 'egw_dtls_cookie_verify_cb'
    | 'egw_dtls_verify_cb'
    | 'egw_dtls_info_cb'
    | 'egw_dtls_cert_verify_cb',
): bigint {
  libsslDtls();
  return koffi.register(callback, `${prototype} *`);
}
