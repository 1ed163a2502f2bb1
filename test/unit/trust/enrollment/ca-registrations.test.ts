import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../../../../src/store/index.js';
import { CaRegistrations, Enrollments } from '../../../../src/trust/enrollment/index.js';
import { TrustBundleStore, TrustError } from '../../../../src/trust/index.js';
import { OpensslPki } from '../../../helpers/openssl-pki.js';

const pki = new OpensslPki();
pki.ca('ca', '/CN=Sensor CA/O=Acme');
// Same subject, other key: an impostor that copies the name but cannot have the key.
pki.ca('impostor', '/CN=Sensor CA/O=Acme');
// Same key, other subject: signatures verify, names do not chain.
pki.ca('renamed', '/CN=Renamed CA', { key: 'ca' });
pki.selfSignedLeaf('leaf', '/CN=sensor-1');

let store: Store;
let registrations: CaRegistrations;
let counter = 0;
afterAll(() => store?.close());
beforeEach(() => {
  store?.close();
  store = Store.open(join(pki.dir, `state-${++counter}.db`));
  registrations = new CaRegistrations(store, { nonceLifetimeS: 600 });
});

const T0 = new Date('2030-01-01T00:00:00Z');

function refusal(work: () => unknown): TrustError {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(TrustError);
    return error as TrustError;
  }
  throw new Error('expected a refusal');
}

function expectNothingTrusted(): void {
  expect(new TrustBundleStore(store).list('sensors')).toEqual([]);
  expect(new Enrollments(store).list()).toEqual([]);
}

