import { TrustError } from '../trust-error.js';

/** Asking an OCSP responder failed: no URL, HTTP status, timeout, size limit, network error. */
export class OcspFetchError extends TrustError {
  /** The responder's URL; undefined when the certificate names none. */
  readonly url: string | undefined;
  /** The HTTP status, when the responder answered with something other than 200. */
  readonly status: number | undefined;

  constructor(url: string | undefined, message: string, options: { status?: number; cause?: unknown } = {}) {
    super('EGW_TRUST_FETCH_FAILED', url === undefined ? message : `OCSP request to ${url}: ${message}`, {
      hint: 'the cached OCSP answer (if any) stays in use until its nextUpdate; CRLs still apply',
      cause: options.cause,
    });
    this.url = url;
    this.status = options.status;
  }
}
