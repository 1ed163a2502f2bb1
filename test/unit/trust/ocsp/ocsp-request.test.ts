/**
 * OCSP requests against `openssl ocsp -reqout` for the same certificate and issuer: byte for byte,
 * with and without a nonce (openssl's own nonce given to ours, so nothing but the builder differs).
 * Also where the OCSP URL comes from: authorityInfoAccess, as `openssl x509 -extfile` writes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DER_TAG, oidString, strictChildren, strictSingle } from '../../../../src/pki/index.js';
import { buildOcspRequest, CertId, NONCE_BYTES, ocspUrlOf } from '../../../../src/trust/ocsp/index.js';
import type { CertificateFacts } from '../../../../src/trust/validation/index.js';
import { OpensslOcspPki } from '../../../helpers/openssl-ocsp-pki.js';

const NONCE_OID = '1.3.6.1.5.5.7.48.1.2';

let pki: OpensslOcspPki;
let ca: CertificateFacts;
let sensor: CertificateFacts;
let plain: CertificateFacts;

beforeAll(() => {
  pki = new OpensslOcspPki();
  ca = pki.ca('ca', '/CN=Sensor CA/O=Example');
  sensor = pki.leaf('sensor', 'ca', { serial: '1001', ocspUrl: 'http://127.0.0.1:8888/ocsp' });
  // A serial whose top bit is set: the INTEGER needs a leading zero octet, which CertID must keep.
  plain = pki.leaf('plain', 'ca', { serial: '00c0ffee' });
});
afterAll(() => pki?.remove());

/** The nonce openssl put in its request: requestExtensions [2] → nonce extension → OCTET STRING. */
function nonceOf(request: Uint8Array): Uint8Array {
  const [tbs] = strictChildren(strictSingle(request, DER_TAG.sequence).value);
  const extensions = strictChildren(tbs?.value ?? new Uint8Array()).find((field) => field.tag === 0xa2);
  const [list] = strictChildren(extensions?.value ?? new Uint8Array());
  for (const extension of strictChildren(list?.value ?? new Uint8Array())) {
    const [oid, value] = strictChildren(extension.value);
    if (oid && value && oidString(oid.value) === NONCE_OID) {
      return strictSingle(value.value, DER_TAG.octetString).value;
    }
  }
  throw new Error('openssl sent no nonce');
}

describe('buildOcspRequest', () => {
  it('without a nonce: the same DER as openssl ocsp -reqout -no_nonce', () => {
    const ours = buildOcspRequest(sensor, ca);
    expect(ours.nonce).toBeUndefined();
    expect(Buffer.from(ours.der).toString('hex')).toBe(
      Buffer.from(pki.opensslRequest('sensor', 'ca', { nonce: false })).toString('hex'),
    );
  });

  it("with openssl's nonce: the same DER as openssl's request with its nonce", () => {
    const theirs = pki.opensslRequest('sensor', 'ca', { nonce: true });
    const nonce = nonceOf(theirs);
    expect(nonce.length).toBeGreaterThan(0);
    const ours = buildOcspRequest(sensor, ca, { nonce });
    expect(Buffer.from(ours.der).toString('hex')).toBe(Buffer.from(theirs).toString('hex'));
  });

  it('a serial with a leading zero octet: still the same DER as openssl', () => {
    expect(Buffer.from(buildOcspRequest(plain, ca).der).toString('hex')).toBe(
      Buffer.from(pki.opensslRequest('plain', 'ca', { nonce: false })).toString('hex'),
    );
  });

  it('a fresh nonce is random, NONCE_BYTES long, and openssl reads the request with it', () => {
    const first = buildOcspRequest(sensor, ca, { nonce: true });
    const second = buildOcspRequest(sensor, ca, { nonce: true });
    expect(first.nonce).toHaveLength(NONCE_BYTES);
    expect(Buffer.from(first.nonce ?? []).equals(Buffer.from(second.nonce ?? []))).toBe(false);
    expect(Buffer.from(nonceOf(first.der)).equals(Buffer.from(first.nonce ?? []))).toBe(true);
    pki.write('ours.der', first.der);
    const text = pki.openssl('ocsp', '-reqin', 'ours.der', '-req_text');
    expect(text).toContain('Serial Number: 1001');
    // openssl prints the extension's value: the DER OCTET STRING (04 20) around the nonce.
    expect(text.replace(/\s/g, '')).toContain(
      `0420${Buffer.from(first.nonce ?? [])
        .toString('hex')
        .toUpperCase()}`,
    );
  });

  it('refuses an empty or over-long nonce', () => {
    expect(() => buildOcspRequest(sensor, ca, { nonce: new Uint8Array(0) })).toThrow(RangeError);
    expect(() => buildOcspRequest(sensor, ca, { nonce: new Uint8Array(NONCE_BYTES + 1) })).toThrow(
      RangeError,
    );
  });
});

describe('CertId', () => {
  it('hashes what openssl prints for the request (-req_text)', () => {
    const text = pki.openssl('ocsp', '-issuer', 'ca.pem', '-cert', 'sensor.pem', '-no_nonce', '-req_text');
    const certId = CertId.of(sensor, ca);
    const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex').toUpperCase();
    expect(text).toContain(`Issuer Name Hash: ${hex(certId.issuerNameHash)}`);
    expect(text).toContain(`Issuer Key Hash: ${hex(certId.issuerKeyHash)}`);
    expect(text).toContain('Serial Number: 1001');
    expect(certId.hashAlgorithm).toBe('1.3.14.3.2.26');
  });

  it('matches only the same certificate of the same issuer', () => {
    expect(CertId.of(sensor, ca).matches(CertId.of(sensor, ca))).toBe(true);
    expect(CertId.of(sensor, ca).matches(CertId.of(plain, ca))).toBe(false);
    expect(CertId.of(sensor, ca).key).not.toBe(CertId.of(plain, ca).key);
  });
});

describe('ocspUrlOf', () => {
  it('reads the id-ad-ocsp URI of authorityInfoAccess', () => {
    expect(ocspUrlOf(sensor)).toBe('http://127.0.0.1:8888/ocsp');
  });

  it('is undefined without authorityInfoAccess, or with caIssuers only', () => {
    expect(ocspUrlOf(plain)).toBeUndefined();
    expect(ocspUrlOf(ca)).toBeUndefined();
    const issuersOnly = pki.leaf('issuers-only', 'ca', {
      serial: '1003',
      caIssuersUrl: 'http://ca.example/ca.crt',
    });
    expect(ocspUrlOf(issuersOnly)).toBeUndefined();
  });

  it('skips caIssuers for the OCSP entry after it', () => {
    const both = pki.leaf('both', 'ca', {
      serial: '1004',
      caIssuersUrl: 'http://ca.example/ca.crt',
      ocspUrl: 'http://ocsp.example/',
    });
    expect(ocspUrlOf(both)).toBe('http://ocsp.example/');
  });
});
