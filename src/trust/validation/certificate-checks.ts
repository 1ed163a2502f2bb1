import type { Refusal } from '../validation-reason.js';
import { extensionName } from './certificate-extensions.js';
import type { CertificateFacts } from './certificate-facts.js';
import { certificateLabel } from './certificate-label.js';
import { EKU, EXTENSION } from './oids.js';

/** Checks of one certificate in its place on a path; each returns the refusal, or undefined when it passes. */

/** RFC 5280 §4.1.2.5: valid from notBefore through notAfter, both inclusive. */
export function timeRefusal(certificate: CertificateFacts, depth: number, at: Date): Refusal | undefined {
  const now = at.getTime();
  if (now > certificate.notAfter.getTime()) {
    return {
      reason: 'expired',
      detail: `${certificateLabel(certificate, depth)} expired at ${certificate.notAfter.toISOString()} (checked at ${at.toISOString()})`,
      depth,
    };
  }
  if (now < certificate.notBefore.getTime()) {
    return {
      reason: 'not-yet-valid',
      detail: `${certificateLabel(certificate, depth)} is valid from ${certificate.notBefore.toISOString()} (checked at ${at.toISOString()})`,
      depth,
    };
  }
  return undefined;
}

/** Extensions path validation acts on (or may ignore), so marking them critical is fine. */
const UNDERSTOOD: ReadonlySet<string> = new Set([
  EXTENSION.basicConstraints,
  EXTENSION.keyUsage,
  EXTENSION.extendedKeyUsage,
  EXTENSION.subjectAltName,
  EXTENSION.subjectKeyIdentifier,
  EXTENSION.authorityKeyIdentifier,
  EXTENSION.crlDistributionPoints,
  EXTENSION.authorityInfoAccess,
]);

/**
 * RFC 5280 §4.2: a critical extension the validator does not process refuses the certificate.
 * Name constraints are not implemented, so a critical nameConstraints is unknown; certificate policies
 * are not processed, so they are understood only when non-critical.
 */
export function criticalExtensionRefusal(
  certificate: CertificateFacts,
  depth: number,
  deviceTypeOid: string,
): Refusal | undefined {
  for (const oid of certificate.criticalExtensionOids) {
    if (!UNDERSTOOD.has(oid) && oid !== deviceTypeOid) {
      return {
        reason: 'unknown-critical-extension',
        detail: `${certificateLabel(certificate, depth)} has critical extension ${extensionName(oid)}, which is not processed here`,
        depth,
      };
    }
  }
  return undefined;
}

/**
 * The sensor's own certificate: not a CA (refused as 'key-usage': a CA key must not double as a
 * client key), keyUsage (when present) with digitalSignature — DTLS client authentication signs —
 * and extendedKeyUsage present with clientAuth (anyExtendedKeyUsage does not count).
 */
export function sensorUsageRefusal(certificate: CertificateFacts): Refusal | undefined {
  const who = () => certificateLabel(certificate, 0);
  if (certificate.basicConstraints?.ca === true) {
    return {
      reason: 'key-usage',
      detail: `${who()} is a CA (basicConstraints CA:TRUE), not a sensor certificate`,
      depth: 0,
    };
  }
  if (certificate.keyUsage !== undefined && !certificate.keyUsage.has('digitalSignature')) {
    const usages = [...certificate.keyUsage].join(', ') || 'none';
    return {
      reason: 'key-usage',
      detail: `${who()} keyUsage lacks digitalSignature (has: ${usages})`,
      depth: 0,
    };
  }
  if (certificate.extendedKeyUsage === undefined) {
    return { reason: 'eku', detail: `${who()} has no extendedKeyUsage; clientAuth is required`, depth: 0 };
  }
  if (!certificate.extendedKeyUsage.includes(EKU.clientAuth)) {
    return {
      reason: 'eku',
      detail: `${who()} extendedKeyUsage lacks clientAuth (has: ${certificate.extendedKeyUsage.map(purposeName).join(', ')})`,
      depth: 0,
    };
  }
  return undefined;
}

/**
 * A certificate that issues the one below it: a v3 CA (an anchor without basicConstraints is trusted
 * as configured), keyCertSign when keyUsage is present, and its pathLenConstraint not exceeded by the
 * `nonSelfIssuedBelow` intermediates between it and the sensor (RFC 5280 §4.2.1.9, enforced on anchors too).
 */
export function issuerRefusal(
  certificate: CertificateFacts,
  depth: number,
  anchor: boolean,
  nonSelfIssuedBelow: number,
): Refusal | undefined {
  const who = () => certificateLabel(certificate, depth);
  const constraints = certificate.basicConstraints;
  if (!anchor && certificate.version !== 3) {
    return {
      reason: 'not-a-ca',
      detail: `${who()} is not a CA: a version ${certificate.version} certificate`,
      depth,
    };
  }
  if (constraints === undefined && !anchor) {
    return { reason: 'not-a-ca', detail: `${who()} is not a CA: no basicConstraints`, depth };
  }
  if (constraints !== undefined && !constraints.ca) {
    return { reason: 'not-a-ca', detail: `${who()} is not a CA: basicConstraints CA:FALSE`, depth };
  }
  if (certificate.keyUsage !== undefined && !certificate.keyUsage.has('keyCertSign')) {
    const usages = [...certificate.keyUsage].join(', ') || 'none';
    return { reason: 'ca-key-usage', detail: `${who()} keyUsage lacks keyCertSign (has: ${usages})`, depth };
  }
  const pathLen = constraints?.pathLen;
  if (pathLen !== undefined && nonSelfIssuedBelow > pathLen) {
    return {
      reason: 'path-length-exceeded',
      detail: `${who()} allows ${pathLen} intermediate CA(s) below it (pathLenConstraint), the path has ${nonSelfIssuedBelow}`,
      depth,
    };
  }
  return undefined;
}

function purposeName(oid: string): string {
  return oid === EKU.serverAuth ? 'serverAuth' : oid === EKU.clientAuth ? 'clientAuth' : oid;
}
