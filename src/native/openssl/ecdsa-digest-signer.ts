import { GatewayError } from '../../errors/index.js';
import { lastOpenSslError, libcrypto } from './libcrypto.js';

/**
 * Signs a precomputed digest with an EC private key, as a TPM or an ATECC608A does.
 *
 * node:crypto cannot: it always hashes its input. EVP_PKEY_sign on node's own OpenSSL takes the
 * digest as is. The key is parsed once and kept in OpenSSL memory until `free()`.
 */
export class EcdsaDigestSigner {
  #key: unknown;
  #ctx: unknown;

  /** `pkcs8` is a DER PKCS#8 (or SEC1) EC private key, P-256. */
  constructor(pkcs8: Uint8Array) {
    const c = libcrypto();
    c.ERR_clear_error();
    const der = Buffer.from(pkcs8);
    const bio = c.BIO_new_mem_buf(der, der.length);
    try {
      this.#key = c.d2i_PrivateKey_bio(bio, null);
    } finally {
      c.BIO_free(bio);
    }
    if (!this.#key)
      throw new GatewayError('EGW_OPENSSL_KEY', `cannot parse the private key: ${lastOpenSslError()}`);
    this.#ctx = c.EVP_PKEY_CTX_new(this.#key, null);
    if (!this.#ctx || c.EVP_PKEY_sign_init(this.#ctx) !== 1) {
      const reason = lastOpenSslError();
      this.free();
      throw new GatewayError('EGW_OPENSSL_KEY', `cannot set up signing with the key: ${reason}`);
    }
  }

  /** ECDSA over `digest` (32 bytes for P-256 / SHA-256); returns r‖s, 32 bytes each (IEEE P1363). */
  sign(digest: Uint8Array): Uint8Array {
    if (!this.#ctx) throw new GatewayError('EGW_OPENSSL_KEY', 'signer already freed');
    const c = libcrypto();
    c.ERR_clear_error();
    const der = Buffer.alloc(80);
    const length: [number] = [der.length];
    if (c.EVP_PKEY_sign(this.#ctx, der, length, digest, digest.length) !== 1) {
      throw new GatewayError('EGW_OPENSSL_SIGN', `ECDSA signing failed: ${lastOpenSslError()}`);
    }
    return ecdsaDerToRaw(der.subarray(0, length[0]));
  }

  free(): void {
    const c = libcrypto();
    if (this.#ctx) c.EVP_PKEY_CTX_free(this.#ctx);
    if (this.#key) c.EVP_PKEY_free(this.#key);
    this.#ctx = undefined;
    this.#key = undefined;
  }
}

/** ECDSA-Sig-Value (DER SEQUENCE of two INTEGERs) → r‖s with each left-padded to 32 bytes. */
export function ecdsaDerToRaw(der: Uint8Array, size = 32): Uint8Array {
  const raw = new Uint8Array(size * 2);
  let offset = 2; // SEQUENCE tag + short length (an ECDSA P-256 signature is < 128 bytes)
  if (der[0] !== 0x30) throw new GatewayError('EGW_OPENSSL_SIGN', 'malformed ECDSA signature');
  for (const half of [0, 1]) {
    if (der[offset] !== 0x02) throw new GatewayError('EGW_OPENSSL_SIGN', 'malformed ECDSA signature');
    const length = der[offset + 1] ?? 0;
    let value = der.subarray(offset + 2, offset + 2 + length);
    while (value.length > size && value[0] === 0) value = value.subarray(1);
    raw.set(value, half * size + (size - value.length));
    offset += 2 + length;
  }
  return raw;
}
