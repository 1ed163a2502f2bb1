/**
 * An OpenSSL private key (EVP_PKEY*) whose ECDSA signatures come from a KeyStore: the gateway's
 * identity key stays in the TPM or the ATECC608A, and TLS/DTLS handshakes still sign with it.
 *
 * How: the EVP_PKEY holds an EC_KEY with the public half only and our EC_KEY_METHOD. When a handshake
 * needs a signature (TLS 1.3 CertificateVerify, a TLS 1.2 client CertificateVerify, a DTLS server's
 * ServerKeyExchange), OpenSSL hashes the transcript and calls the method's `sign` with the digest; we
 * pass it to `store.signDigestSync()` and hand back the DER ECDSA-Sig-Value (or an ECDSA_SIG for
 * `sign_sig`).
 *
 * Why synchronous, and why that is acceptable: OpenSSL calls the method from inside SSL_do_handshake
 * (or SSL_read/SSL_write when a handshake message arrives) and needs the signature before it returns;
 * a callback cannot await. signDigestSync() blocks only the calling (main) thread in Atomics.wait
 * until the key device's worker answers: one signature, ~1 ms on swtpm, tens of ms on a real TPM,
 * up to ~115 ms on an ATECC608A, bounded by the store's call timeout. A gateway makes one such
 * signature per upstream connection (re)establishment and per downstream DTLS handshake, which is
 * rare next to the traffic those sessions then carry; every other part of the engine stays
 * non-blocking. A provider with asynchronous signing (SSL_MODE_ASYNC) would remove the stall and is
 * the long-term route.
 *
 * On a KeyStore failure the callback returns 0 (NULL for sign_sig): OpenSSL fails the handshake, and
 * the KeyError is kept for the TLS layer to report (takeKeyStoreError).
 */
import koffi from 'koffi';
import { KeyError, type KeyStore } from '../keys/index.js';
import { EVP_PKEY_EC, keyStoreEcKeyMethod, libEcKey } from '../native/openssl/ec-key-method.js';
import { lastOpenSslError, libcrypto } from '../native/openssl/index.js';
import type { Pointer } from '../native/openssl/libssl.js';
import { publicKeyFromSpki } from './openssl-objects.js';
import { TlsError } from './tls-error.js';

interface KeyHook {
  store: KeyStore;
  /** The EVP_PKEY made around this EC_KEY by keyStorePrivateKey (absent for copies OpenSSL made). */
  pkey: bigint | undefined;
  /** The failure of the last signing attempt with this key, until taken or a signature succeeds. */
  error: KeyError | undefined;
}

/** EC_KEY address → its KeyStore. Entries go when OpenSSL frees the EC_KEY (the method's finish). */
const hooks = new Map<bigint, KeyHook>();
/** EVP_PKEY address → EC_KEY address, for the keys made here; cleaned up with their EC_KEY. */
const pkeys = new Map<bigint, bigint>();

const P256_SIGNATURE_HALF = 32;

function signThroughStore(hook: KeyHook, digestPointer: bigint, digestLength: number): Uint8Array | null {
  try {
    const digest = new Uint8Array(koffi.view(digestPointer, digestLength).slice(0));
    const signature = hook.store.signDigestSync(digest);
    if (signature.length !== 2 * P256_SIGNATURE_HALF) {
      throw new KeyError(
        'EGW_KEY_DEVICE_ERROR',
        `the ${hook.store.info.backend} key store returned a ${signature.length}-byte signature, expected r‖s of 64 bytes`,
      );
    }
    hook.error = undefined;
    return signature;
  } catch (error) {
    hook.error =
      error instanceof KeyError
        ? error
        : new KeyError('EGW_KEY_DEVICE_ERROR', `key store signing failed: ${String(error)}`, {
            cause: error,
          });
    return null;
  }
}

/** r‖s → ECDSA_SIG* (caller owns), or null. */
function ecdsaSig(raw: Uint8Array): bigint | null {
  const ec = libEcKey();
  const r = ec.BN_bin2bn(raw.subarray(0, P256_SIGNATURE_HALF), P256_SIGNATURE_HALF, null);
  const s = ec.BN_bin2bn(raw.subarray(P256_SIGNATURE_HALF), P256_SIGNATURE_HALF, null);
  const sig = ec.ECDSA_SIG_new();
  if (!r || !s || !sig) {
    if (r) ec.BN_free(r);
    if (s) ec.BN_free(s);
    if (sig) ec.ECDSA_SIG_free(sig);
    return null;
  }
  ec.ECDSA_SIG_set0(sig, r, s); // takes r and s
  return sig as bigint;
}

