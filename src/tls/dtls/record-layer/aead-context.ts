import { libcrypto } from '../../../native/openssl/index.js';
import { EVP_AEAD_CTRL as CTRL, libcryptoAead } from '../../../native/openssl/libcrypto-aead.js';
import type { AeadSuite } from './aead-suite.js';

/** Nonce length of every DTLS 1.2 AEAD suite (RFC 5288 §3, RFC 6655 §3, RFC 7905 §2). */
const NONCE_LENGTH = 12;

/**
 * One OpenSSL EVP_CIPHER_CTX for one cipher, tag length and direction, shared by every session of the
 * thread and re-keyed per record (skipped when the same key comes twice in a row).
 *
 * Why: node:crypto has no way to change a cipher's nonce, so createCipheriv/createDecipheriv made a
 * cipher object (and an EVP_CIPHER_CTX, a key schedule, a cipher fetch) per record: ~3.4 µs per record
 * of the 40-byte CoAP kind, ~17 % of the daemon's CPU under CoAP load. Through one kept context it is
 * ~0.7 µs (see RecordProtection). One context per thread instead of two per session, because an idle
 * session must stay small: the key schedule costs ~0.2 µs per record, two contexts ~2 KB per session.
 *
 * Each record sets the nonce (and so resets the AEAD state: GHASH/Poly1305 accumulators, CCM's
 * lengths and flags) before anything else, so a record that failed to authenticate leaves nothing the
 * next one sees. A failure also clears OpenSSL's error queue, which the thread shares with libssl.
 */
export class AeadContext {
  readonly #ctx: unknown;
  readonly #encrypt: number;
  readonly #tagLength: number;
  readonly #ccm: boolean;
  /** The key the context holds (compared by identity: session keys are never changed in place). */
  #key: Uint8Array | undefined;

  private constructor(suite: AeadSuite, encrypt: boolean) {
    const c = libcryptoAead();
    const cipher = c.EVP_CIPHER_fetch(null, suite.algorithm, null);
    if (!cipher) throw new Error(`OpenSSL has no ${suite.algorithm}`);
    const ctx = c.EVP_CIPHER_CTX_new();
    this.#encrypt = encrypt ? 1 : 0;
    this.#tagLength = suite.tagLength;
    this.#ccm = suite.algorithm.endsWith('-ccm');
    const ok =
      c.EVP_CipherInit_ex(ctx, cipher, null, null, null, this.#encrypt) === 1 &&
      c.EVP_CIPHER_CTX_ctrl(ctx, CTRL.EVP_CTRL_AEAD_SET_IVLEN, NONCE_LENGTH, null) === 1 &&
      // CCM fixes its tag length with the key: set it first (GCM and ChaCha20 take it at the end).
      (!this.#ccm || c.EVP_CIPHER_CTX_ctrl(ctx, CTRL.EVP_CTRL_AEAD_SET_TAG, this.#tagLength, null) === 1);
    c.EVP_CIPHER_free(cipher); // the context holds its own reference
    if (!ok) {
      c.EVP_CIPHER_CTX_free(ctx);
      libcrypto().ERR_clear_error();
      throw new Error(`OpenSSL refused to set up ${suite.algorithm}`);
    }
    this.#ctx = ctx;
  }

  static #contexts = new Map<string, AeadContext>();

  /** The thread's context for `suite` in one direction (made on first use, kept for the process). */
  static for(suite: AeadSuite, encrypt: boolean): AeadContext {
    const name = `${suite.algorithm}/${suite.tagLength}/${encrypt ? 'seal' : 'open'}`;
    let context = AeadContext.#contexts.get(name);
    if (!context) {
      context = new AeadContext(suite, encrypt);
      AeadContext.#contexts.set(name, context);
    }
    return context;
  }

  /**
   * Encrypts `plaintext` into `out` at `offset` and appends the tag there. False if OpenSSL failed
   * (nothing usable was written).
   */
  seal(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    out: Buffer,
    offset: number,
  ): boolean {
    const c = libcryptoAead();
    const ctx = this.#ctx;
    const length = plaintext.length;
    const sealed = out.subarray(offset, offset + length + this.#tagLength);
    const ok =
      this.#start(key, nonce) &&
      (!this.#ccm || c.EVP_CipherUpdate(ctx, null, outLength, null, length) === 1) &&
      c.EVP_CipherUpdate(ctx, null, outLength, aad, aad.length) === 1 &&
      // Always called, empty or not: CCM computes its tag here (a NULL input would skip that).
      (length > 0
        ? c.EVP_CipherUpdate(ctx, sealed, outLength, plaintext, length) === 1
        : c.EVP_CipherUpdate(ctx, scratch, outLength, scratch, 0) === 1) &&
      c.EVP_CipherFinal_ex(ctx, scratch, outLength) === 1 &&
      c.EVP_CIPHER_CTX_ctrl(ctx, CTRL.EVP_CTRL_AEAD_GET_TAG, this.#tagLength, sealed.subarray(length)) === 1;
    if (!ok) libcrypto().ERR_clear_error();
    return ok;
  }

  /**
   * Decrypts `ciphertext` into `out` (as long) if `tag` authenticates it with `aad`; false otherwise,
   * and then `out` holds nothing to use.
   */
  open(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    ciphertext: Uint8Array,
    tag: Uint8Array,
    out: Buffer,
  ): boolean {
    const c = libcryptoAead();
    const ctx = this.#ctx;
    const length = ciphertext.length;
    const ok =
      tag.length === this.#tagLength &&
      this.#start(key, nonce) &&
      // CCM checks the tag in the update that decrypts, GCM and ChaCha20 in the final: set it first.
      c.EVP_CIPHER_CTX_ctrl(ctx, CTRL.EVP_CTRL_AEAD_SET_TAG, this.#tagLength, tag) === 1 &&
      (!this.#ccm || c.EVP_CipherUpdate(ctx, null, outLength, null, length) === 1) &&
      c.EVP_CipherUpdate(ctx, null, outLength, aad, aad.length) === 1 &&
      (length > 0
        ? c.EVP_CipherUpdate(ctx, out, outLength, ciphertext, length) === 1
        : c.EVP_CipherUpdate(ctx, scratch, outLength, scratch, 0) === 1) &&
      (this.#ccm || c.EVP_CipherFinal_ex(ctx, scratch, outLength) === 1);
    if (!ok) libcrypto().ERR_clear_error();
    return ok;
  }

  /** Sets the nonce, and the key unless the context already holds that very key. */
  #start(key: Uint8Array, nonce: Uint8Array): boolean {
    const c = libcryptoAead();
    if (key === this.#key)
      return c.EVP_CipherInit_ex(this.#ctx, null, null, null, nonce, this.#encrypt) === 1;
    this.#key = undefined;
    if (c.EVP_CipherInit_ex(this.#ctx, null, null, key, nonce, this.#encrypt) !== 1) return false;
    this.#key = key;
    return true;
  }
}

/** EVP's output-length out-parameter, and the bytes a final writes (none for these modes). */
const outLength = new Int32Array(1);
const scratch = Buffer.alloc(32);
