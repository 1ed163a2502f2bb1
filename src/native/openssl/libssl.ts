import koffi from 'koffi';
import { libcrypto } from './libcrypto.js';

/**
 * libssl (and the libcrypto X509/BIO/EC pieces TLS needs) of node's own OpenSSL, through koffi.
 * Pointers are opaque koffi values; `null` is NULL. Macros in OpenSSL's headers (SSL_set_mtu,
 * DTLS_get_timeout, BIO_pending, …) are their SSL_ctrl/BIO_ctrl calls: see SSL_CTRL and BIO_CTRL.
 *
 * Call ERR_clear_error() before each SSL_* I/O call so SSL_get_error() reports on that call only.
 */
export type Pointer = unknown;

/** SSL_ctrl / SSL_CTX_ctrl command numbers (openssl/ssl.h; the same in 3.0 and 3.5, see supported-versions.ts). */
export const SSL_CTRL = {
  EXTRA_CHAIN_CERT: 14,
  SET_MTU: 17,
  SET_READ_AHEAD: 41,
  SET_SESS_CACHE_MODE: 44,
  MODE: 33,
  SET_TLSEXT_HOSTNAME: 55,
  DTLS_GET_TIMEOUT: 73,
  DTLS_HANDLE_TIMEOUT: 74,
  CHAIN_CERT: 89,
  SET_GROUPS_LIST: 92,
  SET_SIGALGS_LIST: 98,
  SET_CLIENT_SIGALGS_LIST: 102,
  SET_MIN_PROTO_VERSION: 123,
  SET_MAX_PROTO_VERSION: 124,
} as const;

/** X509_V_ERR_* values (openssl/x509_vfy.h, 3.0 = 3.5) that the TLS and DTLS layers map to failures. */
export const X509_V_ERR = {
  UNABLE_TO_GET_ISSUER_CERT: 2,
  CERT_NOT_YET_VALID: 9,
  CERT_HAS_EXPIRED: 10,
  DEPTH_ZERO_SELF_SIGNED_CERT: 18,
  SELF_SIGNED_CERT_IN_CHAIN: 19,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 20,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 21,
  CERT_CHAIN_TOO_LONG: 22,
  CERT_REVOKED: 23,
  INVALID_PURPOSE: 26,
  CERT_UNTRUSTED: 27,
  CERT_REJECTED: 28,
  APPLICATION_VERIFICATION: 50,
  HOSTNAME_MISMATCH: 62,
  EMAIL_MISMATCH: 63,
  IP_ADDRESS_MISMATCH: 64,
  /** The security level refuses the key (RSA < 2048 bits at level 2) or the signature's digest (SHA-1). */
  EE_KEY_TOO_SMALL: 66,
  CA_KEY_TOO_SMALL: 67,
  CA_MD_TOO_WEAK: 68,
} as const;

export const SSL_ERROR = {
  NONE: 0,
  SSL: 1,
  WANT_READ: 2,
  WANT_WRITE: 3,
  WANT_X509_LOOKUP: 4,
  SYSCALL: 5,
  ZERO_RETURN: 6,
} as const;

export const SSL_VERIFY = { NONE: 0, PEER: 1, FAIL_IF_NO_PEER_CERT: 2, CLIENT_ONCE: 4 } as const;

export const SSL_MODE = {
  ENABLE_PARTIAL_WRITE: 0x1,
  ACCEPT_MOVING_WRITE_BUFFER: 0x2,
  AUTO_RETRY: 0x4,
  RELEASE_BUFFERS: 0x10,
} as const;

/** SSL_get_shutdown() bits. */
export const SSL_SHUTDOWN_STATE = { SENT: 1, RECEIVED: 2 } as const;

/** TLSEXT_NAMETYPE_host_name, the larg of SSL_ctrl(SET_TLSEXT_HOSTNAME). */
export const TLSEXT_NAMETYPE_HOST_NAME = 0;

/** Error-queue code layout (openssl/err.h, 3.0 = 3.5): library in bits 23–30, reason in 0–22, bit 31 = system error. */
export const ERR_CODE = {
  LIB_SHIFT: 23,
  LIB_MASK: 0xff,
  REASON_MASK: 0x7fffff,
  SYSTEM_FLAG: 0x80000000,
} as const;
export const ERR_LIB = { SSL: 20, X509: 11 } as const;
/** SSL reasons: an alert received from the peer is reported as SSL_AD_REASON_OFFSET + its description. */
export const SSL_R = {
  CERTIFICATE_VERIFY_FAILED: 134,
  EXCESSIVE_MESSAGE_SIZE: 152,
  NO_CERTIFICATES_RETURNED: 176,
  NO_SHARED_CIPHER: 193,
  PEER_DID_NOT_RETURN_A_CERTIFICATE: 199,
  NO_RENEGOTIATION: 339,
  LENGTH_TOO_LONG: 404,
  AD_REASON_OFFSET: 1000,
} as const;

