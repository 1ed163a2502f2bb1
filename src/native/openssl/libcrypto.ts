import koffi from 'koffi';

/**
 * libcrypto functions of node's own OpenSSL, bound through koffi.
 *
 * `koffi.load(null)` opens the running process, so these are the symbols node itself uses (statically
 * linked or the system copy node was built against). Loading libssl.so.3 by name could mix two
 * OpenSSL copies in one process: never do that.
 */
export interface LibCrypto {
  OpenSSL_version(type: number): string;
  ERR_get_error(): number;
  ERR_error_string_n(code: number, buffer: Buffer, length: number): void;
  ERR_clear_error(): void;
  BIO_new_mem_buf(data: Buffer, length: number): unknown;
  BIO_free(bio: unknown): number;
  d2i_PrivateKey_bio(bio: unknown, out: null): unknown;
  EVP_PKEY_free(key: unknown): void;
  EVP_PKEY_CTX_new(key: unknown, engine: null): unknown;
  EVP_PKEY_CTX_free(ctx: unknown): void;
  EVP_PKEY_sign_init(ctx: unknown): number;
  EVP_PKEY_sign(
    ctx: unknown,
    signature: Buffer,
    length: [number],
    digest: Uint8Array,
    digestLength: number,
  ): number;
}

let bound: LibCrypto | undefined;

export function libcrypto(): LibCrypto {
  if (bound) return bound;
  const lib = koffi.load(null as unknown as string);
  koffi.opaque('BIO');
  koffi.opaque('EVP_PKEY');
  koffi.opaque('EVP_PKEY_CTX');
  bound = {
    OpenSSL_version: lib.func('const char *OpenSSL_version(int)'),
    ERR_get_error: lib.func('unsigned long ERR_get_error(void)'),
    ERR_error_string_n: lib.func('void ERR_error_string_n(unsigned long, _Out_ uint8_t *, size_t)'),
    ERR_clear_error: lib.func('void ERR_clear_error(void)'),
    BIO_new_mem_buf: lib.func('BIO *BIO_new_mem_buf(const void *, int)'),
    BIO_free: lib.func('int BIO_free(BIO *)'),
    d2i_PrivateKey_bio: lib.func('EVP_PKEY *d2i_PrivateKey_bio(BIO *, void *)'),
    EVP_PKEY_free: lib.func('void EVP_PKEY_free(EVP_PKEY *)'),
    EVP_PKEY_CTX_new: lib.func('EVP_PKEY_CTX *EVP_PKEY_CTX_new(EVP_PKEY *, void *)'),
    EVP_PKEY_CTX_free: lib.func('void EVP_PKEY_CTX_free(EVP_PKEY_CTX *)'),
    EVP_PKEY_sign_init: lib.func('int EVP_PKEY_sign_init(EVP_PKEY_CTX *)'),
    EVP_PKEY_sign: lib.func(
      'int EVP_PKEY_sign(EVP_PKEY_CTX *, _Out_ uint8_t *, _Inout_ size_t *, const uint8_t *, size_t)',
    ),
  };
  return bound;
}

/** The oldest queued OpenSSL error as text (and clears the queue), for error messages. */
export function lastOpenSslError(): string {
  const c = libcrypto();
  const code = c.ERR_get_error();
  c.ERR_clear_error();
  if (code === 0) return 'no OpenSSL error queued';
  const buffer = Buffer.alloc(256);
  c.ERR_error_string_n(code, buffer, buffer.length);
  return buffer.toString('utf8', 0, buffer.indexOf(0));
}
