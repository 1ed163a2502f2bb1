import { X509Certificate } from 'node:crypto';
import { DER_TAG, type DerTlv, NotStrictDerError, strictTlv } from '../../pki/index.js';

/**
 * The notAfter of a DER certificate in ms, read from the bytes (tbsCertificate → validity) without
 * building an X509Certificate: the session-ticket lifetime needs it on every full handshake, and
 * OpenSSL has already parsed and verified this certificate. Anything the short walk does not expect
 * (pki's strict DER reader refuses it, or a time without seconds) goes to node:crypto's parser instead.
 */
export function leafNotAfter(der: Uint8Array): number {
  const fast = notAfterFromDer(der);
  return fast ?? Date.parse(new X509Certificate(der).validTo);
}

/** The short walk alone: undefined where it gives up (exported for its test). */
export function notAfterFromDer(der: Uint8Array): number | undefined {
  try {
    // pki's strict reader: certificate → tbsCertificate → [version] serial signature issuer validity.
    const certificate = strictTlv(der);
    if (certificate.tag !== DER_TAG.sequence) return undefined;
    const tbs = strictTlv(certificate.value);
    if (tbs.tag !== DER_TAG.sequence) return undefined;
    let at = 0;
    let field = strictTlv(tbs.value, at);
    for (let skip = field.tag === 0xa0 ? 4 : 3; skip > 0; skip--) {
      at += field.tlv.length;
      field = strictTlv(tbs.value, at);
    }
    if (field.tag !== DER_TAG.sequence) return undefined;
    const notBefore = strictTlv(field.value);
    return timeOf(strictTlv(field.value, notBefore.tlv.length));
  } catch (error) {
    if (error instanceof NotStrictDerError) return undefined;
    throw error;
  }
}

/** RFC 5280 §4.1.2.5: UTCTime YYMMDDHHMMSSZ (50–99 → 19xx) or GeneralizedTime YYYYMMDDHHMMSSZ. */
function timeOf(time: DerTlv): number | undefined {
  const der = time.value;
  const yearDigits = time.tag === DER_TAG.utcTime ? 2 : time.tag === DER_TAG.generalizedTime ? 4 : 0;
  if (yearDigits === 0 || der.length !== yearDigits + 11 || der[der.length - 1] !== 0x5a /* Z */)
    return undefined;
  // Digits read straight from the bytes: no string, no regular expression per handshake.
  let at = 0;
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