describe('CaRegistrations', () => {
  it('issues a 32-hex-digit nonce valid for the configured lifetime and lists it as pending', () => {
    const pending = registrations.add(pki.der('ca'), T0);
    expect(pending.nonce).toMatch(/^[0-9a-f]{32}$/);
    expect(pending.caSha256).toBe(pki.sha256('ca'));
    expect(pending.subject).toBe('CN=Sensor CA, O=Acme');
    expect(pending.expiresAt.getTime()).toBe(T0.getTime() + 600_000);
    expect(registrations.list()).toEqual([pending]);
    expect(registrations.add(pki.der('impostor'), T0).nonce).not.toBe(pending.nonce);
  });

  it('accepts a certificate CN=<nonce> signed with the CA key: the CA becomes an anchor with a group enrollment', () => {
    const { nonce } = registrations.add(pki.der('ca'), T0);
    const proof = pki.verificationCertificate('proof', nonce, { signer: 'ca' });
    const verified = registrations.verify(proof, new Date(T0.getTime() + 599_000));
    expect(verified.caSha256).toBe(pki.sha256('ca'));
    expect(verified.enrollmentCreated).toBe(true);
    const [anchor, ...others] = new TrustBundleStore(store).list('sensors');
    expect(others).toEqual([]);
    expect(anchor).toMatchObject({ sha256: pki.sha256('ca'), role: 'anchor', source: 'operator' });
    expect(new Enrollments(store).list()).toMatchObject([
      {
        kind: 'group',
        sha256: pki.sha256('ca'),
        enabled: true,
        constraints: {},
        label: 'CN=Sensor CA, O=Acme',
      },
    ]);
    expect(registrations.list()).toEqual([]);
    // The registration is over: the same proof does not work twice.
    expect(refusal(() => registrations.verify(proof, T0)).code).toBe('EGW_TRUST_PROOF_REJECTED');
  });

  it('keeps an existing group enrollment (and its constraints) when the CA is verified', () => {
    const enrollments = new Enrollments(store);
    enrollments.addGroup(pki.sha256('ca'), { constraints: { deviceTypes: ['thermo'] } }, T0);
    enrollments.disable('group', pki.sha256('ca'), T0);
    const { nonce } = registrations.add(pki.der('ca'), T0);
    const verified = registrations.verify(pki.verificationCertificate('proof', nonce, { signer: 'ca' }), T0);
    expect(verified.enrollmentCreated).toBe(false);
    expect(enrollments.get('group', pki.sha256('ca'))).toMatchObject({
      enabled: false,
      constraints: { deviceTypes: ['thermo'] },
    });
  });

  it('refuses a CN that is no pending nonce', () => {
    registrations.add(pki.der('ca'), T0);
    const wrong = '0123456789abcdef0123456789abcdef';
    const error = refusal(() =>
      registrations.verify(pki.verificationCertificate('wrong', wrong, { signer: 'ca' }), T0),
    );
    expect(error.code).toBe('EGW_TRUST_PROOF_REJECTED');
    expect(error.message).toBe(
      `no pending CA registration has the nonce "${wrong}" (the verification certificate's CN)`,
    );
    expect(error.hint).toContain('openssl x509 -req -in verification.csr -CA ca.pem -CAkey ca.key');
    expectNothingTrusted();
    expect(registrations.list()).toHaveLength(1);
  });

  it('refuses a certificate CN=<nonce> signed with another key (a CA with the same name)', () => {
    const { nonce } = registrations.add(pki.der('ca'), T0);
    const error = refusal(() =>
      registrations.verify(pki.verificationCertificate('forged', nonce, { signer: 'impostor' }), T0),
    );
    expect(error.code).toBe('EGW_TRUST_PROOF_REJECTED');
    expect(error.message).toBe(
      "the verification certificate's signature does not verify with the key of CA CN=Sensor CA, O=Acme: it was not signed with that CA's private key",
    );
    expect(error.hint).toContain(`-subj "/CN=${nonce}"`);
    expectNothingTrusted();
  });

  it('refuses a certificate signed with the CA key under another issuer name', () => {
    const { nonce } = registrations.add(pki.der('ca'), T0);
    const error = refusal(() =>
      registrations.verify(
        pki.verificationCertificate('renamed-proof', nonce, { signer: 'renamed', signerKey: 'ca' }),
        T0,
      ),
    );
    expect(error.message).toBe(
      "the verification certificate's issuer name (CN=Renamed CA) differs from the subject of CA CN=Sensor CA, O=Acme",
    );
    expectNothingTrusted();
  });

  it('refuses a proof made after the nonce expired, naming when', () => {
    const { nonce, expiresAt } = registrations.add(pki.der('ca'), T0);
    const proof = pki.verificationCertificate('late', nonce, { signer: 'ca' });
    const error = refusal(() => registrations.verify(proof, new Date(expiresAt.getTime() + 1)));
    expect(error.code).toBe('EGW_TRUST_PROOF_REJECTED');
    expect(error.message).toBe(
      `the nonce ${nonce} for CA CN=Sensor CA, O=Acme expired at 2030-01-01T00:10:00.000Z`,
    );
    expect(error.hint).toContain('gatewayctl sensors ca add');
    expectNothingTrusted();
  });

  it('refuses an unparseable verification certificate', () => {
    registrations.add(pki.der('ca'), T0);
    const error = refusal(() => registrations.verify(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), T0));
    expect(error.code).toBe('EGW_TRUST_PROOF_REJECTED');
    expect(error.message).toBe('the verification certificate is not parseable X.509 (PEM or DER)');
    expectNothingTrusted();
  });

  it('refuses to register a certificate that is not a CA, and registers nothing', () => {
    const error = refusal(() => registrations.add(pki.der('leaf'), T0));
    expect(error.code).toBe('EGW_TRUST_INVALID_ARGUMENT');
    expect(error.message).toBe(
      'CN=sensor-1 is not a CA certificate (no basicConstraints CA:TRUE): it cannot issue sensor certificates',
    );
    expect(registrations.list()).toEqual([]);
  });

  it('re-adding a CA replaces its nonce: the old one is refused, the new one accepted', () => {
    const first = registrations.add(pki.der('ca'), T0);
    const second = registrations.add(pki.der('ca'), T0);
    expect(registrations.list()).toHaveLength(1);
    const stale = refusal(() =>
      registrations.verify(pki.verificationCertificate('old', first.nonce, { signer: 'ca' }), T0),
    );
    expect(stale.message).toContain('no pending CA registration has the nonce');
    expect(
      registrations.verify(pki.verificationCertificate('new', second.nonce, { signer: 'ca' }), T0).caSha256,
    ).toBe(pki.sha256('ca'));
  });

  it('removes a pending registration by thumbprint (any case, colons), NOT_FOUND after', () => {
    const { caSha256 } = registrations.add(pki.der('ca'), T0);
    const colons = caSha256.toUpperCase().match(/../g)?.join(':') ?? '';
    expect(registrations.remove(colons).caSha256).toBe(caSha256);
    expect(registrations.list()).toEqual([]);
    expect(refusal(() => registrations.remove(caSha256)).code).toBe('EGW_TRUST_NOT_FOUND');
    expect(refusal(() => registrations.remove('abc')).code).toBe('EGW_TRUST_INVALID_ARGUMENT');
  });
});
