/**
 * Just enough DER for the simulator's hot and simple paths — writing OIDs, SEQUENCEs and SETs (the
 * /csrattrs answer, the certs-only PKCS#7 wrapper) and splitting a SEQUENCE into its elements (the
 * signed part of a CSR) — so they cost microseconds instead of a generic ASN.1 round trip.
 */

export function derOid(oid: string): Uint8Array {
  const parts = oid.split('.').map((part) => {
    if (!/^\d+$/.test(part)) throw new Error(`not an OID: ${oid}`);
    return Number(part);
  });
  const [first, second, ...rest] = parts;
  if (first === undefined || second === undefined || first > 2) throw new Error(`not an OID: ${oid}`);
  const bytes = [...base128(first * 40 + second), ...rest.flatMap(base128)];
  return derTlv(0x06, Uint8Array.from(bytes));
}

export function derSequence(...items: Uint8Array[]): Uint8Array {
  return derTlv(0x30, ...items);
}

export function derSet(...items: Uint8Array[]): Uint8Array {
  return derTlv(0x31, ...items);
}

/** Tag, definite length, then the contents concatenated. */
export function derTlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const content = concat(contents);
  return concat([Uint8Array.of(tag), derLength(content.length), content]);
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

function derLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

function base128(value: number): number[] {
  const bytes = [value % 128];
  for (let rest = Math.floor(value / 128); rest > 0; rest = Math.floor(rest / 128)) {
    bytes.unshift(0x80 | (rest % 128));
  }
  return bytes;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
