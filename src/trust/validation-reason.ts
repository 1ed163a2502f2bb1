/**
 * Why a certificate (sensor, or a CA on its path) was refused: one stable code per failed check.
 * Logged, counted per reason, shown by the demo and in DTLS handshake failures; tests match on it.
 */
export const VALIDATION_REASONS = [
  // The encoding
  'malformed', // not DER, truncated, trailing bytes, wrong structure
  'oversized', // certificate or chain larger than accepted
  'duplicate-extension',
  'unknown-critical-extension',
  // Time (judged at the clock floor when the system clock is behind it)
  'expired',
  'not-yet-valid',
  // The path
  'unknown-issuer', // no anchor or intermediate issued it (and it is not individually enrolled)
  'name-chaining', // issuer name does not match the issuer's subject
  'bad-signature',
  'not-a-ca', // an issuing certificate without basicConstraints CA:TRUE
  'path-length-exceeded', // a CA's pathLenConstraint is exceeded
  'chain-too-long', // more certificates than max_chain_depth
  'ca-key-usage', // an issuing certificate without keyCertSign
  'name-constraints', // a name outside a CA's nameConstraints, or constraints that cannot be applied
  'ca-eku', // an issuing certificate whose extendedKeyUsage does not allow clientAuth
  'bad-serial', // serial number negative, zero or over 20 octets (unless [trust] lenient_serials)
  'key-usage', // the sensor's keyUsage lacks digitalSignature
  'eku', // the sensor's extendedKeyUsage lacks clientAuth
  'bad-device-type', // the sensor's device-type extension is not a UTF8/Printable/IA5String
  // The RFC 5280 certificate profile (relaxed by [trust] lenient_profile for legacy PKIs)
  'key-identifier', // authorityKeyIdentifier missing (not self-signed) or subjectKeyIdentifier missing (CA)
  'extension-criticality', // an extension marked critical that MUST NOT be, or not marked that MUST be
  'empty-subject', // a CA with an empty subject; an end entity with one and no critical subjectAltName
  'san-syntax', // a dNSName subjectAltName outside the preferred name syntax (RFC 1034 §3.5, RFC 1123)
  // Algorithms
  'weak-signature-algorithm', // MD5, SHA-1
  'weak-key', // RSA below min_rsa_bits
  'curve-not-allowed',
  'unsupported-algorithm',
  // Revocation
  'revoked',
  'crl-missing', // no CRL for the issuer, under hard-fail
  'crl-stale', // past nextUpdate (beyond the grace period), under hard-fail / grace
  // Local decisions
  'denied', // on the local deny list
  'not-enrolled', // valid path, but no enabled individual or group enrollment covers it
  'enrollment-disabled',
  'constraint-device-type', // group enrollment's allowed device types
  'constraint-cn', // group enrollment's CN pattern
  'identity-conflict', // its upstream name is bound to another enrollment (sensor_names)
] as const;

export type ValidationReason = (typeof VALIDATION_REASONS)[number];

/** A refusal: the reason code, what exactly failed, and at which depth (0 = the sensor). */
export interface Refusal {
  reason: ValidationReason;
  detail: string;
  depth: number;
}
