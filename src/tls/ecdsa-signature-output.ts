import koffi from 'koffi';
import { libEcKey } from '../native/openssl/ec-key-method.js';
import type { Pointer } from '../native/openssl/libssl.js';

/**
 * What an EC_KEY_METHOD's sign callbacks hand back to OpenSSL, made from the r‖s a key store
 * returns. Shared by the callbacks on the main thread and those on the TLS signing thread.
 */

const P256_SIGNATURE_HALF = 32;

/** r‖s → ECDSA_SIG* (caller owns), or null. */
export function ecdsaSigFromRaw(raw: Uint8Array): bigint | null {
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

/**
 * Writes r‖s as a DER ECDSA-Sig-Value into `signature` (OpenSSL sized it with ECDSA_size(ecKey)) and
 * its length into `signatureLength`: the `sign` callback's result, 1, or 0 on failure.
 */
export function writeDerSignature(
  raw: Uint8Array,
  signature: bigint,
  signatureLength: bigint,
  ecKey: bigint,
): number {
  const ec = libEcKey();
  const sig = ecdsaSigFromRaw(raw);
  if (!sig) return 0;
  try {
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

/** True when `raw` has the shape of a P-256 r‖s. */
export function isP256Signature(raw: Uint8Array): boolean {
  return raw.length === 2 * P256_SIGNATURE_HALF;
}
