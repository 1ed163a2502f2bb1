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
  const setParams = f('int EVP_MAC_CTX_set_params(void *, void *)') as (
    ctx: bigint,
    params: Buffer,
  ) => number;
  const encoded = new WeakMap<Buffer, Buffer>();
  bound = {
    SSL_CTX_set_tlsext_ticket_key_evp_cb: f(
      'int SSL_CTX_set_tlsext_ticket_key_evp_cb(SSL_CTX *, egw_ticket_key_cb *)',
    ),
    EVP_aes_256_cbc: f('void *EVP_aes_256_cbc(void)'),
    EVP_EncryptInit_ex: f('int EVP_EncryptInit_ex(void *, void *, void *, const uint8_t *, void *)'),
    EVP_DecryptInit_ex: f('int EVP_DecryptInit_ex(void *, void *, void *, const uint8_t *, void *)'),
    SSL_SESSION_set_timeout: f('long SSL_SESSION_set_timeout(SSL_SESSION *, long)'),
    SSL_SESSION_get_time: f('long SSL_SESSION_get_time(const SSL_SESSION *)'),
    // The OSSL_PARAM array is encoded once per HMAC key (a ticket key lives for hours), not per ticket.
    setMacParams: (macCtx, hmacKey) => {
      let params = encoded.get(hmacKey);
      if (!params) {
        params = macParams(hmacKey);
        encoded.set(hmacKey, params);
      }
      return setParams(macCtx, params);
    },
  };
  return bound;
}

/** C strings the encoded OSSL_PARAM arrays point to: module-lifetime, so their addresses stay valid. */
const PARAM_KEY = Buffer.from('key\0');
const PARAM_DIGEST = Buffer.from('digest\0');
const DIGEST_SHA256 = Buffer.from('SHA256\0');

/**
 * { "key": hmacKey (octets), "digest": "SHA256" (UTF-8), end } as OSSL_PARAM[3] in a Buffer laid out
 * by koffi's egw_ossl_param. The array holds the key's address: the Buffer keeps `hmacKey` alive
 * (backing stores do not move), and OpenSSL copies the key when the params are set.
 */
function macParams(hmacKey: Buffer): Buffer {
  const size = koffi.sizeof('egw_ossl_param');
  const at = (member: string) => koffi.offsetof('egw_ossl_param', member);
  const params = Buffer.alloc(size * 3);
  // Pointers and size_t are 4 or 8 bytes (32-bit ARM boards too), little-endian like every target.
  const word = koffi.sizeof('void *');
  const writeWord = (value: bigint | number, offset: number) =>
    word === 8 ? params.writeBigUInt64LE(BigInt(value), offset) : params.writeUInt32LE(Number(value), offset);
  const entry = (index: number, key: Buffer, type: number, data: Buffer, dataSize: number) => {
    const base = index * size;
    writeWord(koffi.address(key), base + at('key'));
    params.writeUInt32LE(type, base + at('data_type'));
    writeWord(koffi.address(data), base + at('data'));
    writeWord(dataSize, base + at('data_size'));
  };
  entry(0, PARAM_KEY, OSSL_PARAM_OCTET_STRING, hmacKey, hmacKey.length);
  entry(1, PARAM_DIGEST, OSSL_PARAM_UTF8_STRING, DIGEST_SHA256, DIGEST_SHA256.length - 1);
  // The third entry stays zero: OSSL_PARAM_END.
  Object.defineProperty(params, 'keepAlive', { value: hmacKey });
  return params;
}

/** Registers the ticket key callback; free with koffi.unregister. */
export function registerTicketKeyCallback(callback: TicketKeyCallback): bigint {
  libsslTicket();
  return koffi.register(callback, 'egw_ticket_key_cb *');
}
