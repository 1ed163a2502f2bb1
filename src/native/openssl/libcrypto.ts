import koffi from 'koffi';
import { checkOpenSslVersion, type OpenSslSupport, OpenSslVersionError } from './supported-versions.js';

/**
 * libcrypto functions of node's own OpenSSL, bound through koffi.
 *
 * `koffi.load(null)` opens the running process, so these are the symbols node itself uses (statically
 * linked or the system copy node was built against). Loading libssl.so.3 by name could mix two
 * OpenSSL copies in one process: never do that.
 */
export interface LibCrypto {
  OpenSSL_version(type: number): string;
  OpenSSL_version_num(): number;
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
let support: OpenSslSupport | undefined;

/**
 * The runtime's OpenSSL against the versions the bindings were written for (supported-versions.ts):
 * the verdict ('supported', or 'unchecked' for a newer 3.x, which callers should log), or
 * OpenSslVersionError. Asked before any other prototype is declared, by libcrypto() and so by every
 * binding; the daemon asks first thing at start-up to log it.
 */
export function openSslRuntime(): OpenSslSupport {
  if (support) return support;
  const lib = koffi.load(null as unknown as string);
  let found: OpenSslSupport;
  try {
    const versionNumber = lib.func('unsigned long OpenSSL_version_num(void)') as () => number;
    const versionText = lib.func('const char *OpenSSL_version(int)') as (type: number) => string | null;
    found = checkOpenSslVersion(versionNumber(), versionText(0) ?? '');
  } catch (cause) {
    throw new OpenSslVersionError(
      'unknown',
      'this node has no OpenSSL_version_num (not OpenSSL 1.1 or later: BoringSSL, LibreSSL or OpenSSL 1.0?)',
      { cause },
    );
  }
  if (found.verdict === 'unsupported') throw new OpenSslVersionError(found.version, found.reason);
  support = found;
  return found;
}

export function libcrypto(): LibCrypto {
  if (bound) return bound;
  openSslRuntime();
  const lib = koffi.load(null as unknown as string);
  koffi.opaque('BIO');
  koffi.opaque('EVP_PKEY');
  koffi.opaque('EVP_PKEY_CTX');
  bound = {
    OpenSSL_version: lib.func('const char *OpenSSL_version(int)'),
    OpenSSL_version_num: lib.func('unsigned long OpenSSL_version_num(void)'),
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
