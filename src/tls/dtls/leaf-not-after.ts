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
  const text = String.fromCharCode(...der.subarray(time.start, time.end));
  let year: number;
  let rest: string;
  if (time.tag === UTC_TIME && /^\d{12}Z$/.test(text)) {
    const yy = Number(text.slice(0, 2));
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    rest = text.slice(2);
  } else if (time.tag === GENERALIZED_TIME && /^\d{14}Z$/.test(text)) {
    year = Number(text.slice(0, 4));
    rest = text.slice(4);
  } else {
    return undefined;
  }
  const two = (at: number) => Number(rest.slice(at, at + 2));
  return Date.UTC(year, two(0) - 1, two(2), two(4), two(6), two(8));
}
