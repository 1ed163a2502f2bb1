import { createHash } from 'node:crypto';
import { TrustError } from './trust-error.js';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** SHA-256 of a certificate's DER, lower-case hex: the thumbprint every table is keyed by. */
export function sha256Hex(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** True when `text` is a SHA-256 thumbprint as operators paste them (any case, colons allowed). */
export function looksLikeThumbprint(text: string): boolean {
  return SHA256_HEX.test(compact(text));
}

/**
 * A thumbprint in its stored form (64 lower-case hex digits), from what an operator typed:
 * `AB:CD:…` as `openssl x509 -fingerprint -sha256` prints it, or plain hex in any case.
 */
export function normalizeThumbprint(text: string, what = 'SHA-256 thumbprint'): string {
  const value = compact(text);
  if (!SHA256_HEX.test(value)) {
    throw new TrustError(
      'EGW_TRUST_INVALID_ARGUMENT',
      `${JSON.stringify(text)} is not a ${what}: expected 64 hex digits (colons allowed)`,
      { hint: '`openssl x509 -in cert.pem -noout -fingerprint -sha256` prints a certificate’s thumbprint' },
    );
  }
  return value;
}

function compact(text: string): string {
  return text.trim().replaceAll(':', '').toLowerCase();
}
