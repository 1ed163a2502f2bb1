import koffi, { type TypeObject } from 'koffi';
import { libcrypto } from './libcrypto.js';
import type { Pointer } from './libssl.js';

/**
 * The legacy EC_KEY_METHOD API of node's own OpenSSL (deprecated since 3.0, still present in 3.5): an EC_KEY
 * whose ECDSA signing calls back into JavaScript, so a key held in a TPM or an ATECC608A can sign TLS
 * handshakes. An EVP_PKEY holding such a key is "foreign" to OpenSSL 3, which therefore keeps it on
 * the legacy code path (EVP_PKEY_sign → ECDSA_sign → method->sign) instead of exporting it to the
 * default provider.
 *
 * Callbacks are registered once (koffi.register) and never unregistered: OpenSSL keeps the function
 * pointers in a method table for as long as any key uses it. A callback registered on a worker thread
 * runs on that thread, whichever thread OpenSSL calls it from (koffi forwards the call and waits):
 * that is how a handshake step run off the event loop signs (tls/signing-thread-worker.ts).
 */

/** `int sign(int type, const uchar *dgst, int dlen, uchar *sig, uint *siglen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *eckey)` */
export type EcSignCallback = (
  type: number,
  digest: bigint,
  digestLength: number,
  signature: bigint,
  signatureLength: bigint,
  kinv: bigint | null,
  r: bigint | null,
  ecKey: bigint,
) => number;

/** `ECDSA_SIG *sign_sig(const uchar *dgst, int dlen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *eckey)` */
export type EcSignSigCallback = (
  digest: bigint,
  digestLength: number,
  kinv: bigint | null,
  r: bigint | null,
  ecKey: bigint,
) => bigint | null;

/** `void finish(EC_KEY *key)`: OpenSSL frees the key (its last reference went away). */
export type EcFinishCallback = (ecKey: bigint) => void;

/** `int copy(EC_KEY *dest, const EC_KEY *src)`: OpenSSL duplicates the key (EC_KEY_copy/dup). */
export type EcCopyCallback = (dest: bigint, src: bigint) => number;

export interface EcKeyMethodCallbacks {
  sign: EcSignCallback;
  signSig: EcSignSigCallback;
  finish: EcFinishCallback;
  copy: EcCopyCallback;
}

export interface LibEcKey {
  EC_KEY_get_default_method(): Pointer;
  EC_KEY_METHOD_new(base: Pointer): Pointer;
  EC_KEY_METHOD_get_sign(method: Pointer, sign: [Pointer], setup: [Pointer], signSig: [Pointer]): void;
  EC_KEY_METHOD_set_sign(method: Pointer, sign: Pointer, setup: Pointer, signSig: Pointer): void;
  EC_KEY_METHOD_set_init(
    method: Pointer,
    init: Pointer,
    finish: Pointer,
    copy: Pointer,
    setGroup: Pointer,
    setPrivate: Pointer,
    setPublic: Pointer,
  ): void;
  EC_KEY_new(): Pointer;
  EC_KEY_free(key: Pointer): void;
  EC_KEY_copy(dest: Pointer, src: Pointer): Pointer;
  EC_KEY_set_method(key: Pointer, method: Pointer): number;
  EC_KEY_get_method(key: Pointer): Pointer;
  ECDSA_size(key: Pointer): number;
  EVP_PKEY_new(): Pointer;
  EVP_PKEY_free(pkey: Pointer): void;
  EVP_PKEY_get_base_id(pkey: Pointer): number;
  EVP_PKEY_get1_EC_KEY(pkey: Pointer): Pointer;
  EVP_PKEY_get0_EC_KEY(pkey: Pointer): Pointer;
  EVP_PKEY_set1_EC_KEY(pkey: Pointer, key: Pointer): number;
  ECDSA_SIG_new(): Pointer;
  ECDSA_SIG_free(sig: Pointer): void;
  ECDSA_SIG_set0(sig: Pointer, r: Pointer, s: Pointer): number;
  BN_bin2bn(bytes: Uint8Array, length: number, out: null): Pointer;
  BN_free(bn: Pointer): void;
  i2d_ECDSA_SIG(sig: Pointer, out: [Pointer] | null): number;
}

/** EVP_PKEY_EC (NID_X9_62_id_ecPublicKey). */
export const EVP_PKEY_EC = 408;

let bound: LibEcKey | undefined;

