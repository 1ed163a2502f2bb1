import { GatewayError } from '../errors/index.js';

/** Errors of the trust module's operations (imports, registrations, lookups), not verdicts on sensors. */
export type TrustErrorCode =
  /** A certificate or CRL file/blob could not be parsed (names the file and the DER offset). */
  | 'EGW_TRUST_MALFORMED'
  /** A CRL whose signature does not verify with its issuer's key, or whose issuer is unknown. */
  | 'EGW_TRUST_CRL_REJECTED'
  /** An OCSP response whose signer, CertID, nonce or times fail verification. */
  | 'EGW_TRUST_OCSP_REJECTED'
  /** Fetching a CRL or an OCSP answer failed (HTTP status, timeout, size limit). */
  | 'EGW_TRUST_FETCH_FAILED'
  /** CA registration: no pending registration, wrong or expired nonce, wrong key. */
  | 'EGW_TRUST_PROOF_REJECTED'
  /** Something to update or remove (enrollment, bundle certificate, deny entry) does not exist. */
  | 'EGW_TRUST_NOT_FOUND'
  /** An argument the operator gave is not what it should be (thumbprint format, constraints JSON). */
  | 'EGW_TRUST_INVALID_ARGUMENT';

export class TrustError extends GatewayError {
  declare readonly code: TrustErrorCode;

  constructor(code: TrustErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(code, message, options);
  }
}
