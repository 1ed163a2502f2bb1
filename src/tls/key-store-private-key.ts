/**
 * An OpenSSL private key (EVP_PKEY*) whose ECDSA signatures come from a KeyStore: the gateway's
 * identity key stays in the TPM or the ATECC608A, and TLS/DTLS handshakes still sign with it.
 *
 * How: the EVP_PKEY holds an EC_KEY with the public half only and our EC_KEY_METHOD. When a handshake
 * needs a signature (TLS 1.3 CertificateVerify, a TLS 1.2 client CertificateVerify, a DTLS server's
 * ServerKeyExchange), OpenSSL hashes the transcript and calls the method's `sign` with the digest,
 * and needs the DER ECDSA-Sig-Value (or an ECDSA_SIG for `sign_sig`) before its call returns.
 *
 * Where the signature is waited for:
 * - a store whose device lives in a worker (TPM, ATECC608A: `signingChannel()`): the sign callbacks
 *   run on the TLS handshake thread (handshake-thread.ts), which asks the device worker and waits.
 *   A caller that runs its signing step there (`signsOffLoop`; DtlsServer does) keeps its event loop
 *   free; a caller that runs it itself waits as long as the device takes;
 * - an in-process store (software, development) signs in the callback, on the caller's thread.
 *
 * On a KeyStore failure the callback returns 0 (NULL for sign_sig): OpenSSL fails the handshake, and
 * the KeyError is kept for the TLS layer to report (takeKeyStoreError).
 */
import koffi from 'koffi';
import { KeyError, type KeyStore } from '../keys/index.js';
import {
  EVP_PKEY_EC,
  libEcKey,
  newKeyStoreEcKeyMethod,
  registerEcLifecycleCallbacks,
  registerEcSignCallbacks,
} from '../native/openssl/ec-key-method.js';
import { lastOpenSslError, libcrypto } from '../native/openssl/index.js';
import type { Pointer } from '../native/openssl/libssl.js';
import { ecdsaSigFromRaw, isP256Signature, writeDerSignature } from './ecdsa-signature-output.js';
import { handshakeThread, type SignatureOutcome } from './handshake-thread.js';
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

function signThroughStore(hook: KeyHook, digestPointer: bigint, digestLength: number): Uint8Array | null {
  try {
    const digest = new Uint8Array(koffi.view(digestPointer, digestLength).slice(0));
    const signature = hook.store.signDigestSync(digest);
    if (!isP256Signature(signature)) {
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
  const raw = hook ? signThroughStore(hook, digest, digestLength) : null;
  return raw ? writeDerSignature(raw, signature, signatureLength, ecKey) : 0;
}

function onSignSig(
  digest: bigint,
  digestLength: number,
  _kinv: bigint | null,
  _r: bigint | null,
  ecKey: bigint,
): bigint | null {
  const hook = hooks.get(ecKey);
  const raw = hook ? signThroughStore(hook, digest, digestLength) : null;
  return raw ? ecdsaSigFromRaw(raw) : null;
}

function onFinish(ecKey: bigint): void {
  const hook = hooks.get(ecKey);
  hooks.delete(ecKey);
  if (hook?.pkey !== undefined && pkeys.get(hook.pkey) === ecKey) pkeys.delete(hook.pkey);
  if (hook?.store.signingChannel) handshakeThread().forgetKey(ecKey);
}

function onCopy(dest: bigint, src: bigint): number {
  const hook = hooks.get(src);
  if (!hook) return 1;
  hooks.set(dest, { store: hook.store, pkey: undefined, error: undefined });
  const channel = hook.store.signingChannel?.();
  if (channel) handshakeThread().addKey(dest, channel);
  return 1;
}

let lifecycle: ReturnType<typeof registerEcLifecycleCallbacks> | undefined;
let inProcessMethod: Pointer | undefined;
let threadMethod: Pointer | undefined;

/** The EC_KEY_METHOD for `store`'s keys (each made once, never freed: keys point to it). */
function methodFor(store: KeyStore): Pointer {
  lifecycle ??= registerEcLifecycleCallbacks(onFinish, onCopy);
  if (!store.signingChannel) {
    inProcessMethod ??= newKeyStoreEcKeyMethod({
      ...registerEcSignCallbacks(onSign, onSignSig),
      ...lifecycle,
    });
    return inProcessMethod;
  }
  if (!threadMethod) {
    const thread = handshakeThread();
    thread.onSignature = onSignatureOutcome;
    threadMethod = newKeyStoreEcKeyMethod({ ...thread.signCallbacks, ...lifecycle });
  }
  return threadMethod;
}

/** A signature made on the handshake thread: keep its failure (a timeout restarts the device). */
function onSignatureOutcome(ecKey: bigint, outcome: SignatureOutcome): void {
  const hook = hooks.get(ecKey);
  if (!hook) return;
  const channel = hook.store.signingChannel?.();
  let error: KeyError | undefined;
  if (outcome?.kind === 'timedOut' && channel) {
    const timedOut = channel.timedOut();
    error = timedOut instanceof KeyError ? timedOut : new KeyError('EGW_KEY_TIMEOUT', timedOut.message);
  } else if (outcome?.kind === 'refused') {
    error = refusal(outcome.error);
  } else if (outcome?.kind === 'failed') {
    error = new KeyError('EGW_KEY_DEVICE_ERROR', `key store signing failed: ${outcome.detail}`);
  }
  for (const other of hooks.values()) if (other.store === hook.store) other.error = error;
}

/** The device's own error, as the device worker serialized it. */
function refusal(json: string): KeyError {
  try {
    const parsed = JSON.parse(json) as { code: string; message: string; hint?: string };
    return new KeyError(parsed.code, parsed.message, parsed.hint ? { hint: parsed.hint } : {});
  } catch {
    return new KeyError('EGW_KEY_DEVICE_ERROR', `the key device refused to sign: ${json}`);
  }
}

/**
 * EVP_PKEY* for the KeyStore's identity key (`spki`: its SubjectPublicKeyInfo DER, ECDSA P-256).
 * The caller owns it: EVP_PKEY_free when done (SSL_CTX_use_PrivateKey takes its own reference).
 */
export function keyStorePrivateKey(store: KeyStore, spki: Uint8Array): Pointer {
  const ec = libEcKey();
  const meth = methodFor(store);
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
    const channel = store.signingChannel?.();
    if (channel) handshakeThread().addKey(koffi.address(ecKey), channel);
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
 * True when `pkey` (a keyStorePrivateKey) signs on the TLS signing thread: a handshake step that may
 * sign should then run off the event loop (koffi `.async`), or the caller's thread waits for the device.
 */
export function signsOffLoop(pkey: Pointer): boolean {
  return hookOf(pkey)?.store.signingChannel !== undefined;
}

/**
 * The KeyError of the last failed signature with `pkey` (a keyStorePrivateKey), and forgets it. Call
 * it when a handshake that used the key fails: if it returns an error, the key store is the cause.
 */
export function takeKeyStoreError(pkey: Pointer): KeyError | undefined {
  const hook = hookOf(pkey);
  if (hook?.store.signingChannel) handshakeThread().drain();
  const error = hook?.error;
  if (hook) hook.error = undefined;
  return error;
}
