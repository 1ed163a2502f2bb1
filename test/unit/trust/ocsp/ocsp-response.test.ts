/**
 * OCSP responses made by OpenSSL's responder (`openssl ocsp -index … -reqin -respout`) for our own
 * requests: parsed and verified (good, revoked with reason, unknown; signed by the CA or a delegated
 * responder), and refused with the check that fails — another key, a delegated responder without
 * OCSPSigning or of another CA, the wrong CertID, the wrong nonce, bad times, bad DER, a status other
 * than successful. Where OpenSSL's client (`openssl ocsp -respin -CAfile`) judges the same signature,
 * its verdict is asserted next to ours.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildOcspRequest,
  CertId,
  DEFAULT_OCSP_SKEW_MS,
  type OcspCheck,
  OcspResponse,
  OcspResponseError,
  type OcspStatus,
  verifyOcspResponse,
} from '../../../../src/trust/ocsp/index.js';
import type { CertificateFacts } from '../../../../src/trust/validation/index.js';
import { OpensslOcspPki, type ResponderOptions } from '../../../helpers/openssl-ocsp-pki.js';

const minute = 60_000;
// Whole seconds: index.txt and GeneralizedTime have no milliseconds.
const revokedAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 60 * minute);

let pki: OpensslOcspPki;
let ca: CertificateFacts;
let other: CertificateFacts;
let good: CertificateFacts;
let revoked: CertificateFacts;
let unlisted: CertificateFacts;
let othersSensor: CertificateFacts;
let index: string;

const byCa: ResponderOptions = { ca: 'ca', signer: 'ca', nextUpdateMinutes: 10 };

beforeAll(() => {
  pki = new OpensslOcspPki();
  ca = pki.ca('ca', '/CN=Sensor CA');
  other = pki.ca('other', '/CN=Other CA');
  pki.ca('impostor', '/CN=Sensor CA'); // the CA's name, another key
  good = pki.leaf('good', 'ca', { serial: '1001' });
  revoked = pki.leaf('revoked', 'ca', { serial: '1002' });
  unlisted = pki.leaf('unlisted', 'ca', { serial: '1003' });
  othersSensor = pki.leaf('others-sensor', 'other', { serial: '1001' });
  pki.leaf('responder', 'ca', { serial: '2001', extendedKeyUsage: 'OCSPSigning' });
  pki.leaf('responder-no-eku', 'ca', { serial: '2002' });
  pki.leaf('responder-client-eku', 'ca', { serial: '2003', extendedKeyUsage: 'clientAuth' });
  pki.leaf('others-responder', 'other', { serial: '2004', extendedKeyUsage: 'OCSPSigning' });
  index = pki.writeIndex([
    { certificate: 'good' },
    { certificate: 'revoked', revoked: { at: revokedAt, reason: 'keyCompromise' } },
  ]);
});
afterAll(() => pki?.remove());

interface Asked {
  response: Uint8Array;
  certId: CertId;
  nonce: Uint8Array | undefined;
}

/** Our request for `certificate`, answered by OpenSSL's responder. */
function ask(
  certificate: CertificateFacts,
  issuer: CertificateFacts,
  options: ResponderOptions = byCa,
  nonce = true,
): Asked {
  const request = buildOcspRequest(certificate, issuer, { nonce });
  return { response: pki.respond(request.der, index, options), certId: request.certId, nonce: request.nonce };
}

function judge(
  asked: Asked,
  issuer: CertificateFacts,
  overrides: { at?: Date; nonce?: Uint8Array; requireNonce?: boolean; certId?: CertId } = {},
): OcspStatus {
  return verifyOcspResponse(OcspResponse.parse(asked.response), {
    certId: overrides.certId ?? asked.certId,
    issuer,
    nonce: overrides.nonce ?? asked.nonce,
    requireNonce: overrides.requireNonce ?? false,
    at: overrides.at ?? new Date(),
    skewMs: DEFAULT_OCSP_SKEW_MS,
  });
}

function refusal(work: () => unknown): OcspResponseError {
  try {
    work();
  } catch (error) {
    if (error instanceof OcspResponseError) return error;
    throw error;
  }
  throw new Error('expected an OcspResponseError');
}

function expectRefused(work: () => unknown, check: OcspCheck, message: RegExp): OcspResponseError {
  const error = refusal(work);
  expect(error.check).toBe(check);
  expect(error.message).toMatch(message);
  return error;
}

