import { sameBytes } from '../../pki/index.js';
import type { CertificateFacts } from '../validation/index.js';
import type { CertId } from './cert-id.js';
import { hex } from './ocsp-der.js';
import type { OcspResponse } from './ocsp-response.js';
import { OcspResponseError } from './ocsp-response-error.js';
import type { OcspStatus } from './ocsp-status.js';
import { verifyResponderSignature } from './responder-signature.js';

/** Clocks of sensors' responders and of the gateway disagree a little; 5 minutes is the usual allowance. */
export const DEFAULT_OCSP_SKEW_MS = 5 * 60_000;

/** What a response must answer, and when it is judged. */
export interface OcspExpectation {
  /** The CertID that was asked about. */
  certId: CertId;
  /** The CA that issued the certificate: it signs the response, or delegates that. */
  issuer: CertificateFacts;
  /** The nonce sent, if one was. */
  nonce: Uint8Array | undefined;
  /**
   * Refuse a response that does not echo the nonce sent. Off by default in the client: responders
   * serving pre-signed answers never echo one (RFC 5019), and nextUpdate bounds a replay anyway.
   * A nonce that is echoed but different is always refused.
   */
  requireNonce: boolean;
  at: Date;
  /** How far thisUpdate and producedAt may lie in the future. */
  skewMs: number;
}

/**
 * Trusts `response` only as far as RFC 6960 §3.2 allows, checks in this order: the signer (the CA,
 * or its delegated responder), a single response for the CertID asked about, the nonce, then the
 * times (thisUpdate and producedAt not in the future beyond the skew, `at` not past nextUpdate).
 * Throws OcspResponseError naming the failed check.
 */
export function verifyOcspResponse(response: OcspResponse, expected: OcspExpectation): OcspStatus {
  verifyResponderSignature(response, expected.issuer, expected.at);

  const answer = response.responses.find((single) => single.certId.matches(expected.certId));
  if (answer === undefined) {
    const answered = response.responses.map((single) => single.certId.describe()).join('; ');
    throw new OcspResponseError(
      'cert-id',
      `no answer for the certificate asked about (${expected.certId.describe()}); the response answers for ${answered}`,
    );
  }

  if (expected.nonce !== undefined) {
    if (response.nonce === undefined) {
      if (expected.requireNonce)
        throw new OcspResponseError('nonce', 'the nonce sent is not echoed in the response');
    } else if (!sameBytes(response.nonce, expected.nonce)) {
      throw new OcspResponseError(
        'nonce',
        `the response echoes nonce ${hex(response.nonce)}, not the ${hex(expected.nonce)} sent (a replayed or misrouted answer)`,
      );
    }
  }

  const latest = expected.at.getTime() + expected.skewMs;
  if (answer.thisUpdate.getTime() > latest) {
    throw new OcspResponseError(
      'not-yet-valid',
      `thisUpdate ${answer.thisUpdate.toISOString()} is in the future at ${expected.at.toISOString()} (beyond ${expected.skewMs} ms of clock skew)`,
    );
  }
  if (response.producedAt.getTime() > latest) {
    throw new OcspResponseError(
      'not-yet-valid',
      `producedAt ${response.producedAt.toISOString()} is in the future at ${expected.at.toISOString()} (beyond ${expected.skewMs} ms of clock skew)`,
    );
  }
  if (answer.nextUpdate !== undefined && expected.at > answer.nextUpdate) {
    throw new OcspResponseError(
      'expired',
      `past nextUpdate ${answer.nextUpdate.toISOString()} at ${expected.at.toISOString()}`,
    );
  }
  return {
    status: answer.status,
    thisUpdate: answer.thisUpdate,
    nextUpdate: answer.nextUpdate,
    producedAt: response.producedAt,
    ...(answer.revokedAt !== undefined && { revokedAt: answer.revokedAt }),
    ...(answer.reason !== undefined && { reason: answer.reason }),
  };
}
