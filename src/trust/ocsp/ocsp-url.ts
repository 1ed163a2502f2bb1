import { DER_TAG, NotStrictDerError, oidString, strictChildren, strictSingle } from '../../pki/index.js';
import { TrustError } from '../trust-error.js';
import type { CertificateFacts } from '../validation/index.js';
import { OCSP_OID } from './oids.js';

/**
 * The OCSP responder a certificate names: the first http(s) URI with accessMethod id-ad-ocsp in its
 * authorityInfoAccess extension (RFC 5280 §4.2.2.1), or undefined when its CA offers none this
 * client can reach. Throws TrustError EGW_TRUST_MALFORMED when the extension is not strict DER.
 */
export function ocspUrlOf(certificate: CertificateFacts): string | undefined {
  const value = certificate.extensionValue(OCSP_OID.authorityInfoAccess);
  if (value === undefined) return undefined;
  try {
    // AuthorityInfoAccessSyntax ::= SEQUENCE SIZE (1..MAX) OF AccessDescription { accessMethod OID, accessLocation GeneralName }
    for (const description of strictChildren(strictSingle(value, DER_TAG.sequence).value)) {
      if (description.tag !== DER_TAG.sequence)
        throw new NotStrictDerError('AccessDescription is not a SEQUENCE');
      const [method, location, extra] = strictChildren(description.value);
      if (method?.tag !== DER_TAG.oid || location === undefined || extra !== undefined) {
        throw new NotStrictDerError('AccessDescription is not { accessMethod, accessLocation }');
      }
      if (oidString(method.value) !== OCSP_OID.accessOcsp || location.tag !== 0x86) continue; // [6] uniformResourceIdentifier
      const uri = ascii(location.value);
      if (/^https?:\/\//i.test(uri)) return uri;
    }
    return undefined;
  } catch (error) {
    throw new TrustError(
      'EGW_TRUST_MALFORMED',
      `authorityInfoAccess of "${certificate.subject}" is malformed: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** IA5String: ASCII only. */
function ascii(value: Uint8Array): string {
  let text = '';
  for (const byte of value) {
    if (byte > 0x7f) throw new NotStrictDerError('the OCSP URI is not IA5 (ASCII)');
    text += String.fromCharCode(byte);
  }
  return text;
}
