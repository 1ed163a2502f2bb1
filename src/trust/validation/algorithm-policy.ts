import type { Refusal } from '../validation-reason.js';
import type { CertificateFacts } from './certificate-facts.js';
import { certificateLabel } from './certificate-label.js';
import { keyAlgorithmText } from './key-algorithm.js';

/** [trust] allowed_curves / allow_ed25519 / min_rsa_bits. */
export interface AlgorithmPolicy {
  allowedCurves: readonly ('P-256' | 'P-384' | 'P-521')[];
  allowEd25519: boolean;
  minRsaBits: number;
}

/**
 * The subject key against the policy: RSA below minRsaBits is 'weak-key', an EC curve outside
 * allowedCurves is 'curve-not-allowed', and so is Ed25519 when allowEd25519 is off (a policy choice on
 * a curve the gateway can verify, so not 'unsupported-algorithm'); DSA, Ed448, … are 'unsupported-algorithm'.
 */
export function keyRefusal(
  certificate: CertificateFacts,
  depth: number,
  policy: AlgorithmPolicy,
): Refusal | undefined {
  const key = certificate.keyAlgorithm;
  const who = () => certificateLabel(certificate, depth);
  switch (key.kind) {
    case 'rsa':
      return key.bits < policy.minRsaBits
        ? {
            reason: 'weak-key',
            detail: `${who()} has an RSA ${key.bits}-bit key, below the ${policy.minRsaBits} bits required`,
            depth,
          }
        : undefined;
    case 'ec':
      return (policy.allowedCurves as readonly string[]).includes(key.curve)
        ? undefined
        : {
            reason: 'curve-not-allowed',
            detail: `${who()} has an EC key on curve ${key.curve}; allowed: ${policy.allowedCurves.join(', ')}`,
            depth,
          };
    case 'ed25519':
      return policy.allowEd25519
        ? undefined
        : {
            reason: 'curve-not-allowed',
            detail: `${who()} has an Ed25519 key and allow_ed25519 is off`,
            depth,
          };
    default:
      return {
        reason: 'unsupported-algorithm',
        detail: `${who()} has an unsupported ${keyAlgorithmText(key)}`,
        depth,
      };
  }
}

/** How the certificate is signed: MD5/SHA-1 are 'weak-signature-algorithm', others not verifiable here 'unsupported-algorithm'. */
export function signatureAlgorithmRefusal(certificate: CertificateFacts, depth: number): Refusal | undefined {
  const algorithm = certificate.signatureAlgorithm;
  const who = () => certificateLabel(certificate, depth);
  if (algorithm.weak) {
    return { reason: 'weak-signature-algorithm', detail: `${who()} is signed with ${algorithm.name}`, depth };
  }
  if (algorithm.scheme === 'other') {
    return {
      reason: 'unsupported-algorithm',
      detail: `${who()} is signed with unsupported ${algorithm.name}`,
      depth,
    };
  }
  return undefined;
}
