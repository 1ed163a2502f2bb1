import koffi from 'koffi';
import { libssl, type Pointer } from './libssl.js';

/**
 * RFC 5077 session tickets on node's own OpenSSL: the ticket key callback
 * (SSL_CTX_set_tlsext_ticket_key_evp_cb, 3.0+), what it needs to key the cipher and the HMAC with our
 * keys (EVP_*Init_ex, EVP_MAC_CTX_set_params through an OSSL_PARAM array), and the session's timeout
 * (a ticket carries it; OpenSSL refuses an expired one on decryption). Pointers are BigInt (koffi 3).
 */

/**
 * `int cb(SSL *s, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX *ctx,
 * EVP_MAC_CTX *hctx, int enc)`: enc 1 issues (fill name and IV, key both contexts; return 1), enc 0
 * decrypts (0: not ours, full handshake; 1: good; 2: good, issue a fresh ticket; -1: error).
 */
export type TicketKeyCallback = (
  ssl: bigint,
  keyName: bigint,
  iv: bigint,
  cipherCtx: bigint,
  macCtx: bigint,
  enc: number,
) => number;

/** OSSL_PARAM data types (openssl/core.h). */
const OSSL_PARAM_UTF8_STRING = 4;
const OSSL_PARAM_OCTET_STRING = 5;

export interface LibSslTicket {
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx: Pointer, callback: bigint | null): number;
  EVP_aes_256_cbc(): Pointer;
  EVP_EncryptInit_ex(ctx: bigint, cipher: Pointer, engine: null, key: Buffer, iv: bigint): number;
  EVP_DecryptInit_ex(ctx: bigint, cipher: Pointer, engine: null, key: Buffer, iv: bigint): number;
  SSL_SESSION_set_timeout(session: Pointer, seconds: number): number;
  SSL_SESSION_get_time(session: Pointer): number;
}

let bound: (LibSslTicket & { setMacParams: (macCtx: bigint, hmacKey: Buffer) => number }) | undefined;

export function libsslTicket(): LibSslTicket & {
  /** Keys an HMAC EVP_MAC_CTX with SHA-256 and `hmacKey`; 1 on success. */
  setMacParams: (macCtx: bigint, hmacKey: Buffer) => number;
} {
  if (bound) return bound;
  libssl(); // declares SSL, SSL_CTX, SSL_SESSION
  const lib = koffi.load(null as unknown as string);
  koffi.proto(
    'int egw_ticket_key_cb(SSL *s, void *key_name, void *iv, void *cipher_ctx, void *mac_ctx, int enc)',
  );
  koffi.struct('egw_ossl_param', {
    key: 'const char *',
    data_type: 'uint32_t',
    data: 'void *',
    data_size: 'size_t',
    return_size: 'size_t',
  });
  const f = (signature: string) => lib.func(signature);
  const setParams = f('int EVP_MAC_CTX_set_params(void *, const egw_ossl_param *)') as (
    ctx: bigint,
    params: object[],
  ) => number;
  const digest = Buffer.from('SHA256\0');
  bound = {
    SSL_CTX_set_tlsext_ticket_key_evp_cb: f(
      'int SSL_CTX_set_tlsext_ticket_key_evp_cb(SSL_CTX *, egw_ticket_key_cb *)',
    ),
    EVP_aes_256_cbc: f('void *EVP_aes_256_cbc(void)'),
    EVP_EncryptInit_ex: f('int EVP_EncryptInit_ex(void *, void *, void *, const uint8_t *, void *)'),
    EVP_DecryptInit_ex: f('int EVP_DecryptInit_ex(void *, void *, void *, const uint8_t *, void *)'),
    SSL_SESSION_set_timeout: f('long SSL_SESSION_set_timeout(SSL_SESSION *, long)'),
    SSL_SESSION_get_time: f('long SSL_SESSION_get_time(const SSL_SESSION *)'),
    setMacParams: (macCtx, hmacKey) =>
      // The buffers are referenced until the call returns; OpenSSL copies the key.
      setParams(macCtx, [
        {
          key: 'key',
          data_type: OSSL_PARAM_OCTET_STRING,
          data: koffi.address(hmacKey),
          data_size: hmacKey.length,
          return_size: 0,
        },
        {
          key: 'digest',
          data_type: OSSL_PARAM_UTF8_STRING,
          data: koffi.address(digest),
          data_size: digest.length - 1,
          return_size: 0,
        },
        { key: null, data_type: 0, data: null, data_size: 0, return_size: 0 },
      ]),
  };
  return bound;
}

/** Registers the ticket key callback; free with koffi.unregister. */
export function registerTicketKeyCallback(callback: TicketKeyCallback): bigint {
  libsslTicket();
  return koffi.register(callback, 'egw_ticket_key_cb *');
}
