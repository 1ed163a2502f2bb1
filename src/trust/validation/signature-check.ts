import { constants, verify } from 'node:crypto';
import type { Refusal } from '../validation-reason.js';
import type { CertificateFacts } from './certificate-facts.js';
import { certificateLabel } from './certificate-label.js';
import { keyAlgorithmText } from './key-algorithm.js';

/** The outcome of one signature check, independent of where the pair sits on a path (so it can be cached). */
export type SignatureVerdict = 'valid' | 'invalid' | 'key-mismatch' | 'key-unloadable';

/** What a signature covers and how it was made: a certificate's, or a CRL's (the revocation cache checks those too). */
export type SignedData = Pick<CertificateFacts, 'signatureAlgorithm' | 'tbs' | 'signature'>;

const KEY_KIND_OF_SCHEME = { ecdsa: 'ec', 'rsa-pkcs1': 'rsa', 'rsa-pss': 'rsa', ed25519: 'ed25519' } as const;

/**
 * Verifies `child`'s signature with `issuer`'s key using node:crypto (ECDSA, RSA PKCS#1 v1.5,
 * RSASSA-PSS, Ed25519). The caller has already refused weak and unsupported signature algorithms.
 */
export function verifySignature(child: SignedData, issuer: CertificateFacts): SignatureVerdict {
  const algorithm = child.signatureAlgorithm;
  if (algorithm.scheme === 'other' || KEY_KIND_OF_SCHEME[algorithm.scheme] !== issuer.keyAlgorithm.kind) {
    return 'key-mismatch';
  }
  let key: CertificateFacts['publicKey'];
  try {
    key = issuer.publicKey;
  } catch {
    return 'key-unloadable';
  }
  try {
    let valid: boolean;
    if (algorithm.scheme === 'ed25519') valid = verify(null, child.tbs, key, child.signature);
    else if (algorithm.scheme === 'rsa-pss') {
      valid = verify(
        algorithm.digest,
        child.tbs,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: algorithm.saltLength ?? 20 },
        child.signature,
      );
    } else valid = verify(algorithm.digest, child.tbs, key, child.signature);
    return valid ? 'valid' : 'invalid';
  } catch {
    return 'invalid'; // a signature not even well-formed for the key does not verify
  }
}

/** The refusal for a verdict other than 'valid', naming both certificates where they sit on the path. */
export function signatureRefusal(
  verdict: Exclude<SignatureVerdict, 'valid'>,
  child: CertificateFacts,
  childDepth: number,
  issuer: CertificateFacts,
  issuerDepth: number,
): Refusal {
  const who = certificateLabel(child, childDepth);
  const by = certificateLabel(issuer, issuerDepth);
  switch (verdict) {
    case 'key-mismatch':
      return {
        reason: 'bad-signature',
        detail: `${who} is signed with ${child.signatureAlgorithm.name}, which does not fit the ${keyAlgorithmText(issuer.keyAlgorithm)} key of ${by}`,
        depth: childDepth,
      };
    case 'key-unloadable':
      return {
        reason: 'unsupported-algorithm',
        detail: `node:crypto cannot load the ${keyAlgorithmText(issuer.keyAlgorithm)} key of ${by}`,
        depth: issuerDepth,
      };
    default:
      return {
        reason: 'bad-signature',
        detail: `${who} signature does not verify with the key of ${by}`,
        depth: childDepth,
      };
  }
}