describe('responses of the openssl responder, verified', () => {
  it('good: thisUpdate now, nextUpdate from -nmin, and openssl verifies the same response', () => {
    const before = Math.floor(Date.now() / 1000) * 1000;
    const asked = ask(good, ca);
    const status = judge(asked, ca);
    expect(status.status).toBe('good');
    expect(status.thisUpdate.getTime()).toBeGreaterThanOrEqual(before);
    expect(status.thisUpdate.getTime()).toBeLessThanOrEqual(Date.now());
    expect(status.nextUpdate?.getTime()).toBe(status.thisUpdate.getTime() + 10 * minute);
    expect(status.revokedAt).toBeUndefined();
    expect(pki.opensslVerifies(asked.response, 'ca').verified).toBe(true);
  });

  it('revoked: revocation time and reason (keyCompromise = 1) from index.txt', () => {
    const status = judge(ask(revoked, ca), ca);
    expect(status).toMatchObject({ status: 'revoked', revokedAt, reason: 1 });
  });

  it('unknown: a serial the index does not list', () => {
    expect(judge(ask(unlisted, ca), ca).status).toBe('unknown');
  });

  it('the parsed response: responder by name, the nonce echoed, the CA certificate included', () => {
    const asked = ask(good, ca);
    const response = OcspResponse.parse(asked.response);
    expect(response.responderId).toEqual({ kind: 'name', name: ca.subjectDer });
    expect(Buffer.from(response.nonce ?? []).equals(Buffer.from(asked.nonce ?? [0]))).toBe(true);
    expect(response.certs.map((certificate) => certificate.sha256)).toEqual([ca.sha256]);
    expect(response.signatureAlgorithm.name).toBe('ecdsa-with-SHA256');
    expect(response.responses).toHaveLength(1);
  });

  it('responder by key hash (-resp_key_id), without certificates (-resp_no_certs)', () => {
    const asked = ask(good, ca, { ...byCa, byKey: true, noCerts: true });
    expect(OcspResponse.parse(asked.response).responderId.kind).toBe('key');
    expect(OcspResponse.parse(asked.response).certs).toHaveLength(0);
    expect(judge(asked, ca).status).toBe('good');
  });

  it('a delegated responder: issued by the CA, with extendedKeyUsage OCSPSigning', () => {
    const asked = ask(revoked, ca, { ...byCa, signer: 'responder' });
    expect(judge(asked, ca)).toMatchObject({ status: 'revoked', reason: 1 });
    expect(pki.opensslVerifies(asked.response, 'ca').verified).toBe(true);
  });

  it('without -nmin/-ndays there is no nextUpdate', () => {
    const status = judge(ask(good, ca, { ca: 'ca', signer: 'ca' }), ca);
    expect(status.nextUpdate).toBeUndefined();
  });
});

