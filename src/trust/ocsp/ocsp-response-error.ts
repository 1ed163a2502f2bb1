import { TrustError, type TrustErrorCode } from '../trust-error.js';

/** Which check an OCSP response failed: stable, for logs and tests. */
export type OcspCheck =
  /** Not strict DER, or not the RFC 6960 structure. */
  | 'malformed'
  /** responseStatus is not successful (the responder gave no answer to use). */
  | 'response-status'
  /** A response type, signature algorithm or critical extension this client does not handle. */
  | 'unsupported'
  /** The signature does not verify with the CA's key nor with a delegated responder's. */
  | 'signature'
  /** The signer is neither the CA nor a responder certificate the CA delegated OCSP signing to. */
  | 'responder'
  /** No single response for the CertID that was asked about. */
  | 'cert-id'
  /** The nonce sent is not the one echoed (or none was echoed where one is required). */
  | 'nonce'
  /** thisUpdate or producedAt lies in the future, beyond the allowed clock skew. */
  | 'not-yet-valid'
  /** Past nextUpdate: the responder no longer vouches for the answer. */
  | 'expired';

/**
 * An OCSP response that is refused. `check` names the failed check; the message says what exactly.
 * Only the code mapping lives here, so a dedicated code (EGW_TRUST_OCSP_REJECTED) is a one-line change.
 */
export class OcspResponseError extends TrustError {
  readonly check: OcspCheck;

  constructor(check: OcspCheck, message: string, options: { cause?: unknown } = {}) {
    super(codeOf(check), `OCSP response refused (${check}): ${message}`, {
      hint: 'the cached OCSP answer (if any) stays in use until its nextUpdate',
      cause: options.cause,
    });
    this.check = check;
  }
}

function codeOf(check: OcspCheck): TrustErrorCode {
  switch (check) {
    case 'malformed':
      return 'EGW_TRUST_MALFORMED';
    case 'response-status':
      return 'EGW_TRUST_FETCH_FAILED'; // the responder answered, but with nothing to judge
    default:
      return 'EGW_TRUST_OCSP_REJECTED';
  }
}
