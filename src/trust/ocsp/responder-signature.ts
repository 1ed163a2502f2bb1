import { sameBytes } from '../../pki/index.js';
import type { CertificateFacts, SignatureAlgorithm } from '../validation/index.js';
import type { OcspResponse } from './ocsp-response.js';
import { OcspResponseError } from './ocsp-response-error.js';
import { OCSP_OID } from './oids.js';
import { namesResponder, responderIdText } from './responder-id.js';
import { signatureVerifies } from './signature-algorithms.js';

/**
 * Who signed `response`, verified (RFC 6960 §4.2.2.2): the CA that issued the certificate in
 * question, or a delegated responder — a certificate in `certs`, issued and signed by that CA, with
 * extendedKeyUsage id-kp-OCSPSigning, valid at `at`. Throws OcspResponseError ('unsupported',
 * 'signature' or 'responder') naming the check that failed. The delegated responder's own
 * revocation is not checked (RFC 6960 §4.2.2.2.1 leaves it to the CA; most set id-pkix-ocsp-nocheck).
 */
export function verifyResponderSignature(
  response: OcspResponse,
  issuer: CertificateFacts,
  at: Date,
): CertificateFacts {
  const candidates = [
    ...(namesResponder(response.responderId, issuer) ? [issuer] : []),
    ...response.certs.filter(
      (certificate) =>
        certificate.sha256 !== issuer.sha256 && namesResponder(response.responderId, certificate),
    ),
  ];
  if (candidates.length === 0) {
    throw new OcspResponseError(
      'responder',
      `the responderID (${responderIdText(response.responderId)}) names neither the CA "${issuer.subject}" nor a certificate included in the response`,
    );
  }
  refuseUnverifiable(response.signatureAlgorithm, 'the response');
  const signer = candidates.find((candidate) =>
    signatureVerifies(response.signatureAlgorithm, response.tbsResponseData, response.signature, candidate),
  );
  if (signer === undefined) {
    const names = candidates.map((candidate) => `"${candidate.subject}"`).join(', ');
    throw new OcspResponseError(
      'signature',
      `the ${response.signatureAlgorithm.name} signature does not verify with the key of ${names}`,
    );
  }
  if (signer !== issuer) checkDelegation(signer, issuer, at);
  return signer;
}

/** The delegated responder is the CA's: issued and signed by it, for OCSP signing, valid now. */
function checkDelegation(responder: CertificateFacts, issuer: CertificateFacts, at: Date): void {
  const who = `the delegated responder certificate "${responder.subject}"`;
  const refuse = (why: string) => new OcspResponseError('responder', `${who} ${why}`);
  if (!sameBytes(responder.issuerDer, issuer.subjectDer)) {
    throw refuse(`is issued by "${responder.issuer}", not by the CA "${issuer.subject}"`);
  }
  refuseUnverifiable(responder.signatureAlgorithm, who);
  if (!signatureVerifies(responder.signatureAlgorithm, responder.tbs, responder.signature, issuer)) {
    throw refuse(`is not signed by the key of the CA "${issuer.subject}"`);
  }
  if (!responder.extendedKeyUsage?.includes(OCSP_OID.ocspSigning)) {
    throw refuse(`lacks extendedKeyUsage id-kp-OCSPSigning (${OCSP_OID.ocspSigning})`);
  }
  if (responder.keyUsage !== undefined && !responder.keyUsage.has('digitalSignature')) {
    throw refuse('has a keyUsage without digitalSignature');
  }
  if (at < responder.notBefore || at > responder.notAfter) {
    throw refuse(
      `is not valid at ${at.toISOString()} (${responder.notBefore.toISOString()} to ${responder.notAfter.toISOString()})`,
    );
  }
}

function refuseUnverifiable(algorithm: SignatureAlgorithm, what: string): void {
  if (algorithm.weak) {
    throw new OcspResponseError('unsupported', `${what} is signed with ${algorithm.name}, a weak algorithm`);
  }
  if (algorithm.scheme === 'other') {
    throw new OcspResponseError(
      'unsupported',
      `${what} is signed with ${algorithm.name}, which is not supported`,
    );
  }
}
