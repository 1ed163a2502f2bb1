import { boundedFetch } from '../bounded-fetch.js';
import { CrlFetchError } from './crl-fetch-error.js';

export interface CrlDownloadLimits {
  /** Deadline for the whole exchange, body included. */
  timeoutMs: number;
  /** Largest body accepted; checked against Content-Length and again while the body streams. */
  maxBytes: number;
}

/**
 * GETs a CRL over http:// or https:// (one connection per fetch: CRL fetches are rare). Fails with
 * CrlFetchError (EGW_TRUST_FETCH_FAILED) on a non-200 status, the deadline, the size limit, a
 * network error or `signal`.
 */
export function downloadCrl(
  url: string,
  limits: CrlDownloadLimits,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  return boundedFetch(
    {
      url,
      method: 'GET',
      headers: { accept: 'application/pkix-crl, application/x-pkcs7-crl, */*' },
      timeoutMs: limits.timeoutMs,
      maxBytes: limits.maxBytes,
      limitName: `max_crl_bytes ${limits.maxBytes}`,
      ...(signal ? { signal } : {}),
    },
    (message, options) => new CrlFetchError(url, message, options),
  );
}
