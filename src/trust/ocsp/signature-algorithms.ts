import { DER_TAG, type DerTlv } from '../../pki/index.js';
import {
  type CertificateFacts,
  readSignatureAlgorithm as readCertificateSignatureAlgorithm,
  type SignatureAlgorithm,
  ValidationFailure,
  verifySignature,
} from '../validation/index.js';
import { expectTag, malformed } from './ocsp-der.js';

/**
 * The signatureAlgorithm of a BasicOCSPResponse, read as certificates' are (the same algorithms,
 * weak digests marked), a malformed one reported as a malformed response.
 */
export function readSignatureAlgorithm(identifier: DerTlv | undefined, where: string): SignatureAlgorithm {
  const tlv = expectTag(identifier, DER_TAG.sequence, where);
  try {
    return readCertificateSignatureAlgorithm(tlv, where);
  } catch (error) {
    if (error instanceof ValidationFailure) throw malformed(`${where}: ${error.refusal.detail}`);
    throw error;
  }
}

/**
 * Whether `signature` over `data` verifies with the public key of `signer` under `algorithm`. The
 * caller has refused weak and unsupported algorithms; a key of the wrong type, or one node:crypto
 * cannot load, is simply a signature that does not verify.
 */
export function signatureVerifies(
  algorithm: SignatureAlgorithm,
  data: Uint8Array,
  signature: Uint8Array,
  signer: CertificateFacts,
): boolean {
  return verifySignature({ signatureAlgorithm: algorithm, tbs: data, signature }, signer) === 'valid';
}
