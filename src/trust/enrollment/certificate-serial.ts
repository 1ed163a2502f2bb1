import { TrustError } from '../trust-error.js';

/** Longer than any serial seen in the wild (RFC 5280 allows 20 octets; some CAs exceed it). */
const MAX_SERIAL_HEX_DIGITS = 128;

/**
 * A certificate serial in its stored form, as SensorIdentity.certificateSerial has it: lower-case hex,
 * no leading zeros, from what an operator typed (`0A:1B…` as openssl prints it, or `0x…`). A negative
 * serial (admitted under [trust] lenient_serials) is `-` and its magnitude: typed as openssl prints it
 * (`-0A1B` from `-serial`, `(Negative)0A:1B` or `-0xa1b` from `-text`).
 */
export function normalizeSerial(text: string): string {
  let value = text.trim().replaceAll(':', '').toLowerCase();
  let sign = '';
  const negative = /^(-|\(negative\)\s*)/.exec(value);
  if (negative !== null) {
    sign = '-';
    value = value.slice(negative[0].length);
  }
  value = value.replace(/^0x/, '');
  if (!/^[0-9a-f]+$/.test(value) || value.length > MAX_SERIAL_HEX_DIGITS) {
    throw new TrustError(
      'EGW_TRUST_INVALID_ARGUMENT',
      `${JSON.stringify(text)} is not a certificate serial: expected hex digits (colons allowed, '-' for a negative serial)`,
      { hint: '`openssl x509 -in cert.pem -noout -serial` prints a certificate’s serial' },
    );
  }
  const magnitude = value.replace(/^0+(?=.)/, '');
  return magnitude === '0' ? magnitude : `${sign}${magnitude}`;
}
