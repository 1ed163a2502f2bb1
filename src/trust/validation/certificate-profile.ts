import type { Refusal, ValidationReason } from '../validation-reason.js';
import { extensionName } from './certificate-extensions.js';
import type { CertificateFacts } from './certificate-facts.js';
import { certificateLabel } from './certificate-label.js';
import { selfSigned } from './issuer-search.js';
import { EXTENSION } from './oids.js';

/**
 * RFC 5280's certificate profile: what a conforming CA MUST write, checked on every certificate of a
 * path (the anchor included). None of it changes what a certificate proves, but a certificate that
 * breaks it was made by software that did not follow the standard, and path building leans on it
 * (key identifiers). `lenient` ([trust] lenient_profile, for legacy sensor PKIs) skips these checks;
 * the security rules (CA-ness, key usage, EKU, name constraints, serials) stay in certificate-checks.ts.
 */

/** `[trust] lenient_profile = true`: named in every refusal, so the operator sees the way out. */
const LENIENT_HINT = '[trust] lenient_profile = true accepts it from a legacy PKI';

/** Extensions RFC 5280 says conforming CAs MUST mark non-critical. */
const MUST_BE_NON_CRITICAL: readonly [string, string][] = [
  [EXTENSION.authorityKeyIdentifier, '§4.2.1.1'],
  [EXTENSION.subjectKeyIdentifier, '§4.2.1.2'],
  [EXTENSION.authorityInfoAccess, '§4.2.2.1'],
];

/**
 * The profile refusal of `certificate` at `depth` (0: the sensor; `anchor`: the path's trust anchor),
 * or undefined when it conforms.
 */
export function profileRefusal(
  certificate: CertificateFacts,
  depth: number,
  anchor: boolean,
  lenient: boolean,
): Refusal | undefined {
  if (lenient) return undefined;
  const refuse = (reason: ValidationReason, what: string): Refusal => ({
    reason,
    detail: `${certificateLabel(certificate, depth)} ${what}; ${LENIENT_HINT}`,
    depth,
  });
  const critical = (oid: string) => certificate.criticalExtensionOids.includes(oid);
  const present = (oid: string) => certificate.extensionValue(oid) !== undefined;
  const ca = certificate.basicConstraints?.ca === true;

  for (const [oid, section] of MUST_BE_NON_CRITICAL) {
    if (critical(oid)) {
      return refuse(
        'extension-criticality',
        `marks ${extensionName(oid)} critical (RFC 5280 ${section}: MUST be non-critical)`,
      );
    }
  }
  if (ca && !critical(EXTENSION.basicConstraints)) {
    return refuse(
      'extension-criticality',
      'is a CA whose basicConstraints is not marked critical (RFC 5280 §4.2.1.9: MUST be critical in CA certificates)',
    );
  }
  if (present(EXTENSION.policyConstraints) && !critical(EXTENSION.policyConstraints)) {
    return refuse(
      'extension-criticality',
      `marks ${extensionName(EXTENSION.policyConstraints)} non-critical (RFC 5280 §4.2.1.11: MUST be critical)`,
    );
  }
  // Every certificate says which key signed it, but a self-signed one (its own key) and an anchor: the
  // anchor is trusted as configured and its issuer is not on the path (RFC 5280 §6.1.1 d).
  if (certificate.authorityKeyId === undefined && !anchor && !selfSigned(certificate)) {
    return refuse(
      'key-identifier',
      'has no authorityKeyIdentifier keyIdentifier (RFC 5280 §4.2.1.1: MUST be in every certificate but a self-signed one)',
    );
  }
  if (ca && certificate.subjectKeyId === undefined) {
    return refuse(
      'key-identifier',
      'is a CA without subjectKeyIdentifier (RFC 5280 §4.2.1.2: MUST be in every CA certificate)',
    );
  }
  const emptySubject = certificate.subjectDer.length === 2; // SEQUENCE {}
  if (emptySubject && (ca || depth > 0)) {
    return refuse('empty-subject', 'is a CA with an empty subject (RFC 5280 §4.1.2.6: MUST be non-empty)');
  }
  if (emptySubject && !critical(EXTENSION.subjectAltName)) {
    return refuse(
      'empty-subject',
      'has an empty subject and no critical subjectAltName (RFC 5280 §4.2.1.6: the name is then the subjectAltName, marked critical)',
    );
  }
  const badDns = certificate.subjectAltNames.find(
    (name) => name.type === 'dns' && !preferredDnsName(name.value),
  );
  if (badDns !== undefined) {
    return refuse(
      'san-syntax',
      `has subjectAltName dNSName ${JSON.stringify(badDns.value)} outside the preferred name syntax (RFC 5280 §4.2.1.6: letters, digits and hyphens in dot-separated labels of 1-63)`,
    );
  }
  return undefined;
}

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * RFC 1034 §3.5 as RFC 1123 §2.1 relaxed it (a label may start with a digit), with a wildcard as the
 * whole leftmost label (RFC 6125 §6.4.3, what CAs issue); at most 253 characters, no trailing dot.
 */
function preferredDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  if (labels[0] === '*' && labels.length > 1) labels.shift();
  return labels.every((label) => LABEL.test(label));
}
