import { GatewayError } from '../errors/index.js';

/**
 * TLS/DTLS failures. Codes name the cause an operator can act on:
 *   EGW_TLS_UNKNOWN_CA, EGW_TLS_HOSTNAME_MISMATCH, EGW_TLS_CERT_EXPIRED, EGW_TLS_CERT_NOT_YET_VALID,
 *   EGW_TLS_BAD_CERT (other verification failures), EGW_TLS_ALERT (the peer sent an alert),
 *   EGW_TLS_PROTOCOL (malformed or unexpected records), EGW_TLS_CONFIG (our own setup is wrong),
 *   EGW_TLS_CLOSED, EGW_TLS_TIMEOUT, EGW_DTLS_LIMIT (session or rate limits),
 *   EGW_TLS_KEY_STORE (the identity key could not sign: the KeyError is the cause),
 *   EGW_DTLS_SEND (a datagram the kernel or node:dgram refused; counted as a send error, never thrown).
 */
export class TlsError extends GatewayError {
  constructor(code: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(code, message, options);
  }
}
