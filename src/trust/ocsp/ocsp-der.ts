import { DER_TAG, type DerTlv, oidString, strictChildren, strictSingle } from '../../pki/index.js';
import { hex, timeOf, ValidationFailure } from '../validation/index.js';
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

/** A DER GeneralizedTime (RFC 6960 uses no UTCTime), read as certificates' times are. */
export function generalizedTime(element: DerTlv | undefined, where: string): Date {
  const time = expectTag(element, DER_TAG.generalizedTime, where);
  try {
    return timeOf(time, where);
  } catch (error) {
    if (error instanceof ValidationFailure) throw malformed(error.refusal.detail, error);
    throw error;
  }
}

export { hex };
