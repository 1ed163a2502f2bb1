import { X509Certificate } from 'node:crypto';

/**
 * The notAfter of a DER certificate in ms, read from the bytes (tbsCertificate → validity) without
 * building an X509Certificate: the session-ticket lifetime needs it on every full handshake, and
 * OpenSSL has already parsed and verified this certificate. Anything the short walk does not expect
 * (a high tag, a long length, a time without seconds) goes to node:crypto's parser instead.
 */
export function leafNotAfter(der: Uint8Array): number {
  const fast = notAfterFromDer(der);
  return fast ?? Date.parse(new X509Certificate(der).validTo);
}

const SEQUENCE = 0x30;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;

interface Element {
  tag: number;
  /** Where the value starts and the element ends. */
  start: number;
  end: number;
}

function element(der: Uint8Array, at: number, limit: number): Element | undefined {
  const tag = der[at];
  let length = der[at + 1];
  if (tag === undefined || length === undefined || (tag & 0x1f) === 0x1f) return undefined;
  let start = at + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 3) return undefined;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (der[start + i] ?? 0);
    start += count;
  }
  const end = start + length;
  return end <= limit ? { tag, start, end } : undefined;
}

/** The short walk alone: undefined where it gives up (exported for its test). */
export function notAfterFromDer(der: Uint8Array): number | undefined {
  const certificate = element(der, 0, der.length);
  if (certificate?.tag !== SEQUENCE) return undefined;
  const tbs = element(der, certificate.start, certificate.end);
  if (tbs?.tag !== SEQUENCE) return undefined;
  let field = element(der, tbs.start, tbs.end);
  if (field?.tag === 0xa0) field = element(der, field.end, tbs.end); // [0] version
  // serialNumber, signature, issuer, then validity.
  for (let skip = 0; skip < 3 && field; skip++) field = element(der, field.end, tbs.end);
  if (field?.tag !== SEQUENCE) return undefined;
  const notBefore = element(der, field.start, field.end);
  const notAfter = notBefore && element(der, notBefore.end, field.end);
  return notAfter ? timeOf(der, notAfter) : undefined;
}

/** RFC 5280 §4.1.2.5: UTCTime YYMMDDHHMMSSZ (50–99 → 19xx) or GeneralizedTime YYYYMMDDHHMMSSZ. */
function timeOf(der: Uint8Array, time: Element): number | undefined {
  const length = time.end - time.start;
  const yearDigits = time.tag === UTC_TIME ? 2 : time.tag === GENERALIZED_TIME ? 4 : 0;
  if (yearDigits === 0 || length !== yearDigits + 11 || der[time.end - 1] !== 0x5a /* Z */) return undefined;
  // Digits read straight from the bytes: no string, no regular expression per handshake.
  let at = time.start;
  const digits = (count: number): number | undefined => {
    let value = 0;
    for (let i = 0; i < count; i++) {
      const digit = (der[at++] ?? 0) - 0x30;
      if (digit < 0 || digit > 9) return undefined;
      value = value * 10 + digit;
    }
    return value;
  };
  let year = digits(yearDigits);
  if (year === undefined) return undefined;
  if (yearDigits === 2) year += year >= 50 ? 1900 : 2000;
  const fields: number[] = [];
  for (let i = 0; i < 5; i++) {
    const value = digits(2);
    if (value === undefined) return undefined;
    fields.push(value);
  }
  const [month = 0, day = 0, hour = 0, minute = 0, second = 0] = fields;
  return Date.UTC(year, month - 1, day, hour, minute, second);
}
