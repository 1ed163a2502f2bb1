import { createHash, type KeyObject, sign } from 'node:crypto';
import {
  derBitString,
  derInteger,
  derOid,
  derSequence,
  derTime,
  derTlv,
  strictChildren,
  strictSingle,
  TAG,
} from '../../src/pki/der.js';

/** extnID subjectKeyIdentifier (2.5.29.14). */
const OID_SUBJECT_KEY_IDENTIFIER = derOid('2.5.29.14');
/** AlgorithmIdentifier ecdsa-with-SHA256 (no parameters, RFC 5758 §3.2). */
const ECDSA_WITH_SHA256 = derSequence(derOid('1.2.840.10045.4.3.2'));
/** [0] EXPLICIT Version v3. */
const VERSION_3 = derTlv(0xa0, derInteger(Uint8Array.of(2)));

/** A certificate's variable parts, each already DER (names, key and extensions as they are copied). */
export interface TbsFields {
  /** INTEGER value octets (positive, minimal). */
  serial: Uint8Array;
  issuer: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  subject: Uint8Array;
  spki: Uint8Array;
  /** Complete Extension encodings, in order. */
  extensions: Uint8Array[];
}

/** RFC 5280 TBSCertificate, v3, signed with ecdsa-with-SHA256. */
export function tbsCertificate(fields: TbsFields): Uint8Array {
  return derSequence(
    VERSION_3,
    derInteger(fields.serial),
    ECDSA_WITH_SHA256,
    fields.issuer,
    derSequence(derTime(fields.notBefore), derTime(fields.notAfter)),
    fields.subject,
    fields.spki,
    derTlv(0xa3, derSequence(...fields.extensions)),
  );
}

/** The Certificate: `tbs` signed by `key` (an EC private KeyObject) with ECDSA-SHA256. */
export function signCertificate(tbs: Uint8Array, key: KeyObject): Uint8Array {
  const signature = sign('sha256', tbs, { key, dsaEncoding: 'der' });
  return derSequence(tbs, ECDSA_WITH_SHA256, derBitString(signature));
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits of a SubjectPublicKeyInfo. */
export function keyIdentifier(spki: Uint8Array): Uint8Array {
  const [, bits] = strictChildren(strictSingle(spki, TAG.sequence).value);
  if (!bits || bits.tag !== TAG.bitString) throw new Error('not a SubjectPublicKeyInfo');
  return createHash('sha1').update(bits.value.subarray(1)).digest();
}

/** The non-critical subjectKeyIdentifier extension for `keyId`. */
export function subjectKeyIdentifierExtension(keyId: Uint8Array): Uint8Array {
  return derSequence(OID_SUBJECT_KEY_IDENTIFIER, derTlv(TAG.octetString, derTlv(TAG.octetString, keyId)));
}
