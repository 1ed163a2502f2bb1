import { derOid, derSequence, derSet } from '../../src/pki/der.js';

const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID_SERIAL_NUMBER = '2.5.4.5';
const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const OID_PRIME256V1 = '1.2.840.10045.3.1.7';
const OID_CHALLENGE_PASSWORD = '1.2.840.113549.1.9.7';

/**
 * The /csrattrs answer (RFC 7030 §4.5.2, CsrAttrs ::= SEQUENCE OF AttrOrOID), DER: sign with
 * ecdsa-with-SHA256, put serialNumber in the subject, include the device-type extension, and — as an
 * Attribute, the form RFC 7030's own example uses for key types — an EC key on P-256.
 */
export function csrAttributesDer(
  deviceTypeOid: string,
  options: { challengePassword?: boolean } = {},
): Uint8Array {
  return derSequence(
    // With proof of possession required, the CSR must carry the channel binding (RFC 7030 §3.5).
    ...(options.challengePassword ? [derOid(OID_CHALLENGE_PASSWORD)] : []),
    derOid(OID_ECDSA_WITH_SHA256),
    derOid(OID_SERIAL_NUMBER),
    derOid(deviceTypeOid),
    derSequence(derOid(OID_EC_PUBLIC_KEY), derSet(derOid(OID_PRIME256V1))),
  );
}
