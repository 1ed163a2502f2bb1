/** The object identifiers OCSP (RFC 6960) reads and writes, by what they name. */
export const OCSP_OID = {
  /** Certificate extension authorityInfoAccess (RFC 5280 §4.2.2.1). */
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  /** accessMethod of an OCSP responder location inside authorityInfoAccess. */
  accessOcsp: '1.3.6.1.5.5.7.48.1',
  /** responseType of a BasicOCSPResponse. */
  basicResponse: '1.3.6.1.5.5.7.48.1.1',
  /** Request and response extension carrying the nonce (RFC 8954). */
  nonce: '1.3.6.1.5.5.7.48.1.2',
  /** Extended key usage a delegated responder certificate must carry. */
  ocspSigning: '1.3.6.1.5.5.7.3.9',
  /** The CertID hash: what responders index by (an identifier, not a signature). */
  sha1: '1.3.14.3.2.26',
} as const;
