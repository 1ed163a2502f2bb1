import { derOid, derSequence, derSet, derTlv } from '../../src/pki/der.js';

// The fixed parts, encoded once: every enrol answer is wrapped.
const SIGNED_DATA = derOid('1.2.840.113549.1.7.2');
const VERSION_1 = derTlv(0x02, Uint8Array.of(1));
const NO_DIGEST_ALGORITHMS = derSet();
const NO_CONTENT = derSequence(derOid('1.2.840.113549.1.7.1')); // encapContentInfo: id-data, no content
const NO_SIGNER_INFOS = derSet();

/**
 * A degenerate ("certs-only") PKCS#7 SignedData holding `certificates` (DER), as RFC 7030 §4.1.3 and
 * §4.2.3 answer with — the same shape as `openssl crl2pkcs7 -nocrl`. Written directly: wrapping
 * certificates needs no ASN.1 library, and it is on every enrol's path.
 */
export function certsOnlyPkcs7(certificates: Uint8Array[]): Uint8Array {
  const signedData = derSequence(
    VERSION_1,
    NO_DIGEST_ALGORITHMS,
    NO_CONTENT,
    derTlv(0xa0, ...certificates), // [0] IMPLICIT certificates
    NO_SIGNER_INFOS,
  );
  return derSequence(SIGNED_DATA, derTlv(0xa0, signedData));
}
