import type { Refusal } from '../validation-reason.js';
import { extensionName } from './certificate-extensions.js';
import type { CertificateFacts } from './certificate-facts.js';
import { certificateLabel } from './certificate-label.js';
import { EKU, EXTENSION } from './oids.js';
import { readDeviceType } from './sensor-identity-of.js';

/** Checks of one certificate in its place on a path; each returns the refusal, or undefined when it passes. */

/**
 * RFC 5280 §4.1.2.5: valid from notBefore through notAfter, both inclusive, at the granularity they
 * are written in (whole seconds): the whole second of notAfter is still valid.
 */
export function timeRefusal(certificate: CertificateFacts, depth: number, at: Date): Refusal | undefined {
  const now = Math.floor(at.getTime() / 1000) * 1000;
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
  EXTENSION.nameConstraints,
]);

/**
 * RFC 5280 §4.2: a critical extension the validator does not process refuses the certificate.
 * Name constraints are processed (name-constraints.ts); certificate policies are not, so they are
 * understood only when non-critical.
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
  if (certificate.keyUsage?.has('keyCertSign')) {
    // RFC 5280 §4.2.1.9: without cA asserted, keyCertSign MUST NOT be: a key that may sign certificates is not a sensor's.
    return {
      reason: 'key-usage',
      detail: `${who()} keyUsage asserts keyCertSign without basicConstraints CA:TRUE (RFC 5280 §4.2.1.9)`,
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
 * A certificate that issues the one below it: a v3 CA with basicConstraints CA:TRUE (the anchor
 * too), keyCertSign when keyUsage is present, and its pathLenConstraint not exceeded by the
 * `nonSelfIssuedBelow` intermediates between it and the sensor (RFC 5280 §4.2.1.9, enforced on anchors too).
 */
export function issuerRefusal(
  certificate: CertificateFacts,
  depth: number,
  nonSelfIssuedBelow: number,
): Refusal | undefined {
  const who = () => certificateLabel(certificate, depth);
  const constraints = certificate.basicConstraints;
  if (certificate.version !== 3) {
    return {
      reason: 'not-a-ca',
      detail: `${who()} is not a CA: a version ${certificate.version} certificate`,
      depth,
    };
  }
  if (constraints === undefined) {
    // Anchors too (RFC 5280 §4.2.1.9): a root without basicConstraints has not said it is a CA.
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

/**
 * EKU chaining: a CA whose extendedKeyUsage is present must allow clientAuth (or
 * anyExtendedKeyUsage) to issue sensor certificates; a CA limited to serverAuth cannot. Applied to
 * every issuer on the path, the anchor included (as OpenSSL's and Go's verifiers do). anyExtendedKeyUsage
 * counts as Go, Windows and RFC 5280 §4.2.1.12 read it; OpenSSL 3 refuses a CA with anyExtendedKeyUsage
 * alone for sslclient — a deliberate difference (asserted in the OpenSSL cross-check).
 */
export function issuerEkuRefusal(certificate: CertificateFacts, depth: number): Refusal | undefined {
  const purposes = certificate.extendedKeyUsage;
  if (purposes === undefined || purposes.includes(EKU.clientAuth) || purposes.includes(EKU.any)) {
    return undefined;
  }
  return {
    reason: 'ca-eku',
    detail: `${certificateLabel(certificate, depth)} extendedKeyUsage (${purposes.map(purposeName).join(', ') || 'none'}) does not allow clientAuth, so it cannot issue sensor certificates; the CA must carry clientAuth or no extendedKeyUsage`,
    depth,
  };
}

/**
 * RFC 5280 §4.1.2.2: the serial is a positive integer of at most 20 octets (a leading 0x00 that
 * only keeps a 20-octet value positive is not counted, as pyca/cryptography reads it). `lenient`
 * ([trust] lenient_serials, for legacy sensor PKIs) accepts negative, zero and longer serials.
 */
export function serialRefusal(
  certificate: CertificateFacts,
  depth: number,
  lenient: boolean,
): Refusal | undefined {
  if (lenient) return undefined;
  const serial = certificate.serial;
  const why =
    ((serial[0] ?? 0) & 0x80) !== 0
      ? `is negative (${certificate.serialHex})`
      : serial.every((byte) => byte === 0)
        ? 'is zero'
        : serial.length - (serial[0] === 0 ? 1 : 0) > 20
          ? `is ${serial.length} octets long (at most 20)`
          : undefined;
  if (why === undefined) return undefined;
  return {
    reason: 'bad-serial',
    detail: `${certificateLabel(certificate, depth)} serial number ${why}: RFC 5280 requires a positive serial of at most 20 octets; [trust] lenient_serials = true accepts it from a legacy PKI`,
    depth,
  };
}

/**
 * The device-type extension (`deviceTypeOid`, [trust] device_type_oid), when the sensor's certificate
 * carries it, must be a string of the right ASN.1 type (see readDeviceType): group enrollments and
 * authorization rules match on it, so a value that cannot be read as one is refused, not ignored.
 */
export function deviceTypeRefusal(certificate: CertificateFacts, deviceTypeOid: string): Refusal | undefined {
  const value = certificate.extensionValue(deviceTypeOid);
  if (value === undefined) return undefined;
  const reading = readDeviceType(value);
  if ('text' in reading) return undefined;
  return {
    reason: 'bad-device-type',
    detail: `${certificateLabel(certificate, 0)} device-type extension ${deviceTypeOid} holds ${reading.problem}; a UTF8String, PrintableString or IA5String is required (the sensor's CA must issue it so, or [trust] device_type_oid names another extension)`,
    depth: 0,
  };
}

function purposeName(oid: string): string {
  return oid === EKU.serverAuth
    ? 'serverAuth'
    : oid === EKU.clientAuth
      ? 'clientAuth'
      : oid === EKU.any
        ? 'anyExtendedKeyUsage'
        : oid;
}