function onSign(
  _type: number,
  digest: bigint,
  digestLength: number,
  signature: bigint,
  signatureLength: bigint,
  _kinv: bigint | null,
  _r: bigint | null,
  ecKey: bigint,
): number {
  const hook = hooks.get(ecKey);
  if (!hook) return 0;
  const raw = signThroughStore(hook, digest, digestLength);
  if (!raw) return 0;
  const ec = libEcKey();
  const sig = ecdsaSig(raw);
  if (!sig) return 0;
  try {
    // OpenSSL sized `signature` with ECDSA_size(eckey); DER of a P-256 signature always fits.
    const needed = ec.i2d_ECDSA_SIG(sig, null);
    if (needed <= 0 || needed > ec.ECDSA_size(ecKey)) return 0;
    const cursor: [Pointer] = [signature];
    const written = ec.i2d_ECDSA_SIG(sig, cursor);
    if (written !== needed) return 0;
    koffi.encode(signatureLength, 'unsigned int', written);
    return 1;
  } finally {
    ec.ECDSA_SIG_free(sig);
  }
}

function onSignSig(
  digest: bigint,
  digestLength: number,
  _kinv: bigint | null,
  _r: bigint | null,
  ecKey: bigint,
): bigint | null {
  const hook = hooks.get(ecKey);
  if (!hook) return null;
  const raw = signThroughStore(hook, digest, digestLength);
  return raw ? ecdsaSig(raw) : null;
}

function onFinish(ecKey: bigint): void {
  const hook = hooks.get(ecKey);
  hooks.delete(ecKey);
  if (hook?.pkey !== undefined && pkeys.get(hook.pkey) === ecKey) pkeys.delete(hook.pkey);
}

function onCopy(dest: bigint, src: bigint): number {
  const hook = hooks.get(src);
  if (hook) hooks.set(dest, { store: hook.store, pkey: undefined, error: undefined });
  return 1;
}

function method(): Pointer {
  return keyStoreEcKeyMethod({ sign: onSign, signSig: onSignSig, finish: onFinish, copy: onCopy });
}

/**
 * EVP_PKEY* for the KeyStore's identity key (`spki`: its SubjectPublicKeyInfo DER, ECDSA P-256).
 * The caller owns it: EVP_PKEY_free when done (SSL_CTX_use_PrivateKey takes its own reference).
 */
export function keyStorePrivateKey(store: KeyStore, spki: Uint8Array): Pointer {
  const ec = libEcKey();
  const meth = method();
  const pub = publicKeyFromSpki(spki);
  let ecKey: Pointer;
  try {
    if (ec.EVP_PKEY_get_base_id(pub) !== EVP_PKEY_EC) {
      throw new TlsError('EGW_TLS_CONFIG', 'the key store public key is not an EC key', {
        hint: 'the identity key must be ECDSA P-256',
      });
    }
    libcrypto().ERR_clear_error();
    ecKey = ec.EVP_PKEY_get1_EC_KEY(pub);
  } finally {
    ec.EVP_PKEY_free(pub);
  }
  if (!ecKey) throw new TlsError('EGW_TLS_CONFIG', `cannot read the EC public key: ${lastOpenSslError()}`);
  let pkey: Pointer = null;
  try {
    if (ec.EC_KEY_set_method(ecKey, meth) !== 1) {
      throw new TlsError('EGW_TLS_CONFIG', `cannot attach the key-store method: ${lastOpenSslError()}`);
    }
    const hook: KeyHook = { store, pkey: undefined, error: undefined };
    hooks.set(koffi.address(ecKey), hook);
    pkey = ec.EVP_PKEY_new();
    if (!pkey || ec.EVP_PKEY_set1_EC_KEY(pkey, ecKey) !== 1) {
      if (pkey) ec.EVP_PKEY_free(pkey);
      throw new TlsError('EGW_TLS_CONFIG', `cannot wrap the EC key: ${lastOpenSslError()}`);
    }
    hook.pkey = koffi.address(pkey);
    pkeys.set(hook.pkey, koffi.address(ecKey));
    return pkey;
  } finally {
    ec.EC_KEY_free(ecKey); // the EVP_PKEY holds its own reference; onFinish runs when the last goes
  }
}

function hookOf(pkey: Pointer): KeyHook | undefined {
  if (!pkey) return undefined;
  // Look up our own table first: asking any other key for its EC_KEY would make OpenSSL 3 build a
  // legacy copy of a provider key for nothing.
  const ecAddress = pkeys.get(koffi.address(pkey));
  if (ecAddress === undefined) return undefined;
  // An address can be reused after a free: trust the entry only if the key still holds that EC_KEY.
  const ecKey = libEcKey().EVP_PKEY_get0_EC_KEY(pkey);
  libcrypto().ERR_clear_error();
  return ecKey && koffi.address(ecKey) === ecAddress ? hooks.get(ecAddress) : undefined;
}

/** True when `pkey` came from keyStorePrivateKey (its signatures go through a KeyStore). */
export function isKeyStorePrivateKey(pkey: Pointer): boolean {
  return hookOf(pkey) !== undefined;
}

/**
 * The KeyError of the last failed signature with `pkey` (a keyStorePrivateKey), and forgets it. Call
 * it when a handshake that used the key fails: if it returns an error, the key store is the cause.
 */
export function takeKeyStoreError(pkey: Pointer): KeyError | undefined {
  const hook = hookOf(pkey);
  const error = hook?.error;
  if (hook) hook.error = undefined;
  return error;
}
