import { TrustError } from '../trust-error.js';

/** A CRL could not be fetched from a distribution point: HTTP status, timeout, size limit, refusal. */
export class CrlFetchError extends TrustError {
  readonly url: string;
  /** The HTTP status, when the server answered with something other than 200. */
  readonly status: number | undefined;

  constructor(
    url: string,
    message: string,
    options: { status?: number; cause?: unknown; hint?: string } = {},
  ) {
    super('EGW_TRUST_FETCH_FAILED', `CRL fetch from ${url}: ${message}`, {
      hint: options.hint ?? 'the cached CRL (if any) stays in use; the fetch is retried with backoff',
      cause: options.cause,
    });
    this.url = url;
    this.status = options.status;
  }
}
