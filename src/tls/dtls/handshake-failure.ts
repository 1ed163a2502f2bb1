import { libcrypto } from '../../native/openssl/libcrypto.js';
import { ERR_LIB, libssl, SSL_R, X509_V_ERR } from '../../native/openssl/libssl.js';
import { TlsError } from '../tls-error.js';

/** Why a handshake did not produce a session: stable names, used as counter keys and in events. */
export type HandshakeFailureReason =
  | 'unknownCa'
  | 'badPurpose'
  | 'certExpired'
  | 'certNotYetValid'
  | 'badCertificate'
  | 'belowSecurityLevel'
  | 'rejectedByPolicy'
  | 'noPeerCertificate'
  | 'noSharedCipher'
  | 'messageTooLarge'
  | 'peerAlert'
  | 'protocol'
  | 'timeout'
  | 'sessionLimit'
  | 'keyStore';

const ERROR_CODES: Record<HandshakeFailureReason, string> = {
  unknownCa: 'EGW_TLS_UNKNOWN_CA',
  badPurpose: 'EGW_TLS_BAD_CERT',
  certExpired: 'EGW_TLS_CERT_EXPIRED',
  certNotYetValid: 'EGW_TLS_CERT_NOT_YET_VALID',
  badCertificate: 'EGW_TLS_BAD_CERT',
  belowSecurityLevel: 'EGW_TLS_BAD_CERT',
  rejectedByPolicy: 'EGW_TLS_BAD_CERT',
  noPeerCertificate: 'EGW_TLS_BAD_CERT',
  noSharedCipher: 'EGW_TLS_PROTOCOL',
  messageTooLarge: 'EGW_TLS_PROTOCOL',
  peerAlert: 'EGW_TLS_ALERT',
  protocol: 'EGW_TLS_PROTOCOL',
  timeout: 'EGW_TLS_TIMEOUT',
  sessionLimit: 'EGW_DTLS_LIMIT',
  keyStore: 'EGW_TLS_KEY_STORE',
};

const HINTS: Partial<Record<HandshakeFailureReason, string>> = {
  unknownCa: 'the sensor certificate does not chain to a configured CA: enroll its CA or check the sensor',
  badPurpose: 'the sensor certificate lacks extendedKeyUsage clientAuth: reissue it with EKU clientAuth',
  certExpired: 'renew the sensor certificate (or check the gateway clock)',
  certNotYetValid: 'check the gateway clock and the certificate notBefore',
  belowSecurityLevel:
    'the sensor certificate or its CA is weaker than OpenSSL security level 2 allows (112-bit): reissue it with an EC key (P-256 or larger) or RSA of 2048 bits or more, signed with SHA-256 or better',
  noPeerCertificate: 'configure the sensor with its client certificate and key',
  noSharedCipher: 'the sensor offers none of the configured cipher suites (ECDHE-ECDSA with AES-GCM/CCM-8)',
  messageTooLarge:
    'the sensor sent a handshake message above the configured maximum (certificate chain too big?)',
  timeout: 'the peer stopped answering mid-handshake (lossy link, or a scan)',
  sessionLimit: 'raise maxSessions or lower idleTimeoutMs',
  keyStore:
    'the identity key could not sign the ServerKeyExchange: check the TPM/ATECC608A (`gatewayctl provision verify` signs with it); the journal has the key store error',
};

/** One OpenSSL error-queue entry. */
interface QueuedError {
  library: number;
  reason: number;
  text: string;
}

export class HandshakeFailure {
  readonly reason: HandshakeFailureReason;
  /** What OpenSSL (or the trust hook) said, for logs. */
  readonly detail: string;

  constructor(reason: HandshakeFailureReason, detail: string) {
    this.reason = reason;
    this.detail = detail;
  }

  toError(where: string): TlsError {
    const hint = HINTS[this.reason];
    return new TlsError(
      ERROR_CODES[this.reason],
      `DTLS handshake with ${where} failed (${this.reason}): ${this.detail}`,
      hint ? { hint } : {},
    );
  }

