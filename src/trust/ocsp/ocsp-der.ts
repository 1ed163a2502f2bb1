import { DER_TAG, type DerTlv, oidString, strictChildren, strictSingle } from '../../pki/index.js';
import { OcspResponseError } from './ocsp-response-error.js';

/** Readers for the DER values of OCSP responses; anything off is an OcspResponseError 'malformed'. */

export function malformed(detail: string, cause?: unknown): OcspResponseError {
  return new OcspResponseError('malformed', detail, { cause });
}

/** `element` is there and has tag `tag` (`where` names the field in the message). */
export function expectTag(element: DerTlv | undefined, tag: number, where: string): DerTlv {
  if (element === undefined) throw malformed(`${where} is missing`);
  if (element.tag !== tag) {
    throw malformed(`${where} has tag 0x${element.tag.toString(16)}, expected 0x${tag.toString(16)}`);
  }
  return element;
}

/** The one element inside an EXPLICIT tag, with tag `tag`. */
export function explicitInner(wrapper: DerTlv, tag: number, where: string): DerTlv {
  const [inner, extra] = strictChildren(wrapper.value);
  if (extra !== undefined) throw malformed(`${where} holds more than one element`);
  return expectTag(inner, tag, where);
}

/** `der` is exactly one element with tag `tag`, nothing before or after it. */
export function single(der: Uint8Array, tag: number, where: string): DerTlv {
  try {
    return strictSingle(der, tag);
  } catch (error) {
    throw malformed(`${where}: ${(error as Error).message}`);
  }
}

export function oidOf(element: DerTlv | undefined, where: string): string {
  return oidString(expectTag(element, DER_TAG.oid, where).value);
}

/** INTEGER content octets, minimal and non-empty as DER wants them. */
export function integerOctets(element: DerTlv | undefined, where: string): Uint8Array {
  const value = expectTag(element, DER_TAG.integer, where).value;
  const [first, second] = value;
  if (first === undefined) throw malformed(`${where} is an empty INTEGER`);
  if (second !== undefined && ((first === 0 && second < 0x80) || (first === 0xff && second >= 0x80))) {
    throw malformed(`${where} is a non-minimal INTEGER`);
  }
  return value;
}

/** A one-octet ENUMERATED (responseStatus, CRLReason). */
export function smallEnumerated(element: DerTlv | undefined, where: string): number {
  const value = expectTag(element, 0x0a, where).value;
  const [only, extra] = value;
  if (only === undefined || extra !== undefined || only >= 0x80) {
    throw malformed(`${where} is not a small ENUMERATED`);
  }
  return only;
}

/** BIT STRING of whole octets (signatures, public keys). */
export function octetAlignedBits(element: DerTlv | undefined, where: string): Uint8Array {
  const value = expectTag(element, DER_TAG.bitString, where).value;
  if (value[0] !== 0) throw malformed(`${where} is not a whole number of octets`);
  return value.subarray(1);
}

/**
 * GeneralizedTime as DER has it (RFC 5280 §4.1.2.5.2): YYYYMMDDHHMMSSZ, no fractions. OCSP uses
 * GeneralizedTime for every time it carries.
 */
export function generalizedTime(element: DerTlv | undefined, where: string): Date {
  const value = expectTag(element, DER_TAG.generalizedTime, where).value;
  const text = String.fromCharCode(...value);
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!match) throw malformed(`${where} is not a DER GeneralizedTime (YYYYMMDDHHMMSSZ): ${text}`);
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [
    number,
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

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
