import { DER_TAG, type DerTlv, sameBytes, strictChildren } from '../../pki/index.js';
import type { CertificateFacts } from '../validation/index.js';
import { publicKeySha1 } from './cert-id.js';
import { expectTag, hex, malformed } from './ocsp-der.js';

/** ResponderID ::= CHOICE { byName [1] Name, byKey [2] KeyHash } (EXPLICIT: the module's default tagging). */
export type ResponderId =
  | { kind: 'name' /** Name DER. */; name: Uint8Array }
  | { kind: 'key' /** SHA-1 of the responder's subjectPublicKey BIT STRING value. */; keyHash: Uint8Array };

export function readResponderId(element: DerTlv | undefined, where: string): ResponderId {
  if (element === undefined) throw malformed(`${where} is missing`);
  const [inner, extra] = strictChildren(element.value);
  if (extra !== undefined) throw malformed(`${where} holds more than one element`);
  if (element.tag === 0xa1)
    return { kind: 'name', name: expectTag(inner, DER_TAG.sequence, `${where} byName`).tlv };
  if (element.tag === 0xa2) {
    const keyHash = expectTag(inner, DER_TAG.octetString, `${where} byKey`).value;
    if (keyHash.length !== 20)
      throw malformed(`${where} byKey is not a SHA-1 hash (${keyHash.length} octets)`);
    return { kind: 'key', keyHash };
  }
  throw malformed(`${where} has tag 0x${element.tag.toString(16)}, not byName [1] nor byKey [2]`);
}

/** Whether `certificate` is the responder `id` names (names compare as DER bytes, as in path validation). */
export function namesResponder(id: ResponderId, certificate: CertificateFacts): boolean {
  return id.kind === 'name'
    ? sameBytes(id.name, certificate.subjectDer)
    : sameBytes(id.keyHash, publicKeySha1(certificate));
}

export function responderIdText(id: ResponderId): string {
  return id.kind === 'name' ? 'byName' : `byKey ${hex(id.keyHash)}`;
}
