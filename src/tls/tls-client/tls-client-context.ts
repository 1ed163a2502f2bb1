import { lastOpenSslError, libcrypto } from '../../native/openssl/index.js';
import {
  libssl,
  type Pointer,
  SSL_CTRL,
  SSL_MODE,
  SSL_OP,
  SSL_VERIFY,
  TLS_VERSION,
} from '../../native/openssl/libssl.js';
import { isKeyStorePrivateKey } from '../key-store-private-key.js';
import { x509FromDer } from '../openssl-objects.js';
import { applySecurityPolicy } from '../security-policy.js';
import { TlsError } from '../tls-error.js';
import type { TlsCredentialOptions, TlsVersion } from './tls-client-options.js';
import { verifyCallback } from './verify-failure.js';

const VERSIONS: Record<TlsVersion, number> = { 'TLSv1.2': TLS_VERSION.TLS1_2, 'TLSv1.3': TLS_VERSION.TLS1_3 };

/**
 * One SSL_CTX for TLS client connections: trust anchors, our certificate chain and key, versions and
 * ciphers. Build it once and share it (connectTls({ context })): the configuration is checked here,
 * once, and every connection made from it is cheaper than one building its own.
 *
 * free() drops this object's reference; connections made from it keep their own until they close.
 */
export class TlsClientContext {
  #ctx: Pointer;
  readonly #privateKey: Pointer;

  constructor(options: TlsCredentialOptions) {
    const ssl = libssl();
    if (!Array.isArray(options.ca) || options.ca.length === 0) {
      throw new TlsError('EGW_TLS_CONFIG', 'TLS client: no trust anchors (ca is empty)', {
        hint: 'give the upstream trust bundle (DER certificates): the server is always verified',
      });
    }
    const chain = options.certificateChain ?? [];
    if (chain.length > 0 !== Boolean(options.privateKey)) {
      throw new TlsError(
        'EGW_TLS_CONFIG',
        chain.length > 0
          ? 'TLS client: a certificate chain was given without its private key'
          : 'TLS client: a private key was given without a certificate chain',
        { hint: 'give both certificateChain (leaf first) and privateKey, or neither' },
      );
    }
    const min = VERSIONS[options.minVersion ?? 'TLSv1.2'];
    const max = VERSIONS[options.maxVersion ?? 'TLSv1.3'];
    if (min === undefined || max === undefined || min > max) {
      throw new TlsError(
        'EGW_TLS_CONFIG',
        `TLS client: bad version range ${options.minVersion ?? 'TLSv1.2'}..${options.maxVersion ?? 'TLSv1.3'}`,
        { hint: "minVersion and maxVersion are 'TLSv1.2' or 'TLSv1.3', min ≤ max" },
      );
    }

    libcrypto().ERR_clear_error();
    const ctx = ssl.SSL_CTX_new(ssl.TLS_client_method());
    if (!ctx) throw new TlsError('EGW_TLS_CONFIG', `SSL_CTX_new failed: ${lastOpenSslError()}`);
    this.#ctx = ctx;
    this.#privateKey = options.privateKey ?? null;
    try {
      this.#configure(options, chain, min, max);
    } catch (error) {
      ssl.SSL_CTX_free(ctx);
      this.#ctx = null;
      throw error;
    }
  }

  #configure(options: TlsCredentialOptions, chain: Uint8Array[], min: number, max: number): void {
    const ssl = libssl();
    const ctx = this.#ctx;
    const fail = (what: string, hint?: string): never => {
      throw new TlsError(
        'EGW_TLS_CONFIG',
        `TLS client: ${what}: ${lastOpenSslError()}`,
        hint ? { hint } : {},
      );
    };
    if (ssl.SSL_CTX_ctrl(ctx, SSL_CTRL.SET_MIN_PROTO_VERSION, min, null) !== 1) fail('cannot set minVersion');
    if (ssl.SSL_CTX_ctrl(ctx, SSL_CTRL.SET_MAX_PROTO_VERSION, max, null) !== 1) fail('cannot set maxVersion');
    ssl.SSL_CTX_set_options(ctx, SSL_OP.NO_RENEGOTIATION);
    // Memory BIOs: buffers may move between SSL_write retries; idle connections give back their buffers.
    ssl.SSL_CTX_ctrl(
      ctx,
      SSL_CTRL.MODE,
      SSL_MODE.ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE.RELEASE_BUFFERS,
      null,
    );
    if (options.ciphers && ssl.SSL_CTX_set_cipher_list(ctx, options.ciphers) !== 1)
      fail(`no usable TLS 1.2 cipher in "${options.ciphers}"`, 'see `openssl ciphers -v` for the names');
    if (options.ciphersuites && ssl.SSL_CTX_set_ciphersuites(ctx, options.ciphersuites) !== 1)
      fail(`bad TLS 1.3 cipher suites "${options.ciphersuites}"`, 'e.g. TLS_AES_128_GCM_SHA256');
    // Security level 2 (at least) on any OpenSSL; CCM_8 suites, if the lists name them, judged as CCM.
    applySecurityPolicy(ctx);