describe('refused responses, each by its own check', () => {
  it('signed by another key under the CA name: signature', () => {
    const asked = ask(good, ca, { ...byCa, signer: 'impostor', noCerts: true });
    expectRefused(() => judge(asked, ca), 'signature', /does not verify with the key of "CN=Sensor CA"/);
    expect(refusal(() => judge(asked, ca)).code).toBe('EGW_TRUST_OCSP_REJECTED');
    expect(pki.opensslVerifies(asked.response, 'ca').verified).toBe(false);
  });

  it('signed by another key whose certificate is included: not a responder of the CA', () => {
    const asked = ask(good, ca, { ...byCa, signer: 'impostor' });
    expectRefused(() => judge(asked, ca), 'responder', /is not signed by the key of the CA "CN=Sensor CA"/);
    expect(pki.opensslVerifies(asked.response, 'ca').verified).toBe(false);
  });

  it('a delegated responder without extendedKeyUsage: responder (no OCSPSigning)', () => {
    const asked = ask(good, ca, { ...byCa, signer: 'responder-no-eku' });
    expectRefused(() => judge(asked, ca), 'responder', /lacks extendedKeyUsage id-kp-OCSPSigning/);
    const openssl = pki.opensslVerifies(asked.response, 'ca');
    expect(openssl.verified).toBe(false);
    expect(openssl.output).toMatch(/missing ocspsigning usage/i);
  });

  it('a delegated responder with clientAuth but not OCSPSigning: responder', () => {
    const asked = ask(good, ca, { ...byCa, signer: 'responder-client-eku' });
    expectRefused(() => judge(asked, ca), 'responder', /lacks extendedKeyUsage id-kp-OCSPSigning/);
  });

  it("another CA's delegated responder (with OCSPSigning): responder", () => {
    const asked = ask(good, ca, { ...byCa, signer: 'others-responder' });
    expectRefused(
      () => judge(asked, ca),
      'responder',
      /is issued by "CN=Other CA", not by the CA "CN=Sensor CA"/,
    );
  });

  it("a certificate of another CA: the responder answers unknown, signed by a CA that is not the sensor's", () => {
    // OpenSSL 3.0's responder answers 'unknown' (successful) for a CertID of a CA it does not serve.
    const asked = ask(othersSensor, other);
    expect(OcspResponse.parse(asked.response).responses[0]?.status).toBe('unknown');
    expectRefused(
      () => judge(asked, other),
      'responder',
      /is issued by "CN=Sensor CA", not by the CA "CN=Other CA"/,
    );
  });

  it('an answer for another certificate: cert-id', () => {
    const asked = ask(revoked, ca);
    expectRefused(
      () => judge(asked, ca, { certId: CertId.of(good, ca) }),
      'cert-id',
      /no answer for the certificate asked about \(serial 1001.*the response answers for serial 1002/,
    );
  });

  it('another nonce echoed: nonce (always); none echoed: nonce only when required', () => {
    const asked = ask(good, ca);
    const otherNonce = new Uint8Array(32).fill(7);
    expectRefused(
      () => judge(asked, ca, { nonce: otherNonce }),
      'nonce',
      /echoes nonce [0-9a-f]+, not the 0707/,
    );
    const silent = ask(good, ca, byCa, false); // no nonce sent, so none echoed
    expect(OcspResponse.parse(silent.response).nonce).toBeUndefined();
    expectRefused(
      () => judge(silent, ca, { nonce: otherNonce, requireNonce: true }),
      'nonce',
      /the nonce sent is not echoed/,
    );
    expect(judge(silent, ca, { nonce: otherNonce, requireNonce: false }).status).toBe('good');
  });

  it('thisUpdate in the future beyond the skew: not-yet-valid; within it: accepted', () => {
    const asked = ask(good, ca);
    const thisUpdate = judge(asked, ca).thisUpdate.getTime();
    const early = new Date(thisUpdate - DEFAULT_OCSP_SKEW_MS - 1000);
    expectRefused(() => judge(asked, ca, { at: early }), 'not-yet-valid', /thisUpdate .* is in the future/);
    expect(judge(asked, ca, { at: new Date(thisUpdate - DEFAULT_OCSP_SKEW_MS + 1000) }).status).toBe('good');
  });

  it('past nextUpdate: expired; at nextUpdate: accepted', () => {
    const asked = ask(good, ca);
    const nextUpdate = judge(asked, ca).nextUpdate as Date;
    expectRefused(
      () => judge(asked, ca, { at: new Date(nextUpdate.getTime() + 1000) }),
      'expired',
      /past nextUpdate/,
    );
    expect(judge(asked, ca, { at: nextUpdate }).status).toBe('good');
  });

  it('a delegated responder certificate not valid at the time of judging: responder', () => {
    const responder = pki.facts('responder');
    const asked = ask(good, ca, { ca: 'ca', signer: 'responder' }); // no nextUpdate: only the responder expires
    expectRefused(
      () => judge(asked, ca, { at: new Date(responder.notAfter.getTime() + 1000) }),
      'responder',
      /"CN=responder" is not valid at/,
    );
  });

  it('signed with SHA-1: unsupported', () => {
    const asked = ask(good, ca, { ...byCa, digest: 'sha1' });
    expectRefused(() => judge(asked, ca), 'unsupported', /ecdsa-with-SHA1, a weak algorithm/);
  });

  it('changed after signing: signature', () => {
    const asked = ask(good, ca);
    const tampered = new Uint8Array(asked.response);
    // The serial's last octet inside the signed CertID: still strict DER, no longer what was signed.
    const at = Buffer.from(tampered).indexOf(Buffer.from('02021001', 'hex'));
    expect(at).toBeGreaterThan(0);
    tampered[at + 3] = 0x02;
    expectRefused(
      () => judge({ ...asked, response: tampered }, ca, { certId: asked.certId }),
      'signature',
      /does not verify/,
    );
  });

  it('truncated anywhere, or with a trailing byte: malformed (EGW_TRUST_MALFORMED)', () => {
    const { response } = ask(good, ca);
    for (let length = 0; length < response.length; length++) {
      const error = refusal(() => OcspResponse.parse(response.subarray(0, length)));
      expect(error.check, `truncated to ${length} bytes`).toBe('malformed');
      expect(error.code).toBe('EGW_TRUST_MALFORMED');
    }
    const longer = Uint8Array.from([...response, 0]);
    expectRefused(() => OcspResponse.parse(longer), 'malformed', /expected one element/);
  });

  it('not DER at all: malformed', () => {
    expectRefused(
      () => OcspResponse.parse(new TextEncoder().encode('<html>busy</html>')),
      'malformed',
      /DER/,
    );
  });

  it('a responseStatus other than successful (internalError from the responder): response-status', () => {
    // A CertID hashed with an algorithm the responder does not know (1.2.3.4.5.6 for SHA-1).
    const request = Buffer.from(buildOcspRequest(good, ca).der);
    const sha1 = request.indexOf(Buffer.from('06052b0e03021a', 'hex'));
    Buffer.from('06052a03040506', 'hex').copy(request, sha1);
    const response = pki.respond(request, index, byCa);
    const error = expectRefused(
      () => OcspResponse.parse(response),
      'response-status',
      /the responder answered internalError \(2\)/,
    );
    expect(error.code).toBe('EGW_TRUST_FETCH_FAILED');
  });
});
