import type { Socket } from 'node:net';
import type { Pointer } from '../../native/openssl/libssl.js';
import type { TlsClientContext } from './tls-client-context.js';

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

/**
 * What a TLS client connection needs from its caller: its own identity (certificate chain and
 * private key) and what to trust upstream. Peer verification is always on; there is no option to
 * turn it off.
 */
export interface TlsCredentialOptions {
  /** Upstream trust anchors (DER). Required and non-empty: the server is always verified against them. */
  ca: Uint8Array[];
  /** Our certificate chain (DER), leaf first; omit to connect without a client certificate. */
  certificateChain?: Uint8Array[];
  /**
   * Our private key (EVP_PKEY*), from keyStorePrivateKey() or privateKeyFromPkcs8(). Still owned by
   * the caller, who frees it whenever it likes: OpenSSL keeps its own reference while it is in use.
   */
  privateKey?: Pointer;
  /** Lowest protocol version to offer. Default 'TLSv1.2'. */
  minVersion?: TlsVersion;
  /** Highest protocol version to offer. Default 'TLSv1.3'. */
  maxVersion?: TlsVersion;
  /** TLS 1.2 cipher list (OpenSSL syntax); default OpenSSL's. */
  ciphers?: string;
  /** TLS 1.3 cipher suites (OpenSSL syntax); default OpenSSL's. */
  ciphersuites?: string;
}

export interface TlsClientOptions extends Partial<TlsCredentialOptions> {
  /** Server host name or IP literal; also the default servername and the name verified. */
  host?: string;
  port?: number;
  /** An already created TCP connection to use instead of connecting to host:port. */
  socket?: Socket;
  /** SNI; default `host`. Never sent for IP literals. */
  servername?: string;
  /**
   * Check that the server certificate names `servername`/`host` (DNS SAN or IP SAN). Default true.
   * Turn off only where the trust bundle pins a single server.
   */
  verifyHostname?: boolean;
  /** Fail with EGW_TLS_TIMEOUT when the handshake has not finished by then. Default 30 s. */
  handshakeTimeoutMs?: number;
  /**
   * A context built once (new TlsClientContext(credentials)) and shared by many connections: one
   * SSL_CTX, configuration errors raised once. When given, the credential fields above are ignored.
   */
  context?: TlsClientContext;
}