export const SSL_OP = {
  NO_QUERY_MTU: 0x1000n,
  COOKIE_EXCHANGE: 0x2000n,
  NO_TICKET: 0x4000n,
  NO_RENEGOTIATION: 0x40000000n,
  CIPHER_SERVER_PREFERENCE: 0x400000n,
} as const;

export const TLS_VERSION = { TLS1_2: 0x0303, TLS1_3: 0x0304, DTLS1_2: 0xfefd } as const;

export const SSL_SESS_CACHE = { OFF: 0, CLIENT: 1, SERVER: 2 } as const;

export const BIO_CTRL = { PENDING: 10, SET_BUF_MEM_EOF_RETURN: 130 } as const;

/**
 * Security callback operations (openssl/ssl.h SSL_SECOP_*): the op's type in the high 16 bits says
 * what `other` points to. The three cipher ops pass the SSL_CIPHER and its strength in bits.
 */
export const SSL_SECOP = {
  OTHER_TYPE: 0xffff0000,
  OTHER_CIPHER: 1 << 16,
  CIPHER_SUPPORTED: 1 | (1 << 16),
  CIPHER_SHARED: 2 | (1 << 16),
  CIPHER_CHECK: 3 | (1 << 16),
  EE_KEY: 16 | (6 << 16),
  CA_KEY: 17 | (6 << 16),
  CA_MD: 18 | (6 << 16),
} as const;

