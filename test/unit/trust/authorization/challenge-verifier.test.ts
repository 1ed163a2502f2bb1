import { createPrivateKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ChallengeVerifier } from '../../../../src/trust/authorization/index.js';
import { OpensslPki } from '../../../helpers/openssl-pki.js';

const pki = new OpensslPki();
// Sensor keys as openssl makes them; signatures by openssl where it can (an independent signer).
pki.openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'p256.key');
pki.openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', 'p384.key');
pki.openssl('genpkey', '-algorithm', 'ED25519', '-out', 'ed25519.key');
pki.openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'rsa.key');

function spki(key: string): Uint8Array {
  pki.openssl('pkey', '-in', `${key}.key`, '-pubout', '-outform', 'DER', '-out', `${key}.spki`);
  return new Uint8Array(readFileSync(pki.path(`${key}.spki`)));
}

/** openssl's signature over the nonce's bytes: ECDSA-SHA256 (DER) or Ed25519. */
function opensslSignature(key: string, nonce: string): Uint8Array {
  pki.write('nonce.bin', Buffer.from(nonce, 'base64url'));
  if (key === 'ed25519') {
    pki.openssl('pkeyutl', '-sign', '-inkey', 'ed25519.key', '-rawin', '-in', 'nonce.bin', '-out', 'sig.bin');
  } else {
    pki.openssl('dgst', '-sha256', '-sign', `${key}.key`, '-out', 'sig.bin', 'nonce.bin');
  }
  return new Uint8Array(readFileSync(pki.path('sig.bin')));
}

/** The raw r‖s form small sensor stacks (and WebCrypto) produce. */
function rawSignature(key: string, nonce: string): Uint8Array {
  const privateKey = createPrivateKey(readFileSync(pki.path(`${key}.key`)));
  return new Uint8Array(
    sign('sha256', Buffer.from(nonce, 'base64url'), { key: privateKey, dsaEncoding: 'ieee-p1363' }),
  );
}

const SENSOR = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);
const T0 = new Date('2030-01-01T00:00:00Z');

describe('ChallengeVerifier', () => {
  it('issues 32 random bytes as base64url, valid for the configured lifetime', () => {
    const verifier = new ChallengeVerifier({ lifetimeS: 60 });
    const { nonce, expiresAt } = verifier.issue(SENSOR, T0);
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(nonce, 'base64url')).toHaveLength(32);
    expect(expiresAt).toEqual(new Date(T0.getTime() + 60_000));
    expect(verifier.issue(SENSOR, T0).nonce).not.toBe(nonce);
  });

  it('accepts ECDSA (DER and raw r‖s, P-256 and P-384) and Ed25519 signatures over the nonce', () => {
    const verifier = new ChallengeVerifier({ lifetimeS: 60 });
    const cases: [string, (key: string, nonce: string) => Uint8Array][] = [
      ['p256', opensslSignature],
      ['p256', rawSignature],
      ['p384', opensslSignature],
      ['p384', rawSignature],
      ['ed25519', opensslSignature],
    ];
    for (const [key, signer] of cases) {
      const { nonce } = verifier.issue(SENSOR, T0);
      expect([key, verifier.verify(SENSOR, nonce, signer(key, nonce), spki(key), T0)]).toEqual([
        key,
        { ok: true },
      ]);
    }
  });

  it('takes each nonce once, even when the first attempt fails', () => {
    const verifier = new ChallengeVerifier({ lifetimeS: 60 });
    const { nonce } = verifier.issue(SENSOR, T0);
    const signature = opensslSignature('p256', nonce);
    expect(verifier.verify(SENSOR, nonce, signature, spki('p256'), T0)).toEqual({ ok: true });
    expect(verifier.verify(SENSOR, nonce, signature, spki('p256'), T0)).toEqual({
      ok: false,
      refusal: 'unknown or already used challenge nonce',
    });
    const second = verifier.issue(SENSOR, T0).nonce;
    const wrongKey = verifier.verify(SENSOR, second, opensslSignature('p384', second), spki('p256'), T0);
    expect(wrongKey).toEqual({ ok: false, refusal: 'the signature does not verify (ECDSA with SHA-256)' });
    expect(verifier.verify(SENSOR, second, opensslSignature('p256', second), spki('p256'), T0).ok).toBe(
      false,
    );
    expect(verifier.outstanding).toBe(0);
  });

  it("refuses another sensor's nonce without using it up", () => {
    const verifier = new ChallengeVerifier({ lifetimeS: 60 });
    const { nonce } = verifier.issue(SENSOR, T0);
    const signature = opensslSignature('p256', nonce);
    expect(verifier.verify(OTHER, nonce, signature, spki('p256'), T0)).toEqual({
      ok: false,
      refusal: 'the challenge nonce was issued to another sensor',
    });
    expect(verifier.verify(SENSOR, nonce, signature, spki('p256'), T0)).toEqual({ ok: true });
  });

  it('refuses an expired nonce, a signature over other bytes, an unknown nonce and an RSA key', () => {
    const verifier = new ChallengeVerifier({ lifetimeS: 60 });
    const late = verifier.issue(SENSOR, T0).nonce;
    expect(
      verifier.verify(
        SENSOR,
        late,
        opensslSignature('p256', late),
        spki('p256'),
        new Date(T0.getTime() + 60_001),
      ),
    ).toEqual({ ok: false, refusal: 'the challenge nonce expired at 2030-01-01T00:01:00.000Z' });
    const nonce = verifier.issue(SENSOR, T0).nonce;
    const other = verifier.issue(SENSOR, T0).nonce;
    expect(verifier.verify(SENSOR, nonce, opensslSignature('ed25519', other), spki('ed25519'), T0)).toEqual({
      ok: false,
      refusal: 'the signature does not verify (Ed25519)',
    });
    expect(verifier.verify(SENSOR, 'not-a-nonce', new Uint8Array(64), spki('p256'), T0).ok).toBe(false);
    expect(verifier.verify(SENSOR, other, new Uint8Array(256), spki('rsa'), T0)).toEqual({
      ok: false,
      refusal: 'key type rsa is not accepted for challenges (ECDSA or Ed25519)',
    });
  });

  it('keeps memory bounded: expired nonces go, a sensor holds a few, all sensors a maximum', () => {
    const verifier = new ChallengeVerifier({ lifetimeS: 10, maxOutstanding: 5, maxPerSensor: 2 });
    const first = verifier.issue(SENSOR, T0).nonce;
    verifier.issue(SENSOR, T0);
    verifier.issue(SENSOR, T0);
    expect(verifier.outstanding).toBe(2);
    // The sensor's oldest challenge made room for its newest.
    expect(verifier.verify(SENSOR, first, opensslSignature('p256', first), spki('p256'), T0)).toMatchObject({
      refusal: 'unknown or already used challenge nonce',
    });
    for (const sensor of ['1', '2', '3', '4'].map((digit) => digit.repeat(64))) verifier.issue(sensor, T0);
    expect(verifier.outstanding).toBe(5);
    // Eleven seconds later every earlier challenge has expired and is dropped.
    verifier.issue(OTHER, new Date(T0.getTime() + 11_000));
    expect(verifier.outstanding).toBe(1);
  });
});
