import { randomBytes } from 'node:crypto';
import { derOctetString, derOid, derSequence, derTlv } from '../../pki/index.js';
import type { CertificateFacts } from '../validation/index.js';
import { CertId } from './cert-id.js';
import { OCSP_OID } from './oids.js';

/** RFC 8954 §2.1: at most 32 octets, and 32 is what it recommends. */
export const NONCE_BYTES = 32;

/** An OCSPRequest and what its answer has to match. */
export interface OcspRequest {
  der: Uint8Array;
  certId: CertId;
  /** The nonce sent, undefined when none was. */
  nonce: Uint8Array | undefined;
}

export interface OcspRequestOptions {
  /** Send this nonce; `true` for a fresh random one (NONCE_BYTES); absent or false for none. */
  nonce?: Uint8Array | boolean;
}

/**
 * An unsigned OCSPRequest (RFC 6960 §4.1.1) for one certificate: version v1 (the DEFAULT, so not
 * encoded), no requestorName, one Request with the CertID, and the nonce as a request extension.
 */
export function buildOcspRequest(
  certificate: CertificateFacts,
  issuer: CertificateFacts,
  options: OcspRequestOptions = {},
): OcspRequest {
  const certId = CertId.of(certificate, issuer);
  const nonce: Uint8Array | undefined =
    options.nonce === true
      ? new Uint8Array(randomBytes(NONCE_BYTES))
      : options.nonce instanceof Uint8Array
        ? new Uint8Array(options.nonce)
        : undefined;
  if (nonce !== undefined && (nonce.length === 0 || nonce.length > NONCE_BYTES)) {
    throw new RangeError(`an OCSP nonce has 1 to ${NONCE_BYTES} octets, got ${nonce.length}`);
  }
  const requestList = derSequence(derSequence(certId.der));
  const requestExtensions = nonce === undefined ? [] : [derTlv(0xa2, derSequence(nonceExtension(nonce)))];
  return { der: derSequence(derSequence(requestList, ...requestExtensions)), certId, nonce };
}

/** Extension { id-pkix-ocsp-nonce, extnValue: the DER of Nonce ::= OCTET STRING } (RFC 8954 §2.1), not critical. */
function nonceExtension(nonce: Uint8Array): Uint8Array {
  return derSequence(derOid(OCSP_OID.nonce), derOctetString(derOctetString(nonce)));
}
