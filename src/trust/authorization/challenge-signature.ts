import { createPublicKey, type KeyObject, verify } from 'node:crypto';

/** Bytes of a raw r‖s ECDSA signature per curve (two field elements). */
const RAW_ECDSA_BYTES: Record<string, number> = { prime256v1: 64, secp384r1: 96, secp521r1: 132 };

/**
 * Checks a sensor's signature over challenge bytes with the public key of its certificate
 * (SubjectPublicKeyInfo, DER): ECDSA with SHA-256, the signature DER-encoded or raw r‖s as small
 * sensor stacks produce it, or Ed25519 over the bytes themselves. Answers why it fails, or undefined.
 */
export function challengeSignatureProblem(
  message: Uint8Array,
  signature: Uint8Array,
  spkiDer: Uint8Array,
): string | undefined {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
  } catch {
    return 'the public key is not a parseable SubjectPublicKeyInfo';
  }
  switch (key.asymmetricKeyType) {
    case 'ec':
      return ecdsaVerifies(message, signature, key)
        ? undefined
        : 'the signature does not verify (ECDSA with SHA-256)';
    case 'ed25519':
      return attempt(() => verify(null, message, key, signature))
        ? undefined
        : 'the signature does not verify (Ed25519)';
    default:
      return `key type ${key.asymmetricKeyType ?? 'unknown'} is not accepted for challenges (ECDSA or Ed25519)`;
  }
}

function ecdsaVerifies(message: Uint8Array, signature: Uint8Array, key: KeyObject): boolean {
  const rawBytes = RAW_ECDSA_BYTES[key.asymmetricKeyDetails?.namedCurve ?? ''];
  // Both encodings carry the same (r, s): accepting either gives a forger nothing.
  if (
    signature.length === rawBytes &&
    attempt(() => verify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature))
  )
    return true;
  return attempt(() => verify('sha256', message, { key, dsaEncoding: 'der' }, signature));
}

function attempt(check: () => boolean): boolean {
  try {
    return check();
  } catch {
    return false;
  }
}
