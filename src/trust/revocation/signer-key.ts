import { createHash } from 'node:crypto';
import type { CertificateFacts } from '../validation/index.js';

const cache = new WeakMap<CertificateFacts, string>();

/**
 * The key under which a CA's CRL is stored and looked up: SHA-256 (hex) over the CA certificate's
 * subject Name in RFC 5280 §7.1 comparison form (`subjectNameKey`) followed by its
 * SubjectPublicKeyInfo DER — a CRL's scope is its issuer's name and signing key (RFC 5280 §5,
 * §6.3.3 (b), (f)). The comparison form, not the Name's DER: a CA re-certified with its name spelled
 * in other bytes (case, spaces, string type) is the same name (§7.1), so its sensors find the CRL
 * whichever of its certificates verified the CRL or is on their path.
 *
 * Not the SKI: it is optional, chosen freely by the CA (nothing stops two CAs from having the same
 * one) and says nothing the signature check proved. Not the certificate hash: a CA re-certified with
 * the same name and key (renewal, cross-certificate) signs one CRL for the certificates issued under
 * either, and the path a sensor presents may carry the other certificate. Two CAs with the same name
 * and different keys (a re-key, two vendors' generic names) get different keys, so one's CRL never
 * touches the other's state.
 */
export function signerKeyOf(ca: CertificateFacts): string {
  let key = cache.get(ca);
  if (key === undefined) {
    key = createHash('sha256').update(ca.subjectNameKey, 'hex').update(ca.spki).digest('hex');
    cache.set(ca, key);
  }
  return key;
}
