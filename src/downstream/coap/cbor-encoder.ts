/** What the gateway itself writes as CBOR: unsigned integers, text and maps with text keys. */
export type CborValue = number | string | { readonly [key: string]: CborValue };

/**
 * Encodes `value` in CBOR's preferred serialization (shortest heads, definite lengths, RFC 8949 §4.1):
 * enough for the gateway's own small answers (GET /time), so no general encoder is needed.
 */
export function encodeCbor(value: CborValue): Buffer {
  const parts: Buffer[] = [];
  write(value, parts);
  return Buffer.concat(parts);
}

function write(value: CborValue, parts: Buffer[]): void {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`only unsigned integers are encoded, not ${value}`);
    }
    parts.push(head(0, value));
  } else if (typeof value === 'string') {
    const text = Buffer.from(value, 'utf8');
    parts.push(head(3, text.length), text);
  } else {
    const entries = Object.entries(value);
    parts.push(head(5, entries.length));
    for (const [key, entry] of entries) {
      write(key, parts);
      write(entry, parts);
    }
  }
}

function head(major: number, argument: number): Buffer {
  const type = major << 5;
  if (argument < 24) return Buffer.from([type | argument]);
  if (argument <= 0xff) return Buffer.from([type | 24, argument]);
  if (argument <= 0xffff) {
    const bytes = Buffer.alloc(3);
    bytes[0] = type | 25;
    bytes.writeUInt16BE(argument, 1);
    return bytes;
  }
  if (argument <= 0xffff_ffff) {
    const bytes = Buffer.alloc(5);
    bytes[0] = type | 26;
    bytes.writeUInt32BE(argument, 1);
    return bytes;
  }
  const bytes = Buffer.alloc(9);
  bytes[0] = type | 27;
  bytes.writeBigUInt64BE(BigInt(argument), 1);
  return bytes;
}