export interface LibSsl {
  // methods and contexts
  TLS_client_method(): Pointer;
  TLS_server_method(): Pointer;
  DTLS_server_method(): Pointer;
  DTLS_client_method(): Pointer;
  SSL_CTX_new(method: Pointer): Pointer;
  SSL_CTX_free(ctx: Pointer): void;
  SSL_CTX_up_ref(ctx: Pointer): number;
  SSL_CTX_ctrl(ctx: Pointer, command: number, larg: number, parg: Pointer): number;
  SSL_CTX_set_options(ctx: Pointer, options: bigint): bigint;
  SSL_CTX_set_cipher_list(ctx: Pointer, list: string): number;
  SSL_CTX_set_ciphersuites(ctx: Pointer, list: string): number;
  SSL_CTX_use_certificate(ctx: Pointer, x509: Pointer): number;
  SSL_CTX_use_PrivateKey(ctx: Pointer, pkey: Pointer): number;
  SSL_CTX_check_private_key(ctx: Pointer): number;
  SSL_CTX_get_cert_store(ctx: Pointer): Pointer;
  SSL_CTX_set_verify(ctx: Pointer, mode: number, callback: Pointer): void;
  SSL_CTX_set_verify_depth(ctx: Pointer, depth: number): void;
  SSL_CTX_set_session_id_context(ctx: Pointer, id: Buffer, length: number): number;
  SSL_CTX_set_timeout(ctx: Pointer, seconds: number): number;
  SSL_CTX_get_security_level(ctx: Pointer): number;
  SSL_CTX_set_security_level(ctx: Pointer, level: number): void;
  /** The context's security callback (OpenSSL's default until one is set), as a function pointer. */
  SSL_CTX_get_security_callback(ctx: Pointer): bigint | null;
  SSL_CTX_set_security_callback(ctx: Pointer, callback: bigint | null): void;
  /** The callback's `ex` argument; OpenSSL copies it into every SSL made from the context. */
  SSL_CTX_set0_security_ex_data(ctx: Pointer, ex: bigint | null): void;
  /** The context's cipher list (STACK_OF(SSL_CIPHER), owned by the context), TLS 1.3 suites included. */
  SSL_CTX_get_ciphers(ctx: Pointer): Pointer;
  SSL_get_security_level(ssl: Pointer): number;
  // connections
  SSL_new(ctx: Pointer): Pointer;
  SSL_free(ssl: Pointer): void;
  SSL_set_bio(ssl: Pointer, readBio: Pointer, writeBio: Pointer): void;
  SSL_set_connect_state(ssl: Pointer): void;
  SSL_set_accept_state(ssl: Pointer): void;
  SSL_do_handshake(ssl: Pointer): number;
  SSL_read(ssl: Pointer, buffer: Buffer, length: number): number;
  SSL_write(ssl: Pointer, buffer: Buffer, length: number): number;
  SSL_shutdown(ssl: Pointer): number;
  SSL_get_error(ssl: Pointer, result: number): number;
  SSL_ctrl(ssl: Pointer, command: number, larg: number, parg: Pointer): number;
  SSL_set_options(ssl: Pointer, options: bigint): bigint;
  SSL_clear_options(ssl: Pointer, options: bigint): bigint;
  SSL_set1_host(ssl: Pointer, hostname: string): number;
  SSL_get1_peer_certificate(ssl: Pointer): Pointer;
  SSL_get_peer_cert_chain(ssl: Pointer): Pointer;
  SSL_get_verify_result(ssl: Pointer): number;
  SSL_session_reused(ssl: Pointer): number;
  SSL_get_version(ssl: Pointer): string;
  SSL_get_current_cipher(ssl: Pointer): Pointer;
  SSL_CIPHER_get_name(cipher: Pointer): string;
  /** The IANA name, e.g. "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8". */
  SSL_CIPHER_standard_name(cipher: Pointer): string | null;
  /** The strength OpenSSL rates the suite at (3.2+: 64 for CCM_8); `algBits[0]` gets the key size. */
  SSL_CIPHER_get_bits(cipher: Pointer, algBits: [number] | null): number;
  SSL_get1_session(ssl: Pointer): Pointer;
  SSL_set_session(ssl: Pointer, session: Pointer): number;
  SSL_SESSION_free(session: Pointer): void;
  SSL_is_init_finished(ssl: Pointer): number;
  SSL_get_shutdown(ssl: Pointer): number;
  /** Copies the last Finished message this end sent (at most `count` bytes); returns its full length. */
  SSL_get_finished(ssl: Pointer, buffer: Buffer, count: number): number;
  /** The same for the last Finished message the peer sent. */
  SSL_get_peer_finished(ssl: Pointer, buffer: Buffer, count: number): number;
  /** RFC 5705/8446 §7.5 exporter; 1 on success. `useContext` 0: no context (TLS 1.3: same as empty). */
  SSL_export_keying_material(
    ssl: Pointer,
    out: Buffer,
    length: number,
    label: string,
    labelLength: number,
    context: Buffer | null,
    contextLength: number,
    useContext: number,
  ): number;
  SSL_alert_desc_string_long(value: number): string;
  SSL_get_ex_data_X509_STORE_CTX_idx(): number;
  // memory BIOs
  BIO_s_mem(): Pointer;
  BIO_new(type: Pointer): Pointer;
  BIO_free(bio: Pointer): number;
  BIO_read(bio: Pointer, buffer: Buffer, length: number): number;
  BIO_write(bio: Pointer, buffer: Buffer, length: number): number;
  BIO_ctrl(bio: Pointer, command: number, larg: number, parg: Pointer): number;
  // certificates
  d2i_X509_bio(bio: Pointer, out: null): Pointer;
  i2d_X509_bio(bio: Pointer, x509: Pointer): number;
  d2i_PUBKEY_bio(bio: Pointer, out: null): Pointer;
  X509_free(x509: Pointer): void;
  X509_up_ref(x509: Pointer): number;
  X509_STORE_add_cert(store: Pointer, x509: Pointer): number;
  X509_STORE_CTX_get_error(ctx: Pointer): number;
  X509_STORE_CTX_set_error(ctx: Pointer, error: number): void;
  X509_STORE_CTX_get_error_depth(ctx: Pointer): number;
  X509_STORE_CTX_get_current_cert(ctx: Pointer): Pointer;
  X509_STORE_CTX_get0_chain(ctx: Pointer): Pointer;
  X509_verify_cert_error_string(error: number): string;
  X509_STORE_CTX_get_ex_data(ctx: Pointer, index: number): Pointer;
  X509_get_subject_name(x509: Pointer): Pointer;
  X509_NAME_oneline(name: Pointer, buffer: Buffer, size: number): Pointer;
  ERR_reason_error_string(code: number): string | null;
  OPENSSL_sk_num(stack: Pointer): number;
  OPENSSL_sk_value(stack: Pointer, index: number): Pointer;
}

let bound: LibSsl | undefined;

