import { TrustError } from '../trust-error.js';
import { CertificateFacts, ValidationFailure } from '../validation/index.js';

/**
 * A CA certificate as the CRL cache reads it: path validation's CertificateFacts (subject Name DER
 * and its hash, public key, keyUsage, subject key identifier, CRL distribution points, serial), so
 * a CA is read one way whether it signs certificates or CRLs. A certificate path validation cannot
 * read is EGW_TRUST_MALFORMED naming `what` and the refusal.
 */
export function issuerCertificate(der: Uint8Array, what = 'certificate'): CertificateFacts {
  try {
    return CertificateFacts.parse(der);
  } catch (error) {
    if (!(error instanceof ValidationFailure)) throw error;
    throw new TrustError('EGW_TRUST_MALFORMED', `${what}: ${error.message}`, {
      hint: 'not an X.509 certificate as RFC 5280 defines it (strict DER); path validation cannot use it either',
      cause: error,
    });
  }
}

/** True unless a keyUsage extension is present without cRLSign (RFC 5280 §6.3.3 (f)). */
export function maySignCrls(certificate: CertificateFacts): boolean {
  return certificate.keyUsage === undefined || certificate.keyUsage.has('cRLSign');
}
