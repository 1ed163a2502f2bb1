/**
 * P-256 encodings for what the TPM hands back: an ECC point becomes a SubjectPublicKeyInfo, an ECDSA
 * signature (r, s) becomes the 64-byte r‖s the KeyStore interface promises.
 *
 * The TPM returns r, s, x and y as minimal-length big-endian integers: a value with leading zero
 * bytes comes back short (1 in 256 signatures), so every one is left-padded to 32 bytes.
 */

/** DER of SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0 unused bits) … } up to the point. */
const SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

export function leftPad32(value: Uint8Array, what: string): Uint8Array {
  let start = 0;
  while (start < value.length - 32 && value[start] === 0) start++; // tolerate a redundant sign byte
  const trimmed = value.subarray(start);
  if (trimmed.length > 32) throw new Error(`${what} is ${value.length} bytes, longer than a P-256 value`);
  const out = new Uint8Array(32);
  out.set(trimmed, 32 - trimmed.length);
  return out;
}

/** SPKI DER (91 bytes) for the uncompressed point 0x04‖x‖y. */
export function p256Spki(x: Uint8Array, y: Uint8Array): Uint8Array {
  const spki = new Uint8Array(SPKI_PREFIX.length + 65);
  spki.set(SPKI_PREFIX, 0);
  spki[SPKI_PREFIX.length] = 0x04;
  spki.set(leftPad32(x, 'ECC point x'), SPKI_PREFIX.length + 1);
  spki.set(leftPad32(y, 'ECC point y'), SPKI_PREFIX.length + 33);
  return spki;
}

/** r‖s, 64 bytes (IEEE P1363). */
export function p1363Signature(r: Uint8Array, s: Uint8Array): Uint8Array {
  const signature = new Uint8Array(64);
  signature.set(leftPad32(r, 'signature r'), 0);
  signature.set(leftPad32(s, 'signature s'), 32);
  return signature;
}