export function libssl(): LibSsl {
  if (bound) return bound;
  libcrypto(); // declares the shared opaque types (BIO, EVP_PKEY)
  const lib = koffi.load(null as unknown as string);
  for (const name of ['SSL_CTX', 'SSL', 'SSL_METHOD', 'SSL_CIPHER', 'SSL_SESSION', 'X509', 'X509_STORE']) {
    koffi.opaque(name);
  }
  koffi.opaque('X509_STORE_CTX');
  koffi.opaque('OPENSSL_STACK');
  const f = (signature: string) => lib.func(signature);
  bound = {
    TLS_client_method: f('const SSL_METHOD *TLS_client_method(void)'),
    TLS_server_method: f('const SSL_METHOD *TLS_server_method(void)'),
    DTLS_server_method: f('const SSL_METHOD *DTLS_server_method(void)'),
    DTLS_client_method: f('const SSL_METHOD *DTLS_client_method(void)'),
    SSL_CTX_new: f('SSL_CTX *SSL_CTX_new(const SSL_METHOD *)'),
    SSL_CTX_free: f('void SSL_CTX_free(SSL_CTX *)'),
    SSL_CTX_up_ref: f('int SSL_CTX_up_ref(SSL_CTX *)'),
    SSL_CTX_ctrl: f('long SSL_CTX_ctrl(SSL_CTX *, int, long, void *)'),
    SSL_CTX_set_options: f('uint64_t SSL_CTX_set_options(SSL_CTX *, uint64_t)'),
    SSL_CTX_set_cipher_list: f('int SSL_CTX_set_cipher_list(SSL_CTX *, const char *)'),
    SSL_CTX_set_ciphersuites: f('int SSL_CTX_set_ciphersuites(SSL_CTX *, const char *)'),
    SSL_CTX_use_certificate: f('int SSL_CTX_use_certificate(SSL_CTX *, X509 *)'),
    SSL_CTX_use_PrivateKey: f('int SSL_CTX_use_PrivateKey(SSL_CTX *, EVP_PKEY *)'),
    SSL_CTX_check_private_key: f('int SSL_CTX_check_private_key(const SSL_CTX *)'),
    SSL_CTX_get_cert_store: f('X509_STORE *SSL_CTX_get_cert_store(const SSL_CTX *)'),
    SSL_CTX_set_verify: f('void SSL_CTX_set_verify(SSL_CTX *, int, void *)'),
    SSL_CTX_set_verify_depth: f('void SSL_CTX_set_verify_depth(SSL_CTX *, int)'),
    SSL_CTX_set_session_id_context: f(
      'int SSL_CTX_set_session_id_context(SSL_CTX *, const uint8_t *, unsigned int)',
    ),
    SSL_CTX_set_timeout: f('long SSL_CTX_set_timeout(SSL_CTX *, long)'),
    SSL_CTX_get_security_level: f('int SSL_CTX_get_security_level(const SSL_CTX *)'),
    SSL_CTX_set_security_level: f('void SSL_CTX_set_security_level(SSL_CTX *, int)'),
    SSL_CTX_get_security_callback: f('void *SSL_CTX_get_security_callback(const SSL_CTX *)'),
    SSL_CTX_set_security_callback: f('void SSL_CTX_set_security_callback(SSL_CTX *, void *)'),
    SSL_CTX_set0_security_ex_data: f('void SSL_CTX_set0_security_ex_data(SSL_CTX *, void *)'),
    SSL_CTX_get_ciphers: f('OPENSSL_STACK *SSL_CTX_get_ciphers(const SSL_CTX *)'),
    SSL_get_security_level: f('int SSL_get_security_level(const SSL *)'),
    SSL_new: f('SSL *SSL_new(SSL_CTX *)'),
    SSL_free: f('void SSL_free(SSL *)'),
    SSL_set_bio: f('void SSL_set_bio(SSL *, BIO *, BIO *)'),
    SSL_set_connect_state: f('void SSL_set_connect_state(SSL *)'),
    SSL_set_accept_state: f('void SSL_set_accept_state(SSL *)'),
    SSL_do_handshake: f('int SSL_do_handshake(SSL *)'),
    SSL_read: f('int SSL_read(SSL *, _Out_ uint8_t *, int)'),
    SSL_write: f('int SSL_write(SSL *, const uint8_t *, int)'),
    SSL_shutdown: f('int SSL_shutdown(SSL *)'),
    SSL_get_error: f('int SSL_get_error(const SSL *, int)'),
    SSL_ctrl: f('long SSL_ctrl(SSL *, int, long, void *)'),
    SSL_set_options: f('uint64_t SSL_set_options(SSL *, uint64_t)'),
    SSL_clear_options: f('uint64_t SSL_clear_options(SSL *, uint64_t)'),
    SSL_set1_host: f('int SSL_set1_host(SSL *, const char *)'),
    SSL_get1_peer_certificate: f('X509 *SSL_get1_peer_certificate(const SSL *)'),
    SSL_get_peer_cert_chain: f('OPENSSL_STACK *SSL_get_peer_cert_chain(const SSL *)'),
    SSL_get_verify_result: f('long SSL_get_verify_result(const SSL *)'),
    SSL_session_reused: f('int SSL_session_reused(const SSL *)'),
    SSL_get_version: f('const char *SSL_get_version(const SSL *)'),
    SSL_get_current_cipher: f('const SSL_CIPHER *SSL_get_current_cipher(const SSL *)'),
    SSL_CIPHER_get_name: f('const char *SSL_CIPHER_get_name(const SSL_CIPHER *)'),
    SSL_CIPHER_standard_name: f('const char *SSL_CIPHER_standard_name(const SSL_CIPHER *)'),
    SSL_CIPHER_get_bits: f('int SSL_CIPHER_get_bits(const SSL_CIPHER *, _Out_ int *)'),
    SSL_get1_session: f('SSL_SESSION *SSL_get1_session(SSL *)'),
    SSL_set_session: f('int SSL_set_session(SSL *, SSL_SESSION *)'),
    SSL_SESSION_free: f('void SSL_SESSION_free(SSL_SESSION *)'),
    SSL_is_init_finished: f('int SSL_is_init_finished(const SSL *)'),
    SSL_get_shutdown: f('int SSL_get_shutdown(const SSL *)'),
    SSL_get_finished: f('size_t SSL_get_finished(const SSL *, _Out_ uint8_t *, size_t)'),
    SSL_get_peer_finished: f('size_t SSL_get_peer_finished(const SSL *, _Out_ uint8_t *, size_t)'),
    SSL_export_keying_material: f(
      'int SSL_export_keying_material(SSL *, _Out_ uint8_t *, size_t, const char *, size_t, const uint8_t *, size_t, int)',
    ),
    SSL_alert_desc_string_long: f('const char *SSL_alert_desc_string_long(int)'),
    SSL_get_ex_data_X509_STORE_CTX_idx: f('int SSL_get_ex_data_X509_STORE_CTX_idx(void)'),
    BIO_s_mem: f('const void *BIO_s_mem(void)'),
    BIO_new: f('BIO *BIO_new(const void *)'),
    BIO_free: f('int BIO_free(BIO *)'),
    BIO_read: f('int BIO_read(BIO *, _Out_ uint8_t *, int)'),
    BIO_write: f('int BIO_write(BIO *, const uint8_t *, int)'),
    BIO_ctrl: f('long BIO_ctrl(BIO *, int, long, void *)'),
    d2i_X509_bio: f('X509 *d2i_X509_bio(BIO *, void *)'),
    i2d_X509_bio: f('int i2d_X509_bio(BIO *, X509 *)'),
    d2i_PUBKEY_bio: f('EVP_PKEY *d2i_PUBKEY_bio(BIO *, void *)'),
    X509_free: f('void X509_free(X509 *)'),
    X509_up_ref: f('int X509_up_ref(X509 *)'),
    X509_STORE_add_cert: f('int X509_STORE_add_cert(X509_STORE *, X509 *)'),
    X509_STORE_CTX_get_error: f('int X509_STORE_CTX_get_error(X509_STORE_CTX *)'),
    X509_STORE_CTX_set_error: f('void X509_STORE_CTX_set_error(X509_STORE_CTX *, int)'),
    X509_STORE_CTX_get_error_depth: f('int X509_STORE_CTX_get_error_depth(X509_STORE_CTX *)'),
    X509_STORE_CTX_get_current_cert: f('X509 *X509_STORE_CTX_get_current_cert(X509_STORE_CTX *)'),
    X509_STORE_CTX_get0_chain: f('OPENSSL_STACK *X509_STORE_CTX_get0_chain(X509_STORE_CTX *)'),
    X509_verify_cert_error_string: f('const char *X509_verify_cert_error_string(long)'),
    X509_STORE_CTX_get_ex_data: f('void *X509_STORE_CTX_get_ex_data(const X509_STORE_CTX *, int)'),
    X509_get_subject_name: f('void *X509_get_subject_name(const X509 *)'),
    X509_NAME_oneline: f('char *X509_NAME_oneline(const void *, _Out_ uint8_t *, int)'),
    ERR_reason_error_string: f('const char *ERR_reason_error_string(unsigned long)'),
    OPENSSL_sk_num: f('int OPENSSL_sk_num(const OPENSSL_STACK *)'),
    OPENSSL_sk_value: f('void *OPENSSL_sk_value(const OPENSSL_STACK *, int)'),
  };
  return bound;
}
