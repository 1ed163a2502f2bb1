import { X509Certificate, X509Certificates } from '../../pki/index.js';
import { decodeRfc2045Base64 } from './base64-rfc2045.js';
import { EstError } from './est-error.js';

/**
 * Decoding of EST response bodies (RFC 7030 §4.1.3, §4.2.3, §4.5.2): a certs-only PKCS#7 or a
 * CsrAttrs DER, in every form servers send them — base64 wrapped (LF or CRLF) or not, with stray
 * bytes (a C string's NUL), with or without Content-Transfer-Encoding, or as plain DER. Liberal in
 * the form; the content is checked as strictly as before.
 */

/** Where a body came from: for the debug line about ignored bytes and for errors that quote it. */
export interface EstBodySource {
  /** The EST operation, e.g. "csrattrs". */
  operation: string;
  /** The URL the body was fetched from. */
  url?: string;
  status?: number;
  contentType?: string;
  transferEncoding?: string;
  log?: EstBodyLog;
}

export interface EstBodyLog {
  debug(fields: object, message: string): void;
}

export function decodeBase64Body(body: Buffer, from: EstBodySource | string): Buffer {
  const source = typeof from === 'string' ? { operation: from } : from;
  // The form decides, never Content-Transfer-Encoding: servers send it or not, and HTTP is binary-clean
  // (RFC 7030 erratum 5107), so a body that is one whole DER SEQUENCE is the DER itself.
  if (isWholeDer(body)) return body;
  const decoded = decodeRfc2045Base64(body);
  if (decoded.bytes.length === 0) {
    throw new EstError(
      'EGW_EST_RESPONSE',
      `the ${where(source)} answer holds no base64 data: "${excerpt(body, 80)}"`,
      {
        hint: `the server said ${said(source, body)}`,
      },
    );
  }
  if (decoded.ignored > 0 || decoded.dropped > 0) {
    source.log?.debug(
      {
        event: 'est.body_ignored_bytes',
        operation: source.operation,
        ignored: decoded.ignored,
        values: decoded.ignoredValues,
        afterPadding: decoded.dropped,
      },
      `EST ${source.operation}: ${decoded.ignored} byte(s) outside the base64 alphabet ignored (RFC 2045 §6.8)` +
        (decoded.ignoredValues.length > 0
          ? ` [${decoded.ignoredValues.map((v) => `0x${v}`).join(' ')}]`
          : '') +
        (decoded.dropped > 0 ? `, ${decoded.dropped} character(s) after the end of the data dropped` : ''),
    );
  }
  return decoded.bytes;
}

/** The certificates of a base64 certs-only PKCS#7, in the order the server sent them. */
export function certificatesFromPkcs7Body(body: Buffer, from: EstBodySource | string): X509Certificate[] {
  const source = typeof from === 'string' ? { operation: from } : from;
  const der = decodeBase64Body(body, source);
  let certificates: X509Certificate[];
  try {
    certificates = [...new X509Certificates(new Uint8Array(der))];
  } catch (cause) {
    throw new EstError(
      'EGW_EST_RESPONSE',
      `the ${where(source)} answer is not a certs-only PKCS#7: "${excerpt(body, 80)}"`,
      {
        hint: `RFC 7030 wants application/pkcs7-mime (certs-only); the server said ${said(source, body)}`,
        cause,
      },
    );
  }
  if (certificates.length === 0) {
    throw new EstError('EGW_EST_RESPONSE', `the ${where(source)} answer holds no certificate`, {
      hint: `the server said ${said(source, body)}`,
    });
  }
  return certificates.map((certificate) => new X509Certificate(certificate.rawData));
}

/** One entry of a CsrAttrs response: a bare OID, or an attribute type with the OIDs among its values. */
export interface CsrAttribute {
  oid: string;
  values: string[];
}

/** CsrAttrs ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID (RFC 7030 §4.5.2); an empty body means none. */
export function csrAttributesFromBody(
  body: Buffer,
  from: EstBodySource | string = 'csrattrs',
): CsrAttribute[] {
  const source = typeof from === 'string' ? { operation: from } : from;
  // Nothing but white space and NULs: no attributes (a C server's empty string is one NUL).
  if (body.toString('latin1').replace(/[\s\0]+/g, '') === '') return [];
  const der = decodeBase64Body(body, source);
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
    throw new EstError(
      'EGW_EST_RESPONSE',
      `the ${where(source)} answer is not a DER CsrAttrs sequence: "${excerpt(body, 80)}"`,
      {
        hint: `the server said ${said(source, body)}`,
        cause,
      },
    );
  }
}

/** The start of a body as text, white space folded and control bytes shown as \xNN. */
export function excerpt(body: Buffer, length = 200): string {
  const text = body
    .toString('utf8')
    .replace(/\s+/g, ' ')
    .trim()
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control bytes are what this shows
    .replace(/[\x00-\x1f\x7f]/g, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return text.length > length ? `${text.slice(0, length)}…` : text || '(empty body)';
}

function where(source: EstBodySource): string {
  return source.url ? `${source.operation} (${source.url})` : source.operation;
}

/** What the server answered, quoted: status, Content-Type, Content-Transfer-Encoding, body start. */
function said(source: EstBodySource, body: Buffer): string {
  const parts = [
    source.status !== undefined ? String(source.status) : undefined,
    source.contentType ? `Content-Type ${source.contentType}` : 'no Content-Type',
    source.transferEncoding ? `Content-Transfer-Encoding ${source.transferEncoding}` : undefined,
    `${body.length} bytes: "${excerpt(body, 120)}"`,
  ];
  return parts.filter((part) => part !== undefined).join(', ');
}

/**
 * A body that is exactly one DER SEQUENCE is DER sent without base64. No base64 text can be one: base64
 * of a SEQUENCE starts with "M", and a text starting with "0" (0x30) decodes to 0xD0–0xD3, no SEQUENCE.
 */
function isWholeDer(body: Buffer): boolean {
  if (body[0] !== 0x30) return false;
  try {
    return readTlv(body, 0).end === body.length;
  } catch {
    return false;
  }
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
