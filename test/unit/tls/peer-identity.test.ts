import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { libssl } from '../../../src/native/openssl/libssl.js';
import { PeerIdentity } from '../../../src/tls/dtls/peer-identity.js';
import { x509FromDer } from '../../../src/tls/openssl-objects.js';
import { type DtlsPki, makeDtlsPki } from '../../helpers/dtls-pki.js';

let pki: DtlsPki;
beforeAll(() => {
  pki = makeDtlsPki();
});
afterAll(() => pki?.remove());

function subjectOf(der: Uint8Array): string {
  const x509 = x509FromDer(der);
  try {
    return PeerIdentity.subjectOf(x509);
  } finally {
    libssl().X509_free(x509);
  }
}

describe('PeerIdentity', () => {
  it('carries the chain, the leaf thumbprint and subject', () => {
    const chain = [pki.der('sensor'), pki.der('ca')];
    const identity = new PeerIdentity(chain, subjectOf(chain[0] as Uint8Array));
    expect(identity.chain).toBe(chain);
    expect(identity.leafSha256).toBe(createHash('sha256').update(pki.der('sensor')).digest('hex'));
    expect(identity.subject).toBe('CN=sensor');
    expect(subjectOf(pki.der('ca'))).toBe('CN=Test Sensor CA');
  });

  it('needs a leaf', () => {
    expect(() => new PeerIdentity([], '')).toThrow(/leaf/);
  });
});