  /** From an X509_V_ERR_* reported to the verify callback. */
  static fromVerifyError(error: number, depth: number): HandshakeFailure {
    const text = `${libssl().X509_verify_cert_error_string(error)} (X509 error ${error} at depth ${depth})`;
    switch (error) {
      case X509_V_ERR.UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR.UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR.UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      case X509_V_ERR.DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR.SELF_SIGNED_CERT_IN_CHAIN:
      case X509_V_ERR.CERT_UNTRUSTED:
        return new HandshakeFailure('unknownCa', text);
      case X509_V_ERR.CERT_HAS_EXPIRED:
        return new HandshakeFailure('certExpired', text);
      case X509_V_ERR.CERT_NOT_YET_VALID:
        return new HandshakeFailure('certNotYetValid', text);
      case X509_V_ERR.INVALID_PURPOSE:
        return new HandshakeFailure('badPurpose', text);
      case X509_V_ERR.EE_KEY_TOO_SMALL:
      case X509_V_ERR.CA_KEY_TOO_SMALL:
      case X509_V_ERR.CA_MD_TOO_WEAK:
        return new HandshakeFailure('belowSecurityLevel', text);
      default:
        return new HandshakeFailure('badCertificate', text);
    }
  }

  /**
   * From OpenSSL's error queue after a failed SSL_do_handshake (drains the queue). The first libssl
   * reason decides; alerts received from the peer are SSL_R_* values above SSL_AD_REASON_OFFSET.
   */
  static fromErrorQueue(): HandshakeFailure {
    return HandshakeFailure.#fromErrors(HandshakeFailure.drainErrorQueue());
  }

  /** The same, from the error codes another thread drained (the TLS handshake thread's step). */
  static fromErrorCodes(codes: readonly number[]): HandshakeFailure {
    return HandshakeFailure.#fromErrors(codes.map(queuedError));
  }

  static #fromErrors(errors: QueuedError[]): HandshakeFailure {
    const ssl = errors.find((e) => e.library === ERR_LIB.SSL);
    const detail = errors.map((e) => e.text).join('; ') || 'no OpenSSL error queued';
    if (!ssl) return new HandshakeFailure('protocol', detail);
    if (ssl.reason >= SSL_R.AD_REASON_OFFSET) {
      const alert = ssl.reason - SSL_R.AD_REASON_OFFSET;
      return new HandshakeFailure(
        'peerAlert',
        `peer sent alert ${libssl().SSL_alert_desc_string_long(alert)}`,
      );
    }
    switch (ssl.reason) {
      case SSL_R.PEER_DID_NOT_RETURN_A_CERTIFICATE:
      case SSL_R.NO_CERTIFICATES_RETURNED:
        return new HandshakeFailure('noPeerCertificate', detail);
      case SSL_R.NO_SHARED_CIPHER:
        return new HandshakeFailure('noSharedCipher', detail);
      case SSL_R.EXCESSIVE_MESSAGE_SIZE:
      case SSL_R.LENGTH_TOO_LONG:
        return new HandshakeFailure('messageTooLarge', detail);
      case SSL_R.CERTIFICATE_VERIFY_FAILED:
        return new HandshakeFailure('badCertificate', detail);
      default:
        return new HandshakeFailure('protocol', detail);
    }
  }

  /** Empties OpenSSL's (thread-local) error queue. */
  static drainErrorQueue(): QueuedError[] {
    const crypto = libcrypto();
    const errors: QueuedError[] = [];
    for (let code = crypto.ERR_get_error(); code !== 0; code = crypto.ERR_get_error()) {
      errors.push(queuedError(code));
    }
    return errors;
  }
}

function queuedError(code: number): QueuedError {
  const buffer = Buffer.alloc(256);
  libcrypto().ERR_error_string_n(code, buffer, buffer.length);
  // ERR_GET_LIB / ERR_GET_REASON of OpenSSL 3 (system errors have the top bit set).
  const system = code >= 0x80000000;
  return {
    library: system ? 2 : Math.floor(code / 0x800000) & 0xff,
    reason: system ? code & 0x7fffffff : code & 0x7fffff,
    text: buffer.toString('utf8', 0, buffer.indexOf(0)),
  };
}
