/**
 * CoAP's message format (RFC 7252 §3) as the fuzzer needs it: an encoder that writes whatever it is
 * given (a wrong version, a token length over 8, options out of order, reserved nibbles), so the
 * mutators can break the rules on purpose, and a lenient reader of the header of an answer.
 */

export const COAP_TYPE = { CON: 0, NON: 1, ACK: 2, RST: 3 } as const;
export const COAP_OPTION = {
  IF_MATCH: 1,
  URI_HOST: 3,
  ETAG: 4,
  IF_NONE_MATCH: 5,
  OBSERVE: 6,
  URI_PORT: 7,
  LOCATION_PATH: 8,
  URI_PATH: 11,
  CONTENT_FORMAT: 12,
  MAX_AGE: 14,
  URI_QUERY: 15,
  ACCEPT: 17,
  LOCATION_QUERY: 20,
  BLOCK2: 23,
  BLOCK1: 27,
  SIZE2: 28,
  PROXY_URI: 35,
  PROXY_SCHEME: 39,
  SIZE1: 60,
  NO_RESPONSE: 258,
} as const;

export interface CoapOption {
  number: number;
  value: Uint8Array;
}

export interface CoapMessage {
  version?: number;
  type: number;
  /** Class and detail as one byte, e.g. 0x01 GET, 0x02 POST, 0x45 2.05. */
  code: number;
  messageId: number;
  token: Uint8Array;
  /** Written as given; the encoder sorts them only when `sortOptions` is not false. */
  options: CoapOption[];
  payload?: Uint8Array;
  /** The token length nibble, when it should lie about the token (9..15 are reserved). */
  tokenLengthNibble?: number;
  sortOptions?: boolean;
}

/** An unsigned integer as a CoAP uint option value: big-endian, no leading zero bytes. */
export function uintOption(value: number): Uint8Array {
  const out: number[] = [];
  let rest = Math.max(0, Math.floor(value));
  while (rest > 0) {
    out.unshift(rest % 256);
    rest = Math.floor(rest / 256);
  }
  return Uint8Array.from(out);
}

/** A Block1/Block2 option value (RFC 7959 §2.2): NUM, M, SZX. */
export function blockOption(num: number, more: boolean, szx: number): Uint8Array {
  return uintOption(num * 16 + (more ? 8 : 0) + (szx & 7));
}

export function encodeCoap(message: CoapMessage): Buffer {
  const parts: Buffer[] = [];
  const tkl = message.tokenLengthNibble ?? message.token.length;
  parts.push(
    Buffer.from([
      (((message.version ?? 1) & 3) << 6) | ((message.type & 3) << 4) | (tkl & 15),
      message.code & 0xff,
      (message.messageId >> 8) & 0xff,
      message.messageId & 0xff,
    ]),
    Buffer.from(message.token),
  );
  const options =
    message.sortOptions === false
      ? message.options
      : [...message.options].sort((a, b) => a.number - b.number);
  let previous = 0;
  for (const option of options) {
    // Out-of-order options would need a negative delta: written as delta 0 (repeats the previous).
    const delta = Math.max(0, option.number - previous);
    previous = Math.max(previous, option.number);
    const [deltaNibble, deltaExtra] = extended(delta);
    const [lengthNibble, lengthExtra] = extended(option.value.length);
    parts.push(
      Buffer.from([(deltaNibble << 4) | lengthNibble]),
      deltaExtra,
      lengthExtra,
      Buffer.from(option.value),
    );
  }
  if (message.payload !== undefined) parts.push(Buffer.from([0xff]), Buffer.from(message.payload));
  return Buffer.concat(parts);
}

function extended(value: number): [number, Buffer] {
  if (value < 13) return [value, Buffer.alloc(0)];
  if (value < 269) return [13, Buffer.from([value - 13])];
  const extra = Buffer.alloc(2);
  extra.writeUInt16BE(Math.min(value - 269, 0xffff));
  return [14, extra];
}

export interface CoapHeader {
  type: number;
  code: number;
  messageId: number;
  token: Buffer;
}

/** The header and token of a datagram, or undefined when it is too short to be CoAP. */
export function readCoapHeader(datagram: Uint8Array): CoapHeader | undefined {
  if (datagram.length < 4) return undefined;
  const first = datagram[0] as number;
  const tkl = first & 15;
  if (first >> 6 !== 1 || tkl > 8 || datagram.length < 4 + tkl) return undefined;
  return {
    type: (first >> 4) & 3,
    code: datagram[1] as number,
    messageId: ((datagram[2] as number) << 8) | (datagram[3] as number),
    token: Buffer.from(datagram.subarray(4, 4 + tkl)),
  };
}

/** "2.05" for 0x45. */
export function codeText(code: number): string {
  return `${code >> 5}.${String(code & 31).padStart(2, '0')}`;
}

/** The empty ACK of a confirmable message (RFC 7252 §4.2): what a client owes each CON it receives. */
export function emptyAck(messageId: number): Buffer {
  return encodeCoap({ type: COAP_TYPE.ACK, code: 0, messageId, token: Buffer.alloc(0), options: [] });
}