    ssl.SSL_CTX_set_verify(ctx, SSL_VERIFY.PEER, verifyCallback());
    const store = ssl.SSL_CTX_get_cert_store(ctx);
    for (const [index, der] of options.ca.entries()) {
      const x509 = this.#certificate(der, `ca[${index}]`);
      try {
        libcrypto().ERR_clear_error();
        // A duplicate anchor is not an error worth failing for; OpenSSL 3 accepts it silently.
        if (ssl.X509_STORE_add_cert(store, x509) !== 1) fail(`cannot add ca[${index}] to the trust store`);
      } finally {
        ssl.X509_free(x509);
      }
    }

    if (chain.length === 0) return;
    const [leafDer, ...intermediates] = chain;
    const leaf = this.#certificate(leafDer as Uint8Array, 'certificateChain[0]');
    try {
      if (ssl.SSL_CTX_use_certificate(ctx, leaf) !== 1) fail('cannot use certificateChain[0]');
    } finally {
      ssl.X509_free(leaf);
    }
    for (const [index, der] of intermediates.entries()) {
      const x509 = this.#certificate(der, `certificateChain[${index + 1}]`);
      try {
        // SSL_CTX_add1_chain_cert: OpenSSL takes its own reference.
        if (ssl.SSL_CTX_ctrl(ctx, SSL_CTRL.CHAIN_CERT, 1, x509) !== 1)
          fail(`cannot add certificateChain[${index + 1}]`);
      } finally {
        ssl.X509_free(x509);
      }
    }
    libcrypto().ERR_clear_error();
    if (ssl.SSL_CTX_use_PrivateKey(ctx, options.privateKey) !== 1)
      fail(
        'the private key does not fit certificateChain[0]',
        'the key must be the one the leaf was issued for',
      );
    if (ssl.SSL_CTX_check_private_key(ctx) !== 1)
      fail(
        'the private key does not match certificateChain[0]',
        'the key must be the one the leaf was issued for',
      );
    if (isKeyStorePrivateKey(options.privateKey)) {
      // Key stores sign 32-byte SHA-256 digests only (TPM and ATECC608A P-256 keys): never let a
      // TLS 1.2 server talk us into ECDSA with SHA-384/512 for the CertificateVerify.
      const list = Buffer.from('ECDSA+SHA256\0');
      if (ssl.SSL_CTX_ctrl(ctx, SSL_CTRL.SET_CLIENT_SIGALGS_LIST, 0, list) !== 1)
        fail('cannot restrict client signature algorithms to ECDSA+SHA256');
    }
  }

  #certificate(der: Uint8Array, what: string): Pointer {
    try {
      return x509FromDer(der);
    } catch (error) {
      throw new TlsError('EGW_TLS_CONFIG', `TLS client: ${what} is not a DER X.509 certificate`, {
        hint: 'certificates are passed as DER bytes (convert PEM first)',
        cause: error,
      });
    }
  }

  /** The SSL_CTX* (for SSL_new). Throws once freed. */
  get handle(): Pointer {
    if (!this.#ctx) throw new TlsError('EGW_TLS_CONFIG', 'TLS client context already freed');
    return this.#ctx;
  }

  /** The private key the context was built with (null without a client certificate). */
  get privateKey(): Pointer {
    return this.#privateKey;
  }

  /** Drops this object's SSL_CTX reference; open connections keep theirs. */
  free(): void {
    if (this.#ctx) libssl().SSL_CTX_free(this.#ctx);
    this.#ctx = null;
  }
}
