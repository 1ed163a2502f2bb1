import { libcrypto } from '../../native/openssl/index.js';
import { ERR_CODE, ERR_LIB, libssl, type Pointer, SSL_R } from '../../native/openssl/libssl.js';
import { takeKeyStoreError } from '../key-store-private-key.js';
import { TlsError } from '../tls-error.js';
import { takeVerifyFailure, VerifyFailure } from './verify-failure.js';

/** TLS alert descriptions (RFC 8446 §6) with what the gateway's operator can do about each. */
const ALERT_HINTS: Record<number, string> = {
  40: 'no parameters in common (version, cipher suite, signature algorithm), or the server wanted a client certificate: compare with the broker’s TLS settings',
  42: 'the server refused the gateway certificate: check its chain, key usage and EKU clientAuth',
  43: 'the server refused the gateway certificate type: check its key (ECDSA P-256) and extensions',
  44: 'the gateway certificate has been revoked: re-enroll the gateway',
  45: 'the gateway certificate has expired: renew it (gatewayctl status shows its validity)',
  46: 'the server could not verify the gateway certificate: check that it trusts the issuing CA',
  48: 'the server does not trust the CA that issued the gateway certificate: add that CA to the server trust store, or present a certificate it trusts',
  70: 'the server does not accept the offered TLS versions: check min/max version on both sides',
  71: 'no common security level: check the cipher settings on both sides',
  112: 'the server does not know the requested name (SNI): check the host name',
  116: 'the server requires a client certificate: configure the gateway certificate chain and key',
};

interface QueuedError {
  lib: number;
  reason: number;
  text: string;
}

/** Empties OpenSSL's error queue (so the next call starts clean) and returns what it held, oldest first. */
function drainErrors(): QueuedError[] {
  const crypto = libcrypto();
  const codes: number[] = [];
  for (let code = crypto.ERR_get_error(); code !== 0; code = crypto.ERR_get_error()) codes.push(code);
  return queuedErrors(codes);
}

function queuedErrors(codes: readonly number[]): QueuedError[] {
  const ssl = libssl();
  return codes.map((code) => {
    const system = code >= ERR_CODE.SYSTEM_FLAG;
    const lib = system ? 0 : Math.floor(code / 2 ** ERR_CODE.LIB_SHIFT) & ERR_CODE.LIB_MASK;
    const reason = system ? 0 : code & ERR_CODE.REASON_MASK;
    const text = ssl.ERR_reason_error_string(code) ?? `error ${code.toString(16)}`;
    return { lib, reason, text };
  });
}

/**
 * Why an SSL_do_handshake/SSL_read/SSL_write on `ssl` failed, as the error an operator should see.
 * Reads (and clears) OpenSSL's error queue, the verify callback's record and the key store's last
 * error, in that order of precedence: a key that could not sign, a server certificate we rejected, an
 * alert the server sent, anything else. `errorCodes`: the queue a step on the TLS handshake thread
 * left (this thread's queue is not the one that step wrote to).
 */
export function tlsFailure(
  ssl: Pointer,
  privateKey: Pointer,
  peer: string,
  stage: string,
  errorCodes?: readonly number[],
): TlsError {
  const errors = errorCodes ? queuedErrors(errorCodes) : drainErrors();
  const keyError = privateKey ? takeKeyStoreError(privateKey) : undefined;
  if (keyError) {
    return new TlsError(
      'EGW_TLS_KEY_STORE',
      `TLS ${stage} with ${peer} failed: the identity key could not sign (${keyError.code}: ${keyError.message})`,
      { hint: keyError.hint ?? 'check the key device (gatewayctl status)', cause: keyError },
    );
  }
  const verify = takeVerifyFailure(ssl);
  if (verify) return verify.toTlsError(peer);
  const rejected = errors.some((e) => e.lib === ERR_LIB.SSL && e.reason === SSL_R.CERTIFICATE_VERIFY_FAILED);
  const verifyResult = libssl().SSL_get_verify_result(ssl);
  if (rejected && verifyResult !== 0)
    return new VerifyFailure(verifyResult, undefined, undefined).toTlsError(peer);

  const alert = errors.find(
    (e) =>
      e.lib === ERR_LIB.SSL && e.reason >= SSL_R.AD_REASON_OFFSET && e.reason < SSL_R.AD_REASON_OFFSET + 256,
  );
  if (alert) {
    const value = alert.reason - SSL_R.AD_REASON_OFFSET;
    // The reason text ("tlsv13 alert certificate required") knows TLS 1.3 alerts that
    // SSL_alert_desc_string_long calls "unknown" (116, 109: still so in 3.5.9).
    const fromReason = /^(?:sslv3|tlsv1|tlsv13) alert (.+)$/.exec(alert.text)?.[1];
    const name = fromReason ?? libssl().SSL_alert_desc_string_long(value);
    return new TlsError(
      'EGW_TLS_ALERT',
      `TLS ${stage} with ${peer} failed: the server sent alert "${name}" (${value})`,
      { hint: ALERT_HINTS[value] ?? 'the server refused the connection: its log says why' },
    );
  }
  const detail = errors.length > 0 ? errors.map((e) => e.text).join('; ') : 'no OpenSSL error queued';
  return new TlsError('EGW_TLS_PROTOCOL', `TLS ${stage} with ${peer} failed: ${detail}`, {
    hint: 'the peer may not speak TLS on this port, or it broke the protocol: check host, port and the server log',
  });
}