export function libEcKey(): LibEcKey {
  if (bound) return bound;
  libcrypto(); // declares EVP_PKEY and BIO
  const lib = koffi.load(null as unknown as string);
  // Other binding files may declare these too (koffi refuses a duplicate name): declare what is missing.
  for (const name of ['EC_KEY', 'EC_KEY_METHOD', 'ECDSA_SIG', 'BIGNUM']) declareOpaque(name);
  const f = (signature: string) => lib.func(signature);
  bound = {
    EC_KEY_get_default_method: f('const EC_KEY_METHOD *EC_KEY_get_default_method(void)'),
    EC_KEY_METHOD_new: f('EC_KEY_METHOD *EC_KEY_METHOD_new(const EC_KEY_METHOD *)'),
    EC_KEY_METHOD_get_sign: f(
      'void EC_KEY_METHOD_get_sign(const EC_KEY_METHOD *, _Out_ void **, _Out_ void **, _Out_ void **)',
    ),
    EC_KEY_METHOD_set_sign: f('void EC_KEY_METHOD_set_sign(EC_KEY_METHOD *, void *, void *, void *)'),
    EC_KEY_METHOD_set_init: f(
      'void EC_KEY_METHOD_set_init(EC_KEY_METHOD *, void *, void *, void *, void *, void *, void *)',
    ),
    EC_KEY_new: f('EC_KEY *EC_KEY_new(void)'),
    EC_KEY_free: f('void EC_KEY_free(EC_KEY *)'),
    EC_KEY_copy: f('EC_KEY *EC_KEY_copy(EC_KEY *, const EC_KEY *)'),
    EC_KEY_set_method: f('int EC_KEY_set_method(EC_KEY *, const EC_KEY_METHOD *)'),
    EC_KEY_get_method: f('const EC_KEY_METHOD *EC_KEY_get_method(const EC_KEY *)'),
    ECDSA_size: f('int ECDSA_size(const EC_KEY *)'),
    EVP_PKEY_new: f('EVP_PKEY *EVP_PKEY_new(void)'),
    EVP_PKEY_free: f('void EVP_PKEY_free(EVP_PKEY *)'),
    EVP_PKEY_get_base_id: f('int EVP_PKEY_get_base_id(const EVP_PKEY *)'),
    EVP_PKEY_get1_EC_KEY: f('EC_KEY *EVP_PKEY_get1_EC_KEY(EVP_PKEY *)'),
    EVP_PKEY_get0_EC_KEY: f('const EC_KEY *EVP_PKEY_get0_EC_KEY(const EVP_PKEY *)'),
    EVP_PKEY_set1_EC_KEY: f('int EVP_PKEY_set1_EC_KEY(EVP_PKEY *, EC_KEY *)'),
    ECDSA_SIG_new: f('ECDSA_SIG *ECDSA_SIG_new(void)'),
    ECDSA_SIG_free: f('void ECDSA_SIG_free(ECDSA_SIG *)'),
    ECDSA_SIG_set0: f('int ECDSA_SIG_set0(ECDSA_SIG *, BIGNUM *, BIGNUM *)'),
    BN_bin2bn: f('BIGNUM *BN_bin2bn(const uint8_t *, int, BIGNUM *)'),
    BN_free: f('void BN_free(BIGNUM *)'),
    i2d_ECDSA_SIG: f('int i2d_ECDSA_SIG(const ECDSA_SIG *, _Inout_ uint8_t **)'),
  };
  return bound;
}

function declareOpaque(name: string): void {
  try {
    koffi.type(name);
  } catch {
    koffi.opaque(name);
  }
}

interface CallbackTypes {
  sign: TypeObject;
  signSig: TypeObject;
  finish: TypeObject;
  copy: TypeObject;
}

let types: CallbackTypes | undefined;

function callbackTypes(): CallbackTypes {
  if (types) return types;
  libEcKey(); // declares the opaque types the prototypes name
  types = {
    sign: koffi.pointer(
      koffi.proto(
        'int EgwEcSign(int, const uint8_t *, int, uint8_t *, unsigned int *, const BIGNUM *, const BIGNUM *, EC_KEY *)',
      ),
    ),
    signSig: koffi.pointer(
      koffi.proto('ECDSA_SIG *EgwEcSignSig(const uint8_t *, int, const BIGNUM *, const BIGNUM *, EC_KEY *)'),
    ),
    finish: koffi.pointer(koffi.proto('void EgwEcFinish(EC_KEY *)')),
    copy: koffi.pointer(koffi.proto('int EgwEcCopy(EC_KEY *, const EC_KEY *)')),
  };
  return types;
}

/** C function pointers (koffi-registered) for a key-store EC_KEY_METHOD. */
export interface EcKeyMethodPointers {
  sign: bigint;
  signSig: bigint;
  finish: bigint;
  copy: bigint;
}

/** Registers the two signing callbacks on this thread (never unregistered: see the file comment). */
export function registerEcSignCallbacks(
  sign: EcSignCallback,
  signSig: EcSignSigCallback,
): Pick<EcKeyMethodPointers, 'sign' | 'signSig'> {
  const t = callbackTypes();
  return {
    sign: koffi.register(sign, t.sign) as bigint,
    signSig: koffi.register(signSig, t.signSig) as bigint,
  };
}

/** Registers the finish and copy callbacks on this thread (never unregistered). */
export function registerEcLifecycleCallbacks(
  finish: EcFinishCallback,
  copy: EcCopyCallback,
): Pick<EcKeyMethodPointers, 'finish' | 'copy'> {
  const t = callbackTypes();
  return {
    finish: koffi.register(finish, t.finish) as bigint,
    copy: koffi.register(copy, t.copy) as bigint,
  };
}

/**
 * A new EC_KEY_METHOD: OpenSSL's default (so verification, ECDH and key generation stay OpenSSL's
 * own) with `sign`, `sign_sig`, `finish` and `copy` replaced. Never freed: live keys point to it.
 */
export function newKeyStoreEcKeyMethod(pointers: EcKeyMethodPointers): Pointer {
  const ec = libEcKey();
  const base = ec.EC_KEY_get_default_method();
  const created = ec.EC_KEY_METHOD_new(base);
  if (!created) throw new Error('EC_KEY_METHOD_new failed (out of memory)');
  // Keep OpenSSL's sign_setup (it precomputes k⁻¹ and r for the software path; harmless for ours).
  const defaultSetup: [Pointer] = [null];
  ec.EC_KEY_METHOD_get_sign(base, [null], defaultSetup, [null]);
  ec.EC_KEY_METHOD_set_sign(created, pointers.sign, defaultSetup[0], pointers.signSig);
  // OpenSSL's default method has no init/finish/copy/set_* hooks, so only ours are set.
  ec.EC_KEY_METHOD_set_init(created, null, pointers.finish, pointers.copy, null, null, null);
  return created;
}
