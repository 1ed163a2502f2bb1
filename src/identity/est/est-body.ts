import { X509Certificate, X509Certificates } from '../../pki/index.js';
import { EstError } from './est-error.js';

/**
 * Decoding of EST response bodies (RFC 7030 §4.1.3, §4.2.3, §4.5.2): base64 with or without line
 * breaks (RFC 7030 says base64 with Content-Transfer-Encoding; real servers wrap at 64 or 76 columns,
 * or not at all), of a certs-only PKCS#7 or a CsrAttrs DER.
 */

const BASE64_TEXT = /^[A-Za-z0-9+/=\s]*$/;

export function decodeBase64Body(body: Buffer, what: string): Buffer {
  const text = body.toString('latin1');
  if (!BASE64_TEXT.test(text) || text.trim() === '') {
    throw new EstError('EGW_EST_RESPONSE', `the ${what} response is not base64 (${excerpt(body)})`, {
      hint: 'the server must answer with a base64 body (RFC 7030 §4); is the URL an EST server?',
    });
  }
  return Buffer.from(text.replace(/\s+/g, ''), 'base64');
}

/** The certificates of a base64 certs-only PKCS#7, in the order the server sent them. */
export function certificatesFromPkcs7Body(body: Buffer, what: string): X509Certificate[] {
  const der = decodeBase64Body(body, what);
  let certificates: X509Certificate[];
  try {
    certificates = [...new X509Certificates(new Uint8Array(der))];
  } catch (cause) {
    throw new EstError('EGW_EST_RESPONSE', `the ${what} response is not a certs-only PKCS#7`, {
      hint: 'the server must answer application/pkcs7-mime (certs-only)',
      cause,
    });
  }
  if (certificates.length === 0) {
    throw new EstError('EGW_EST_RESPONSE', `the ${what} response holds no certificate`);
  }
  return certificates.map((certificate) => new X509Certificate(certificate.rawData));
}

/** One entry of a CsrAttrs response: a bare OID, or an attribute type with the OIDs among its values. */
export interface CsrAttribute {
  oid: string;
  values: string[];
}

/** CsrAttrs ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID (RFC 7030 §4.5.2); an empty body means none. */
export function csrAttributesFromBody(body: Buffer): CsrAttribute[] {
  if (body.toString('latin1').trim() === '') return [];
  const der = decodeBase64Body(body, 'csrattrs');
  try {
    const outer = readTlv(der, 0);
    if (outer.tag !== 0x30) throw new Error('not a SEQUENCE');
    const attributes: CsrAttribute[] = [];
    for (const item of children(der, outer)) {
      if (item.tag === 0x06) {
        attributes.push({ oid: decodeOid(der.subarray(item.start, item.end)), values: [] });
      } else if (item.tag === 0x30) {
        const [type, set] = children(der, item);
        if (type?.tag !== 0x06) throw new Error('attribute without a type');
        const values =
          set?.tag === 0x31
            ? children(der, set)
                .filter((value) => value.tag === 0x06)
                .map((value) => decodeOid(der.subarray(value.start, value.end)))
            : [];
        attributes.push({ oid: decodeOid(der.subarray(type.start, type.end)), values });
      }
    }
    return attributes;
  } catch (cause) {
    throw new EstError('EGW_EST_RESPONSE', 'the csrattrs response is not a DER CsrAttrs sequence', {
      cause,
    });
  }
}

export function excerpt(body: Buffer, length = 200): string {
  const text = body.toString('utf8').replace(/\s+/g, ' ').trim();
  return text.length > length ? `${text.slice(0, length)}…` : text || '(empty body)';
}

interface Tlv {
  tag: number;
  start: number;
  end: number;
}

function readTlv(der: Buffer, offset: number): Tlv {
  const tag = der[offset];
  let length = der[offset + 1];
  if (tag === undefined || length === undefined) throw new Error('truncated DER');
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 3) throw new Error('unsupported DER length');
    length = der.readUIntBE(start, bytes);
    start += bytes;
  }
  if (start + length > der.length) throw new Error('truncated DER');
  return { tag, start, end: start + length };
}

function children(der: Buffer, parent: Tlv): Tlv[] {
  const items: Tlv[] = [];
  for (let offset = parent.start; offset < parent.end; ) {
    const item = readTlv(der, offset);
    items.push(item);
    offset = item.end;
  }
  return items;
}

function decodeOid(bytes: Buffer): string {
  const parts: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      parts.push(value);
      value = 0;
    }
  }
  const first = parts.shift() ?? 0;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...parts].join('.');
}
