import { boundedFetch } from '../bounded-fetch.js';
import { OcspFetchError } from './ocsp-fetch-error.js';

export interface OcspPostLimits {
  /** Deadline for the whole exchange, body included. */
  timeoutMs: number;
  /** Largest response body accepted; checked against Content-Length and again while it streams. */
  maxBytes: number;
}

/**
 * POSTs a DER OCSPRequest (RFC 6960 Appendix A.1, `application/ocsp-request`) and resolves with the
 * response body (one connection per request, as the CRL download). Fails with OcspFetchError
 * (EGW_TRUST_FETCH_FAILED) on a non-200 status, the deadline, the size limit, a network error or `signal`.
 */
export function postOcspRequest(
  url: string,
  body: Uint8Array,
  limits: OcspPostLimits,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  return boundedFetch(
    {
      url,
      method: 'POST',
      headers: {
        'content-type': 'application/ocsp-request',
        'content-length': body.length,
        accept: 'application/ocsp-response',
      },
      body,
      timeoutMs: limits.timeoutMs,
      maxBytes: limits.maxBytes,
      limitName: `the limit of ${limits.maxBytes} bytes`,
      ...(signal ? { signal } : {}),
    },
    (message, options) => new OcspFetchError(url, message, options),
  );
}
