/**
 * Just enough CBOR (RFC 8949) for telemetry: unsigned and negative integers, floats, text and byte
 * strings, arrays, maps, booleans and null, definite lengths only. The decoder also reads half
 * floats and skips tags (the tagged value is returned), so it reads what other encoders write for
 * the same data. Preferred serialization: the shortest head, floats as float32 when exact.
 */
export type CborValue =
  | number
  | bigint
  | string
  | boolean
  | null
  | undefined
  | Uint8Array
  | CborValue[]
  | { [key: string]: CborValue };

export function encodeCbor(value: CborValue): Uint8Array {
  const out: number[] = [];
  write(out, value);
  return Uint8Array.from(out);
}

export function decodeCbor(bytes: Uint8Array): CborValue {
  const reader = { bytes, offset: 0 };
  const value = read(reader, 0);
  if (reader.offset !== bytes.length)
    throw new Error(`CBOR: ${bytes.length - reader.offset} bytes after the item`);
  return value;
}

function head(out: number[], major: number, value: number | bigint): void {
  const n = BigInt(value);
  const type = major << 5;
  if (n < 24n) out.push(type | Number(n));
  else if (n < 0x100n) out.push(type | 24, Number(n));
  else if (n < 0x10000n) out.push(type | 25, Number(n >> 8n), Number(n & 0xffn));
  else if (n < 0x100000000n) out.push(type | 26, ...bytesOf(n, 4));
  else out.push(type | 27, ...bytesOf(n, 8));
}

function bytesOf(n: bigint, length: number): number[] {
  const bytes: number[] = [];
  for (let i = length - 1; i >= 0; i--) bytes.push(Number((n >> BigInt(8 * i)) & 0xffn));
  return bytes;
}

function write(out: number[], value: CborValue): void {
  if (value === null) out.push(0xf6);
  else if (value === undefined) out.push(0xf7);
  else if (value === true) out.push(0xf5);
  else if (value === false) out.push(0xf4);
  else if (typeof value === 'bigint') {
    if (value >= 0n) head(out, 0, value);
    else head(out, 1, -1n - value);
  } else if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) {
      if (value >= 0) head(out, 0, value);
      else head(out, 1, -1 - value);
    } else if (Math.fround(value) === value || Number.isNaN(value)) {
      const view = new DataView(new ArrayBuffer(4));
      view.setFloat32(0, value);
      out.push(0xfa, ...new Uint8Array(view.buffer));
    } else {
      const view = new DataView(new ArrayBuffer(8));
      view.setFloat64(0, value);
      out.push(0xfb, ...new Uint8Array(view.buffer));
    }
  } else if (typeof value === 'string') {
    const utf8 = Buffer.from(value, 'utf8');
    head(out, 3, utf8.length);
    for (const byte of utf8) out.push(byte);
  } else if (value instanceof Uint8Array) {
    head(out, 2, value.length);
    for (const byte of value) out.push(byte);
  } else if (Array.isArray(value)) {
    head(out, 4, value.length);
    for (const item of value) write(out, item);
  } else {
    const entries = Object.entries(value).filter(([, item]) => item !== undefined);
    head(out, 5, entries.length);
    for (const [key, item] of entries) {
      write(out, key);
      write(out, item);
    }
  }
}

interface Reader {
  bytes: Uint8Array;
  offset: number;
}

function take(reader: Reader, length: number): Uint8Array {
  if (reader.offset + length > reader.bytes.length) throw new Error('CBOR: truncated');
  const slice = reader.bytes.subarray(reader.offset, reader.offset + length);
  reader.offset += length;
  return slice;
}

function argument(reader: Reader, info: number): bigint {
  if (info < 24) return BigInt(info);
  const length = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
  if (length === 0) throw new Error(`CBOR: additional information ${info} is not supported`);
  let n = 0n;
  for (const byte of take(reader, length)) n = (n << 8n) | BigInt(byte);
  return n;
}

/** Integers as numbers when safe, bigints beyond. */
function integer(n: bigint): number | bigint {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

function read(reader: Reader, depth: number): CborValue {
  if (depth > 32) throw new Error('CBOR: nested too deeply');
  const [initial] = take(reader, 1);
  const major = (initial as number) >> 5;
  const info = (initial as number) & 0x1f;
  if (major === 7) return simple(reader, info);
  const n = argument(reader, info);
  switch (major) {
    case 0:
      return integer(n);
    case 1:
      return integer(-1n - n);
    case 2:
      return Uint8Array.from(take(reader, Number(n)));
    case 3:
      return Buffer.from(take(reader, Number(n))).toString('utf8');
    case 4: {
      const items: CborValue[] = [];
      for (let i = 0n; i < n; i++) items.push(read(reader, depth + 1));
      return items;
    }
    case 5: {
      const map: { [key: string]: CborValue } = {};
      for (let i = 0n; i < n; i++) {
        const key = read(reader, depth + 1);
        map[String(key)] = read(reader, depth + 1);
      }
      return map;
    }
    default:
      // Tag (major 6): the tagged item stands for itself here (e.g. tag 1, epoch time).
      return read(reader, depth + 1);
  }
}

function simple(reader: Reader, info: number): CborValue {
  switch (info) {
    case 20:
      return false;
    case 21:
      return true;
    case 22:
      return null;
    case 23:
      return undefined;
    case 25:
      return halfFloat(take(reader, 2));
    case 26:
      return new DataView(Uint8Array.from(take(reader, 4)).buffer).getFloat32(0);
    case 27:
      return new DataView(Uint8Array.from(take(reader, 8)).buffer).getFloat64(0);
    default:
      throw new Error(`CBOR: simple value ${info} is not supported`);
  }
}

function halfFloat(bytes: Uint8Array): number {
  const half = ((bytes[0] as number) << 8) | (bytes[1] as number);
  const exponent = (half >> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  const value =
    exponent === 0
      ? mantissa * 2 ** -24
      : exponent === 31
        ? mantissa === 0
          ? Number.POSITIVE_INFINITY
          : Number.NaN
        : (mantissa + 1024) * 2 ** (exponent - 25);
  return half & 0x8000 ? -value : value;
}
