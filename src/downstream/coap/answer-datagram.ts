import { generate } from 'coap-packet';
import { answerOptions, type ResponseOptions } from './option-values.js';

const OPTION_CONTENT_FORMAT = 12;
const OPTION_MAX_AGE = 14;
const PAYLOAD_MARKER = 0xff;
/** Answer codes as the header's byte ("2.05" → 0x45), each computed once. */
const CODE_BYTES = new Map<string, number>();

/**
 * The datagram of an answer that takes its request's message id (piggy-backed on the ACK of a CON,
 * or NON for a NON): the same bytes coap-packet's generate() makes of it, written into one buffer.
 * The common answer (GET /time, a refusal: Content-Format and Max-Age at most, a token of up to 12
 * bytes) is encoded here; generate() sorted, allocated and copied each option and decoded the
 * payload as UTF-8 only to see that it is not empty (it and answerOptions were ~10 % of the daemon's
 * busy time under GET load, --cpu-prof). Anything else goes through generate() as before.
 * Throws generate()'s error when the datagram would be longer than `maxLength`.
 */
export function answerDatagram(
  code: string,
  token: Buffer,
  messageId: number,
  confirmableRequest: boolean,
  options: ResponseOptions,
  payload: Buffer,
  maxLength: number,
): Buffer {
  const codeByte = codeByteOf(code);
  const { contentFormat, maxAge } = options;
  if (
    codeByte === undefined ||
    token.length > 12 ||
    options.size1 !== undefined ||
    options.block1 !== undefined ||
    options.block2 !== undefined ||
    options.size2 !== undefined ||
    options.etag !== undefined ||
    (contentFormat !== undefined &&
      !(Number.isInteger(contentFormat) && contentFormat >= 0 && contentFormat <= 0xffff)) ||
    (maxAge !== undefined && !(Number.isInteger(maxAge) && maxAge <= 0xffffffff))
  ) {
    return generate(
      {
        code,
        token,
        options: answerOptions(options),
        payload,
        confirmable: false,
        ack: confirmableRequest,
        messageId,
      },
      maxLength,
    );
  }
  // node-coap's encodings (option-values.ts): Content-Format one byte up to 255 (0 is one zero
  // byte), else two; Max-Age the shortest uint (0 is empty).
  const formatBytes = contentFormat === undefined ? 0 : contentFormat > 255 ? 2 : 1;
  const ageBytes = maxAge === undefined ? 0 : uintBytes(maxAge);
  // Content-Format's delta (12) fits the option's first byte; Max-Age's after it (2) too, alone (14) not.
  const length =
    4 +
    token.length +
    (contentFormat === undefined ? 0 : 1 + formatBytes) +
    (maxAge === undefined ? 0 : (contentFormat === undefined ? 2 : 1) + ageBytes) +
    (payload.length > 0 ? 1 + payload.length : 0);
  if (length > maxLength) throw new Error(`Max packet size is ${maxLength}: current is ${length}`);
  const datagram = Buffer.allocUnsafe(length);
  datagram[0] = 0x40 | (confirmableRequest ? 0x20 : 0x10) | token.length;
  datagram[1] = codeByte;
  datagram[2] = messageId >> 8;
  datagram[3] = messageId & 0xff;
  let at = 4 + token.copy(datagram, 4);
  if (contentFormat !== undefined) {
    datagram[at++] = (OPTION_CONTENT_FORMAT << 4) | formatBytes;
    if (formatBytes === 2) datagram[at++] = contentFormat >> 8;
    datagram[at++] = contentFormat & 0xff;
  }
  if (maxAge !== undefined) {
    if (contentFormat === undefined) {
      datagram[at++] = (13 << 4) | ageBytes;
      datagram[at++] = OPTION_MAX_AGE - 13;
    } else {
      datagram[at++] = ((OPTION_MAX_AGE - OPTION_CONTENT_FORMAT) << 4) | ageBytes;
    }
    for (let i = ageBytes - 1; i >= 0; i--) datagram[at++] = Math.floor(maxAge / 256 ** i) % 256;
  }
  if (payload.length > 0) {
    datagram[at++] = PAYLOAD_MARKER;
    payload.copy(datagram, at);
  }
  return datagram;
}

/** "c.dd" (c 1 to 7) → the code's byte; undefined otherwise (generate() reads those its own way). */
function codeByteOf(code: string): number | undefined {
  let byte = CODE_BYTES.get(code);
  if (byte === undefined) {
    const match = /^([1-7])\.([0-3][0-9])$/.exec(code);
    if (!match) return undefined;
    byte = (Number(match[1]) << 5) | Number(match[2]);
    if (Number(match[2]) > 31) return undefined;
    CODE_BYTES.set(code, byte);
  }
  return byte;
}

function uintBytes(value: number): number {
  let bytes = 0;
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes++;
  return bytes;
}
