import { describe, expect, it } from 'vitest';
import { X509_V_ERR } from '../../../src/native/openssl/libssl.js';
import { HandshakeFailure } from '../../../src/tls/dtls/handshake-failure.js';

describe('HandshakeFailure', () => {
  it.each([
    [X509_V_ERR.UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 'unknownCa', 'EGW_TLS_UNKNOWN_CA'],
    [X509_V_ERR.SELF_SIGNED_CERT_IN_CHAIN, 'unknownCa', 'EGW_TLS_UNKNOWN_CA'],
    [X509_V_ERR.CERT_HAS_EXPIRED, 'certExpired', 'EGW_TLS_CERT_EXPIRED'],
    [X509_V_ERR.CERT_NOT_YET_VALID, 'certNotYetValid', 'EGW_TLS_CERT_NOT_YET_VALID'],
    [X509_V_ERR.INVALID_PURPOSE, 'badPurpose', 'EGW_TLS_BAD_CERT'],
    [X509_V_ERR.CERT_REVOKED, 'badCertificate', 'EGW_TLS_BAD_CERT'],
    [X509_V_ERR.EE_KEY_TOO_SMALL, 'belowSecurityLevel', 'EGW_TLS_BAD_CERT'],
    [X509_V_ERR.CA_KEY_TOO_SMALL, 'belowSecurityLevel', 'EGW_TLS_BAD_CERT'],
    [X509_V_ERR.CA_MD_TOO_WEAK, 'belowSecurityLevel', 'EGW_TLS_BAD_CERT'],
  ])('maps X509 error %i to %s (%s)', (error, reason, code) => {
    const failure = HandshakeFailure.fromVerifyError(error, 0);
    expect(failure.reason).toBe(reason);
    const tlsError = failure.toError('192.0.2.1:5684');
    expect(tlsError.code).toBe(code);
    expect(tlsError.message).toContain('192.0.2.1:5684');
    expect(tlsError.message).toContain(`X509 error ${error}`);
  });

  it('says what a sensor below the security level needs', () => {
    const hint = HandshakeFailure.fromVerifyError(X509_V_ERR.EE_KEY_TOO_SMALL, 0).toError('x').hint;
    expect(hint).toMatch(/security level 2/);
    expect(hint).toMatch(/RSA of 2048 bits or more/);
  });

  it('says what to do about a limit or a timeout', () => {
    expect(new HandshakeFailure('sessionLimit', 'full').toError('x').hint).toMatch(/maxSessions/);
    expect(new HandshakeFailure('timeout', 'silent').toError('x').code).toBe('EGW_TLS_TIMEOUT');
  });

  it('reads an empty error queue as a protocol failure', () => {
    HandshakeFailure.drainErrorQueue();
    expect(HandshakeFailure.fromErrorQueue().reason).toBe('protocol');
  });
});
