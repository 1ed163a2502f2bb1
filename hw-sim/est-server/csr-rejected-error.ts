import { GatewayError } from '../../src/errors/index.js';

export type CsrRejectedCode =
  /** The body is not base64, not DER, or not a PKCS#10 request. */
  | 'EGW_EST_CSR_MALFORMED'
  /** The CSR's self-signature does not verify with its own public key (no proof of possession). */
  | 'EGW_EST_CSR_SIGNATURE'
  /** The CSR is well formed but does not fit the device profile (no CN, subject mismatch, …). */
  | 'EGW_EST_CSR_PROFILE';

/**
 * A CSR the EST CA will not sign. Its own class so the server answers 400 for exactly these and 500
 * for everything else (a bug of ours must not look like the client's fault).
 */
export class CsrRejectedError extends GatewayError {
  declare readonly code: CsrRejectedCode;

  constructor(code: CsrRejectedCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(code, message, options);
  }
}
