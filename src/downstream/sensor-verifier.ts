import { type PeerVerdict, type PeerVerifier, X509_V_ERR } from '../tls/index.js';
import type { SensorTrust, SensorVerdict, ValidationReason } from '../trust/index.js';

/**
 * The TLS alert each refusal sends, through the X509_V_ERR_* OpenSSL derives it from: a sensor
 * (or its operator, in a packet capture) learns "revoked" or "unknown CA" rather than a generic
 * failure. Everything else is X509_V_ERR_APPLICATION_VERIFICATION.
 */
const VERIFY_ERRORS: Partial<Record<ValidationReason, number>> = {
  revoked: X509_V_ERR.CERT_REVOKED,
  expired: X509_V_ERR.CERT_HAS_EXPIRED,
  'not-yet-valid': X509_V_ERR.CERT_NOT_YET_VALID,
  'unknown-issuer': X509_V_ERR.UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
  'chain-too-long': X509_V_ERR.CERT_CHAIN_TOO_LONG,
  eku: X509_V_ERR.INVALID_PURPOSE,
  'key-usage': X509_V_ERR.INVALID_PURPOSE,
  denied: X509_V_ERR.CERT_REJECTED,
  'not-enrolled': X509_V_ERR.CERT_REJECTED,
  'enrollment-disabled': X509_V_ERR.CERT_REJECTED,
  'identity-conflict': X509_V_ERR.CERT_REJECTED,
};

/**
 * Keys and digests under the security level get the errors OpenSSL's own check would raise, so the
 * sensor sees the same bad_certificate alert whether OpenSSL or the trust module judged its chain.
 */
function verifyErrorOf(reason: ValidationReason, depth: number): number {
  if (reason === 'weak-key') return depth === 0 ? X509_V_ERR.EE_KEY_TOO_SMALL : X509_V_ERR.CA_KEY_TOO_SMALL;
  if (reason === 'weak-signature-algorithm') return X509_V_ERR.CA_MD_TOO_WEAK;
  return VERIFY_ERRORS[reason] ?? X509_V_ERR.APPLICATION_VERIFICATION;
}

/**
 * The DTLS endpoint's verifyPeer: the trust module's verdict, with the sensor identity attached.
 * `accepted` hears each accepted verdict with the attributes the session gets (its deadline is kept
 * by them: see SessionDeadlines).
 */
export function sensorVerifier(
  trust: SensorTrust,
  accepted?: (attributes: object, verdict: SensorVerdict & { ok: true }) => void,
): PeerVerifier {
  return (chain): PeerVerdict => {
    const verdict = trust.verify(chain);
    if (verdict.ok) {
      accepted?.(verdict.identity, verdict);
      return { ok: true, attributes: verdict.identity };
    }
    const { reason, detail, depth } = verdict.refusal;
    return {
      ok: false,
      reason: `${reason}: ${detail}`,
      verifyError: verifyErrorOf(reason, depth),
    };
  };
}
