import { TrustError } from '../trust-error.js';

/** Longer than any serial seen in the wild (RFC 5280 allows 20 octets; some CAs exceed it). */
const MAX_SERIAL_HEX_DIGITS = 128;

/**
 * A certificate serial in its stored form, as SensorIdentity.certificateSerial has it: lower-case hex,
 * no leading zeros, from what an operator typed (`0A:1B…` as openssl prints it, or `0x…`).
 */
export function normalizeSerial(text: string): string {
  const value = text.trim().replaceAll(':', '').toLowerCase().replace(/^0x/, '');
  if (!/^[0-9a-f]+$/.test(value) || value.length > MAX_SERIAL_HEX_DIGITS) {
    throw new TrustError(
      'EGW_TRUST_INVALID_ARGUMENT',
      `${JSON.stringify(text)} is not a certificate serial: expected hex digits (colons allowed)`,
      { hint: '`openssl x509 -in cert.pem -noout -serial` prints a certificate’s serial' },
    );
  }
  return value.replace(/^0+(?=.)/, '');
}
