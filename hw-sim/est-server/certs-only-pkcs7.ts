import { derOid, derSequence, derSet, derTlv } from './der.js';

const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_DATA = '1.2.840.113549.1.7.1';

/**
 * A degenerate ("certs-only") PKCS#7 SignedData holding `certificates` (DER), as RFC 7030 §4.1.3 and
 * §4.2.3 answer with — the same shape as `openssl crl2pkcs7 -nocrl`. Written directly: wrapping
 * certificates needs no ASN.1 library, and it is on every enrol's path.
 */
export function certsOnlyPkcs7(certificates: Uint8Array[]): Uint8Array {
  const signedData = derSequence(
    derTlv(0x02, Uint8Array.of(1)), // version 1
    derSet(), // digestAlgorithms: none
    derSequence(derOid(OID_DATA)), // encapContentInfo without content
    derTlv(0xa0, ...certificates), // [0] IMPLICIT certificates
    derSet(), // signerInfos: none
  );
  return derSequence(derOid(OID_SIGNED_DATA), derTlv(0xa0, signedData));
}
