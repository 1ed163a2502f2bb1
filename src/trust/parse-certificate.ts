import { X509Certificate } from '../pki/index.js';
import { TrustError } from './trust-error.js';

/** Parses one DER certificate; `what` names it in the error ("CA certificate", "sensor.pem #2"). */
export function parseCertificate(der: Uint8Array, what: string): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch (cause) {
    throw new TrustError('EGW_TRUST_MALFORMED', `${what} is not a parseable X.509 certificate`, { cause });
  }
}

/** basicConstraints CA:TRUE: the only certificates that may issue sensor certificates. */
export function isCaCertificate(certificate: X509Certificate): boolean {
  const constraints = certificate.getExtension('2.5.29.19') as { ca?: boolean } | null;
  return constraints?.ca === true;
}

/** The subject's first commonName, when it has one. */
export function commonNameOf(certificate: X509Certificate): string | undefined {
  return certificate.subjectName.getField('CN')[0];
}
