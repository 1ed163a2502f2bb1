import { type KeyObject, verify } from 'node:crypto';
import { TrustError } from '../trust-error.js';

/** A signature algorithm a CRL may be signed with, and the key it needs. */
export interface SignatureAlgorithm {
  oid: string;
  name: string;
  /** node:crypto digest name; null for Ed25519 (no separate digest). */
  hash: string | null;
  keyType: 'ec' | 'rsa' | 'ed25519';
}

// SHA-1 and MD5 are left out on purpose: a CRL signed with them is refused, as certificates are.
const ALGORITHMS: readonly SignatureAlgorithm[] = [
  { oid: '1.2.840.10045.4.3.2', name: 'ecdsa-with-SHA256', hash: 'sha256', keyType: 'ec' },
  { oid: '1.2.840.10045.4.3.3', name: 'ecdsa-with-SHA384', hash: 'sha384', keyType: 'ec' },
  { oid: '1.2.840.10045.4.3.4', name: 'ecdsa-with-SHA512', hash: 'sha512', keyType: 'ec' },
  { oid: '1.2.840.113549.1.1.11', name: 'sha256WithRSAEncryption', hash: 'sha256', keyType: 'rsa' },
  { oid: '1.2.840.113549.1.1.12', name: 'sha384WithRSAEncryption', hash: 'sha384', keyType: 'rsa' },
  { oid: '1.2.840.113549.1.1.13', name: 'sha512WithRSAEncryption', hash: 'sha512', keyType: 'rsa' },
  { oid: '1.3.101.112', name: 'Ed25519', hash: null, keyType: 'ed25519' },
];

const EC_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);

export function signatureAlgorithm(oid: string): SignatureAlgorithm | undefined {
  return ALGORITHMS.find((algorithm) => algorithm.oid === oid);
}

/**
 * Whether `signature` over `data` verifies with `key` under `algorithm`. A key of the wrong type or
 * curve is a refusal (EGW_TRUST_CRL_REJECTED), not a quiet false: the operator should see why.
 */
export function verifySignature(
  algorithm: SignatureAlgorithm,
  data: Uint8Array,
  signature: Uint8Array,
  key: KeyObject,
): boolean {
  const keyType = key.asymmetricKeyType;
  if (keyType !== algorithm.keyType) {
    throw new TrustError(
      'EGW_TRUST_CRL_REJECTED',
      `bad signature: a ${algorithm.name} signature cannot be checked with a ${keyType ?? 'unknown'} key`,
    );
  }
  if (keyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? 'unknown';
    if (!EC_CURVES.has(curve)) {
      throw new TrustError('EGW_TRUST_CRL_REJECTED', `bad signature: curve ${curve} is not accepted`);
    }
  }
  try {
    // X.509 ECDSA signatures are DER Ecdsa-Sig-Value, node's default encoding.
    return verify(algorithm.hash, data, key, signature);
  } catch {
    // A signature that is not even a well-formed Ecdsa-Sig-Value simply does not verify.
    return false;
  }
}
