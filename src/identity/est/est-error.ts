import { GatewayError } from '../../errors/index.js';

export type EstErrorCode =
  /** The server answered with an error status (4xx/5xx): `status` and `bodyExcerpt` say what it said. */
  | 'EGW_EST_HTTP'
  /** The server answered 2xx with a body that is not what RFC 7030 says (base64 PKCS#7, csrattrs). */
  | 'EGW_EST_RESPONSE'
  /** No connection, or the TLS handshake failed (the cause is the TlsError naming the reason). */
  | 'EGW_EST_UNREACHABLE'
  /** No complete answer in time. */
  | 'EGW_EST_TIMEOUT'
  /** The certificate the server issued does not fit: wrong CA, not our key, expired, … */
  | 'EGW_EST_BAD_CERTIFICATE'
  /** /csrattrs asks for something this gateway's key cannot give (another curve or hash). */
  | 'EGW_EST_CSR_ATTRIBUTES'
  /** identity.attestation: the evidence could not be made (the server's challenge, the part). */
  | 'EGW_EST_ATTESTATION'
  /** The request was given up by the gateway itself (it is stopping): not an answer, not a failure. */
  | 'EGW_EST_ABANDONED';

/** An EST exchange that failed; `status`/`bodyExcerpt` are set for EGW_EST_HTTP. */
export class EstError extends GatewayError {
  declare readonly code: EstErrorCode;
  readonly status: number | undefined;
  readonly bodyExcerpt: string | undefined;

  constructor(
    code: EstErrorCode,
    message: string,
    options: { hint?: string; cause?: unknown; status?: number; bodyExcerpt?: string } = {},
  ) {
    super(code, message, options);
    this.status = options.status;
    this.bodyExcerpt = options.bodyExcerpt;
  }

  /** Whether trying again later can help (server down, slow, 5xx, 429) rather than needing a fix. */
  get retryable(): boolean {
    if (this.code === 'EGW_EST_UNREACHABLE' || this.code === 'EGW_EST_TIMEOUT') return true;
    if (this.code === 'EGW_EST_HTTP') return (this.status ?? 0) >= 500 || this.status === 429;
    // A bad certificate or body may come from a misconfigured server that gets fixed.
    return (
      this.code === 'EGW_EST_BAD_CERTIFICATE' ||
      this.code === 'EGW_EST_RESPONSE' ||
      this.code === 'EGW_EST_ATTESTATION'
    );
  }
}

/** The error an EST call in flight ends with when its caller aborts it (the daemon stopping). */
export function abandonedError(operation: string, origin: string): EstError {
  return new EstError(
    'EGW_EST_ABANDONED',
    `EST ${operation} at ${origin} abandoned: the gateway is stopping`,
    {
      hint: 'nothing was changed; the request is made again after the next start',
    },
  );
}

/** Whether `error` is an EST call given up by the gateway (abandonedError), not a failure. */
export function isAbandoned(error: unknown): boolean {
  return error instanceof EstError && error.code === 'EGW_EST_ABANDONED';
}

/** What to do about an HTTP status from an EST server, for the error's hint. */
export function hintForStatus(status: number): string {
  if (status === 401)
    return 'the server wants authentication: check the factory/operational certificate it trusts and identity.est.username/password';
  if (status === 403)
    return 'the server refused this client certificate: is the device registered with the provisioning service, and is its factory CA trusted there?';
  if (status === 400)
    return 'the server refused the request: check the CSR profile (identity.csr) against /csrattrs';
  if (status === 404) return 'wrong EST URL or label: check identity.est.url and identity.est.label';
  if (status >= 500) return 'a server-side problem: the gateway retries with backoff';
  return 'see the server message';
}
