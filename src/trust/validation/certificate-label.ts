import type { CertificateFacts } from './certificate-facts.js';

/** How details name a certificate: "certificate 1 (CN=Sensor Intermediate)"; depth 0 is the sensor. */
export function certificateLabel(certificate: CertificateFacts, depth: number): string {
  return `certificate ${depth} (${certificate.subject === '' ? 'empty subject' : certificate.subject})`;
}
