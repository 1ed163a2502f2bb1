/**
 * Base64 as RFC 2045 §6.8 decodes it, which is what RFC 7030 §4 points to: "Any characters outside
 * of the base64 alphabet are to be ignored", and a "=" marks the end of the data. Real EST servers
 * send line breaks (LF or CRLF, at 64 or 76 columns, or none), and one widely deployed server sends
 * its C string with the terminating NUL. Strict RFC 4648 decoding would refuse all of those.
 */
export interface Rfc2045Base64 {
  /** The decoded bytes (empty when the body holds no base64 character at all). */
  bytes: Buffer;
  /** Bytes outside the alphabet that are not white space (a NUL, stray punctuation), ignored. */
  ignored: number;
  /** White space (line breaks, spaces, tabs), ignored as RFC 2045 allows for wrapped lines. */
  whitespace: number;
  /** Base64 characters after the padding ("=" ends the data) or a lone dangling character, dropped. */
  dropped: number;
  /** The distinct ignored byte values, hex (e.g. ["00"]), for the log line. */
  ignoredValues: string[];
}

const ALPHABET = new Uint8Array(256);
for (const char of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') {
  ALPHABET[char.charCodeAt(0)] = 1;
}
const PAD = 0x3d; // '='
const WHITESPACE = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20]);

export function decodeRfc2045Base64(body: Uint8Array): Rfc2045Base64 {
  const kept: number[] = [];
  const ignoredValues = new Set<string>();
  let ignored = 0;
  let whitespace = 0;
  let dropped = 0;
  let ended = false;
  for (const byte of body) {
    if (ALPHABET[byte]) {
      if (ended) dropped += 1;
      else kept.push(byte);
    } else if (byte === PAD) {
      ended = true;
    } else if (WHITESPACE.has(byte)) {
      whitespace += 1;
    } else {
      ignored += 1;
      ignoredValues.add(byte.toString(16).padStart(2, '0'));
    }
  }
  // One character alone carries 6 bits, less than a byte: nothing to decode from it.
  if (kept.length % 4 === 1) {
    kept.pop();
    dropped += 1;
  }
  return {
    bytes: Buffer.from(Buffer.from(kept).toString('latin1'), 'base64'),
    ignored,
    whitespace,
    dropped,
    ignoredValues: [...ignoredValues],
  };
}
