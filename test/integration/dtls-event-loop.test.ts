import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyStore } from '../../src/keys/index.js';
import { EcdsaDigestSigner } from '../../src/native/openssl/index.js';
import type { DtlsServer } from '../../src/tls/dtls/dtls-server.js';
import { keyStorePrivateKey } from '../../src/tls/key-store-private-key.js';
import { connectSensor, type DtlsPki, makeDtlsPki, startDtlsServer } from '../helpers/dtls-pki.js';

/**
 * Handshakes (with their synchronous ECDSA signature inside SSL_do_handshake) must not starve the
 * established sessions: a busy session keeps doing round trips while new sensors keep connecting.
 * The order of events is asserted, never their durations.
 */
let pki: DtlsPki;

beforeAll(() => {
  pki = makeDtlsPki();
});

afterAll(() => pki?.remove());

/** A KeyStore whose synchronous signature blocks the thread like a real TPM would (software key inside). */
function slowKeyStore(pkcs8: Uint8Array, blockMs: number): KeyStore & { signatures: number } {
  const signer = new EcdsaDigestSigner(pkcs8);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const store = {
    signatures: 0,
    info: {
      backend: 'software',
      hardwareBacked: false,
      model: 'slow test key',
      serial: '00',
      keyLocation: 'memory',
    },
    publicKey: async () => new Uint8Array(),
    signDigest: async (digest: Uint8Array) => signer.sign(digest),
    signDigestSync: (digest: Uint8Array) => {
      Atomics.wait(pause, 0, 0, blockMs); // the main thread waits, as signDigestSync does for a device
      store.signatures++;
      return signer.sign(digest);
    },
    certificates: async () => ({}),
    healthCheck: async () => ({ ok: true, checks: [] }),
    close: async () => signer.free(),
  };
  return store as unknown as KeyStore & { signatures: number };
}

/** Runs `handshakes` full handshakes while a busy session does round trips; returns the event order. */
async function interleave(server: DtlsServer, port: number, handshakes: number) {
  server.on('message', (data, peer) => server.send(peer.address, peer.port, data));
  const busy = await connectSensor(pki, port);
  const timeline: Array<'roundTrip' | 'handshake'> = [];
  let handshaking = true;
  const roundTrips = (async () => {
    let i = 0;
    while (handshaking) {
      const text = `busy ${i++}`;
      expect((await busy.request(Buffer.from(text))).toString()).toBe(text);
      timeline.push('roundTrip');
    }
  })();
  for (let i = 0; i < handshakes; i++) {
    const sensor = await connectSensor(pki, port, i % 2 === 0 ? 'sensor' : 'sensor2');
    expect(sensor.resumed).toBe(false); // a full handshake: certificate exchange and a signature
    timeline.push('handshake');
    sensor.close();
  }
  handshaking = false;
  await roundTrips;
  busy.close();
  // Gaps between consecutive handshakes in which the busy session completed at least one round trip.
  const first = timeline.indexOf('handshake');
  const last = timeline.lastIndexOf('handshake');
  let gapsWithTraffic = 0;
  let sawRoundTrip = false;
  for (const event of timeline.slice(first + 1, last + 1)) {
    if (event === 'roundTrip') sawRoundTrip = true;
    else {
      if (sawRoundTrip) gapsWithTraffic++;
      sawRoundTrip = false;
    }
  }
  return { gapsWithTraffic, between: timeline.slice(first, last).filter((e) => e === 'roundTrip').length };
}

// All test sensors share 127.0.0.1: lift the per-address handshake limit, or it would pace them.
const unlimited = { handshakeRate: { perAddress: { ratePerSecond: 10_000, burst: 10_000 } } };

describe('DtlsServer event loop', () => {
  it("keeps other sessions' round trips going between full handshakes", async () => {
    const { server, port } = await startDtlsServer(pki, unlimited);
    try {
      const handshakes = 20;
      const { gapsWithTraffic, between } = await interleave(server, port, handshakes);
      expect(between).toBeGreaterThanOrEqual(handshakes);
      expect(gapsWithTraffic).toBe(handshakes - 1);
      expect(server.stats().handshakesCompleted).toBe(handshakes + 1);
    } finally {
      await server.close();
    }
  });

  it('signs through a KeyStore hook whose signature blocks, one at a time, and other sessions go on', async () => {
    const store = slowKeyStore(readFileSync(pki.file('server.pk8')), 20);
    const spki = new X509Certificate(pki.der('server')).publicKey.export({ type: 'spki', format: 'der' });
    const { server, port } = await startDtlsServer(pki, {
      ...unlimited,
      privateKey: keyStorePrivateKey(store, spki),
    });
    try {
      const handshakes = 6;
      const { gapsWithTraffic } = await interleave(server, port, handshakes);
      expect(store.signatures).toBe(handshakes + 1); // one ServerKeyExchange signature per full handshake
      expect(gapsWithTraffic).toBe(handshakes - 1);
      expect(server.stats().handshakesFailed).toBe(0);
    } finally {
      await server.close();
    }
  });
});
