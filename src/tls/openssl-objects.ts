import { lastOpenSslError, libcrypto } from '../native/openssl/index.js';
import { BIO_CTRL, libssl, type Pointer } from '../native/openssl/libssl.js';
import { TlsError } from './tls-error.js';

/**
 * Moving certificates and keys between JavaScript (DER bytes) and OpenSSL objects. Every object
 * returned here is owned by the caller: free it with X509_free / EVP_PKEY_free (or hand it to a
 * function that takes ownership).
 */
function withMemoryBio<T>(bytes: Uint8Array | undefined, body: (bio: Pointer) => T): T {
  const ssl = libssl();
  const bio = ssl.BIO_new(ssl.BIO_s_mem());
  try {
    if (bytes && bytes.length > 0) ssl.BIO_write(bio, Buffer.from(bytes), bytes.length);
    return body(bio);
  } finally {
    ssl.BIO_free(bio);
  }
}

/** X509* from DER. */
export function x509FromDer(der: Uint8Array): Pointer {
  libcrypto().ERR_clear_error();
  const x509 = withMemoryBio(der, (bio) => libssl().d2i_X509_bio(bio, null));
  if (!x509) throw new TlsError('EGW_TLS_CONFIG', `not a DER X.509 certificate: ${lastOpenSslError()}`);
  return x509;
}

/** DER of an X509* (the object is not freed). */
export function derFromX509(x509: Pointer): Uint8Array {
  const ssl = libssl();
  return withMemoryBio(undefined, (bio) => {
    if (ssl.i2d_X509_bio(bio, x509) !== 1) throw new TlsError('EGW_TLS_CONFIG', 'cannot encode certificate');
    const length = ssl.BIO_ctrl(bio, BIO_CTRL.PENDING, 0, null);
    const out = Buffer.alloc(length);
    ssl.BIO_read(bio, out, length);
    return new Uint8Array(out);
  });
}

/** DERs of a STACK_OF(X509) (e.g. SSL_get_peer_cert_chain, X509_STORE_CTX_get0_chain); not freed. */
export function dersFromX509Stack(stack: Pointer): Uint8Array[] {
  if (!stack) return [];
  const ssl = libssl();
  const count = ssl.OPENSSL_sk_num(stack);
  const ders: Uint8Array[] = [];
  for (let i = 0; i < count; i++) ders.push(derFromX509(ssl.OPENSSL_sk_value(stack, i)));
  return ders;
}

/** EVP_PKEY* from a DER PKCS#8 private key (a dedicated software key, tests). */
export function privateKeyFromPkcs8(pkcs8: Uint8Array): Pointer {
  const crypto = libcrypto();
  crypto.ERR_clear_error();
  const key = withMemoryBio(pkcs8, (bio) => crypto.d2i_PrivateKey_bio(bio, null));
  if (!key) throw new TlsError('EGW_TLS_CONFIG', `not a DER PKCS#8 private key: ${lastOpenSslError()}`);
  return key;
}

/** EVP_PKEY* (public only) from SPKI DER. */
export function publicKeyFromSpki(spki: Uint8Array): Pointer {
  libcrypto().ERR_clear_error();
  const key = withMemoryBio(spki, (bio) => libssl().d2i_PUBKEY_bio(bio, null));
  if (!key) throw new TlsError('EGW_TLS_CONFIG', `not a DER SubjectPublicKeyInfo: ${lastOpenSslError()}`);
  return key;
}
