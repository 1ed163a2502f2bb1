import { looksLikeThumbprint, normalizeThumbprint } from '../thumbprint.js';
import { normalizeSerial } from './certificate-serial.js';

/** A deny-list entry matches a sensor certificate by its SHA-256 or by its serial. */
export type DenyKind = 'sha256' | 'serial';

export interface DenyTarget {
  kind: DenyKind;
  /** Stored form: 64 lower-case hex digits, or the serial in lower-case hex without leading zeros. */
  value: string;
}

/**
 * What an operator means by `block <value>`: 64 hex digits are a thumbprint (a serial is at most
 * 20 octets, 40 digits, so the forms cannot collide); anything else, or `serial`, is a serial.
 */
export function denyTarget(text: string, options: { serial?: boolean } = {}): DenyTarget {
  if (!options.serial && looksLikeThumbprint(text))
    return { kind: 'sha256', value: normalizeThumbprint(text) };
  return { kind: 'serial', value: normalizeSerial(text) };
}

/** The stored form of `value` for an entry of `kind`. */
export function normalizeDenyValue(kind: DenyKind, value: string): string {
  return kind === 'sha256' ? normalizeThumbprint(value) : normalizeSerial(value);
}
