import { DER_TAG, type DerTlv, strictChildren, strictSingle } from '../../pki/index.js';
import { ValidationFailure } from './validation-failure.js';

/** Readers for the primitive DER values inside certificates; anything off throws 'malformed'. */

export function malformed(detail: string): ValidationFailure {
  return ValidationFailure.of('malformed', detail);
}

/** `element` has tag `tag`, or the certificate is malformed (`where` names the field). */
export function expectTag(element: DerTlv | undefined, tag: number, where: string): DerTlv {
  if (element === undefined) throw malformed(`${where} is missing`);
  if (element.tag !== tag) {
    throw malformed(`${where} has tag 0x${element.tag.toString(16)}, expected 0x${tag.toString(16)}`);
  }
  return element;
}

/** The children of a SEQUENCE that must be exactly the DER in `der`. */
export function sequenceIn(der: Uint8Array, where: string): DerTlv[] {
  return strictChildren(single(der, DER_TAG.sequence, where).value);
}

export function single(der: Uint8Array, tag: number, where: string): DerTlv {
  try {
    return strictSingle(der, tag);
  } catch (error) {
    throw malformed(`${where}: ${(error as Error).message}`);
  }
}

/** INTEGER content octets, checked minimal (DER) and non-empty. */
export function integerOctets(element: DerTlv, where: string): Uint8Array {
  const value = expectTag(element, DER_TAG.integer, where).value;
  const [first, second] = value;
  if (first === undefined) throw malformed(`${where} is an empty INTEGER`);
  if (second !== undefined && ((first === 0 && second < 0x80) || (first === 0xff && second >= 0x80))) {
    throw malformed(`${where} is a non-minimal INTEGER`);
  }
  return value;
}

/** A small non-negative INTEGER (version, pathLenConstraint, saltLength). */
export function smallInteger(element: DerTlv, where: string): number {
  const value = integerOctets(element, where);
  if ((value[0] ?? 0) >= 0x80) throw malformed(`${where} is negative`);
  if (value.length > 4) throw malformed(`${where} is too large`);
  let result = 0;
  for (const byte of value) result = result * 256 + byte;
  return result;
}

/** BOOLEAN TRUE: DER allows only 0xFF, and a DEFAULT FALSE is never encoded. */
export function explicitTrue(element: DerTlv, where: string): true {
  expectTag(element, DER_TAG.boolean, where);
  if (element.value.length !== 1 || element.value[0] !== 0xff) {
    throw malformed(`${where}: a DEFAULT FALSE BOOLEAN must be omitted, and TRUE is 0xFF in DER`);
  }
  return true;
}

/** BIT STRING contents, with the unused-bit count checked and the unused bits zero. */
export function bitString(element: DerTlv, where: string): { unused: number; bytes: Uint8Array } {
  const value = expectTag(element, DER_TAG.bitString, where).value;
  const unused = value[0];
  if (unused === undefined || unused > 7 || (value.length === 1 && unused !== 0)) {
    throw malformed(`${where} is not a valid BIT STRING`);
  }
  const bytes = value.subarray(1);
  const last = bytes[bytes.length - 1] ?? 0;
  if ((last & ((1 << unused) - 1)) !== 0) throw malformed(`${where} has non-zero unused bits`);
  return { unused, bytes };
}

/** A BIT STRING of whole octets (signatures, public keys). */
export function octetAlignedBits(element: DerTlv, where: string): Uint8Array {
  const { unused, bytes } = bitString(element, where);
  if (unused !== 0) throw malformed(`${where} is not a whole number of octets`);
  return bytes;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
const LATIN1 = new TextDecoder('latin1');

/** The text of a string-typed value (UTF8, Printable, IA5, Teletex, BMP, Universal), else undefined. */
export function stringText(element: DerTlv): string | undefined {
  const { tag, value } = element;
  try {
    switch (tag) {
      case 0x0c: // UTF8String
        return UTF8.decode(value);
      case 0x13: // PrintableString
      case 0x16: // IA5String
      case 0x1a: // VisibleString
        return asciiOnly(value);
      case 0x14: // TeletexString: treated as Latin-1, as most decoders do
        return LATIN1.decode(value);
      case 0x1e: // BMPString
        return codeUnits(value, 2);
      case 0x1c: // UniversalString
        return codeUnits(value, 4);
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

function asciiOnly(value: Uint8Array): string {
  let text = '';
  for (const byte of value) {
    if (byte > 0x7f) throw new Error('not ASCII');
    text += String.fromCharCode(byte);
  }
  return text;
}

function codeUnits(value: Uint8Array, width: 2 | 4): string {
  if (value.length % width !== 0) throw new Error('odd length');
  let text = '';
  for (let i = 0; i < value.length; i += width) {
    let point = 0;
    for (let j = 0; j < width; j++) point = point * 256 + (value[i + j] ?? 0);
    text += String.fromCodePoint(point);
  }
  return text;
}

/** RFC 5280 §4.1.2.5 Time in DER: UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ. */
export function timeOf(element: DerTlv | undefined, where: string): Date {
  if (element === undefined) throw malformed(`${where} is missing`);
  const text = stringOfDigits(element.value);
  let year: number;
  let rest: string;
  if (element.tag === DER_TAG.utcTime && /^\d{12}Z$/.test(text)) {
    const yy = Number(text.slice(0, 2));
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    rest = text.slice(2);
  } else if (element.tag === DER_TAG.generalizedTime && /^\d{14}Z$/.test(text)) {
    year = Number(text.slice(0, 4));
    rest = text.slice(4);
  } else {
    throw malformed(`${where} is not a DER UTCTime or GeneralizedTime with seconds and Z`);
  }
  const [month, day, hour, minute, second] = [0, 2, 4, 6, 8].map((at) => Number(rest.slice(at, at + 2))) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  // Date.UTC rolls 31 February over into March: a date that does not round-trip does not exist.
  if (
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    throw malformed(`${where} is not a valid date: ${text}`);
  }
  return date;
}

function stringOfDigits(value: Uint8Array): string {
  let text = '';
  for (const byte of value) text += String.fromCharCode(byte);
  return text;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
