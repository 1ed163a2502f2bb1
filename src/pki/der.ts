/**
 * Just enough DER for hot and simple paths — writing OIDs, INTEGERs, times, SEQUENCEs and SETs (the
 * EST simulator's answers and certificates, test CRLs) and reading strict DER (CSRs, sensor
 * certificates, CRLs) — so they cost microseconds instead of a generic ASN.1 round trip.
 */

export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

export function derOid(oid: string): Uint8Array {
  const parts = oid.split('.').map((part) => {
    if (!/^\d+$/.test(part)) throw new Error(`not an OID: ${oid}`);
    return Number(part);
  });
  const [first, second, ...rest] = parts;
  if (first === undefined || second === undefined || first > 2) throw new Error(`not an OID: ${oid}`);
  const bytes = [...base128(first * 40 + second), ...rest.flatMap(base128)];
  return derTlv(TAG.oid, Uint8Array.from(bytes));
}

export function derSequence(...items: Uint8Array[]): Uint8Array {
  return derTlv(TAG.sequence, ...items);
}

export function derSet(...items: Uint8Array[]): Uint8Array {
  return derTlv(TAG.set, ...items);
}

/** An INTEGER from its two's-complement value octets, as given (the caller keeps them minimal). */
export function derInteger(value: Uint8Array): Uint8Array {
  return derTlv(TAG.integer, value);
}

/** A BIT STRING of whole octets (no unused bits). */
export function derBitString(value: Uint8Array): Uint8Array {
  return derTlv(TAG.bitString, Uint8Array.of(0), value);
}

export function derOctetString(value: Uint8Array): Uint8Array {
  return derTlv(TAG.octetString, value);
}

/**
 * RFC 5280 §4.1.2.5 Time, to the second: UTCTime (YYMMDDHHMMSSZ) through 2049, GeneralizedTime
 * (YYYYMMDDHHMMSSZ) from 2050 on. Milliseconds are dropped.
 */
export function derTime(date: Date): Uint8Array {
  const year = date.getUTCFullYear();
  const two = (value: number) => String(value).padStart(2, '0');
  const rest = `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}Z`;
  return year >= 1950 && year <= 2049
    ? derTlv(TAG.utcTime, ascii(`${two(year % 100)}${rest}`))
    : derTlv(TAG.generalizedTime, ascii(`${String(year).padStart(4, '0')}${rest}`));
}

/** Tag, definite length, then the contents concatenated. */
export function derTlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const content of contents) length += content.length;
  if (length >= 0x100000000) throw new Error('DER value too long');
  const lengthOctets =
    length < 0x80 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : length < 0x1000000 ? 4 : 5;
  const out = new Uint8Array(1 + lengthOctets + length);
  out[0] = tag;
  if (lengthOctets === 1) out[1] = length;
  else {
    out[1] = 0x80 | (lengthOctets - 1);
    for (let i = lengthOctets - 1, rest = length; i >= 1; i--, rest = Math.floor(rest / 256)) {
      out[1 + i] = rest % 256;
    }
  }
  let offset = 1 + lengthOctets;
  for (const content of contents) {
    out.set(content, offset);
    offset += content.length;
  }
  return out;
}

/** The complete encodings (tag, length, value) of the elements of the SEQUENCE `der` starts with. */
export function derElements(der: Uint8Array): Uint8Array[] {
  const outer = readHeader(der, 0);
  if (der[0] !== 0x30) throw new Error('not a DER SEQUENCE');
  const elements: Uint8Array[] = [];
  for (let offset = outer.contentStart; offset < outer.end; ) {
    const element = readHeader(der, offset);
    if (element.end > outer.end) throw new Error('truncated DER');
    elements.push(der.subarray(offset, element.end));
    offset = element.end;
  }
  return elements;
}

/** The value octets of one complete encoding. */
export function derContent(tlv: Uint8Array): Uint8Array {
  const header = readHeader(tlv, 0);
  return tlv.subarray(header.contentStart, header.end);
}

/** One element read by `strictTlv`: its tag, its complete encoding, and its value octets. */
export interface DerTlv {
  tag: number;
  /** Tag, length and value. */
  tlv: Uint8Array;
  value: Uint8Array;
}

/** Thrown by the strict reader: the input is not in the DER subset it reads (the caller falls back). */
export class NotStrictDerError extends Error {}

/**
 * The element at `offset` of `der`, read strictly: low tag numbers only, definite minimal lengths,
 * within `der`. Anything else throws NotStrictDerError.
 */
export function strictTlv(der: Uint8Array, offset = 0): DerTlv {
  const tag = der[offset];
  const first = der[offset + 1];
  if (tag === undefined || first === undefined) throw new NotStrictDerError('truncated DER');
  if ((tag & 0x1f) === 0x1f) throw new NotStrictDerError('high tag number');
  let length = first;
  let contentStart = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    // Four length octets: a 1,000,000-entry CRL is ~40 MB.
    if (count === 0 || count > 4) throw new NotStrictDerError('unsupported DER length');
    if (der[contentStart] === 0) throw new NotStrictDerError('non-minimal DER length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (der[contentStart + i] ?? 0);
    if (length < 0x80) throw new NotStrictDerError('non-minimal DER length');
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > der.length) throw new NotStrictDerError('truncated DER');
  return { tag, tlv: der.subarray(offset, end), value: der.subarray(contentStart, end) };
}

/** The elements inside a constructed value (`value` of a SEQUENCE, SET or constructed tag), strictly. */
export function strictChildren(value: Uint8Array): DerTlv[] {
  const children: DerTlv[] = [];
  for (let offset = 0; offset < value.length; ) {
    const child = strictTlv(value, offset);
    children.push(child);
    offset += child.tlv.length;
  }
  return children;
}

/** `der` is exactly one element with tag `tag` (nothing after it). */
export function strictSingle(der: Uint8Array, tag: number): DerTlv {
  const element = strictTlv(der, 0);
  if (element.tag !== tag || element.tlv.length !== der.length) {
    throw new NotStrictDerError(`expected one element with tag 0x${tag.toString(16)}`);
  }
  return element;
}

/** The dotted form of an OID's value octets (minimal base-128 only). */
export function oidString(value: Uint8Array): string {
  const arcs: number[] = [];
  let arc = 0;
  let started = false;
  for (const byte of value) {
    if (!started && byte === 0x80) throw new NotStrictDerError('non-minimal OID arc');
    started = true;
    arc = arc * 128 + (byte & 0x7f);
    if (arc > Number.MAX_SAFE_INTEGER / 128) throw new NotStrictDerError('OID arc too large');
    if (!(byte & 0x80)) {
      arcs.push(arc);
      arc = 0;
      started = false;
    }
  }
  if (started || arcs.length === 0) throw new NotStrictDerError('truncated OID');
  const first = arcs[0] ?? 0;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join('.');
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function readHeader(der: Uint8Array, offset: number): { contentStart: number; end: number } {
  const first = der[offset + 1];
  if (der[offset] === undefined || first === undefined) throw new Error('truncated DER');
  let length = first;
  let contentStart = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw new Error('unsupported DER length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (der[contentStart + i] ?? 0);
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > der.length) throw new Error('truncated DER');
  return { contentStart, end };
}

function base128(value: number): number[] {
  const bytes = [value % 128];
  for (let rest = Math.floor(value / 128); rest > 0; rest = Math.floor(rest / 128)) {
    bytes.unshift(0x80 | (rest % 128));
  }
  return bytes;
}

function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}
