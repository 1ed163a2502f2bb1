import koffi from 'koffi';
import { libcrypto } from './libcrypto.js';

/**
 * The EVP cipher calls of node's own OpenSSL that an AEAD context needs (EVP_CIPHER_CTX kept across
 * records: only the key and nonce change), bound through koffi on the same process handle as
 * libcrypto.ts. Contexts and ciphers are plain `void *` here: the session-ticket bindings name the same
 * types, and koffi refuses a second declaration of an opaque name.
 */
export interface LibCryptoAead {
  EVP_CIPHER_fetch(libctx: null, algorithm: string, properties: null): unknown;
  EVP_CIPHER_free(cipher: unknown): void;
  EVP_CIPHER_CTX_new(): unknown;
  EVP_CIPHER_CTX_free(ctx: unknown): void;
  EVP_CipherInit_ex(
    ctx: unknown,
    cipher: unknown,
    engine: null,
    key: Uint8Array | null,
    iv: Uint8Array | null,
    enc: number,
  ): number;
  EVP_CIPHER_CTX_ctrl(ctx: unknown, type: number, arg: number, ptr: Uint8Array | null): number;
  /** `out` null with `in` null: CCM's total plaintext length; `out` null: additional data. */
  EVP_CipherUpdate(
    ctx: unknown,
    out: Uint8Array | null,
    outLength: Int32Array,
    input: Uint8Array | null,
    inputLength: number,
  ): number;
  EVP_CipherFinal_ex(ctx: unknown, out: Uint8Array, outLength: Int32Array): number;
}

/** EVP_CIPHER_CTX_ctrl commands of include/openssl/evp.h (the AEAD aliases of the GCM/CCM ones). */
export const EVP_AEAD_CTRL = {
  EVP_CTRL_AEAD_SET_IVLEN: 0x9,
  EVP_CTRL_AEAD_GET_TAG: 0x10,
  EVP_CTRL_AEAD_SET_TAG: 0x11,
} as const;

let bound: LibCryptoAead | undefined;

export function libcryptoAead(): LibCryptoAead {
  if (bound) return bound;
  libcrypto(); // checks the OpenSSL version before any prototype is declared
  const lib = koffi.load(null as unknown as string);
  const f = (signature: string) => lib.func(signature);
  bound = {
    EVP_CIPHER_fetch: f('void *EVP_CIPHER_fetch(void *, const char *, const char *)'),
    EVP_CIPHER_free: f('void EVP_CIPHER_free(void *)'),
    EVP_CIPHER_CTX_new: f('void *EVP_CIPHER_CTX_new(void)'),
    EVP_CIPHER_CTX_free: f('void EVP_CIPHER_CTX_free(void *)'),
    EVP_CipherInit_ex: f(
      'int EVP_CipherInit_ex(void *, const void *, void *, const uint8_t *, const uint8_t *, int)',
    ),
    EVP_CIPHER_CTX_ctrl: f('int EVP_CIPHER_CTX_ctrl(void *, int, int, void *)'),
    EVP_CipherUpdate: f('int EVP_CipherUpdate(void *, uint8_t *, int *, const uint8_t *, int)'),
    EVP_CipherFinal_ex: f('int EVP_CipherFinal_ex(void *, uint8_t *, int *)'),
  };
  return bound;
}
