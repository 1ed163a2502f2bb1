import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DtlsPeer } from '../../src/tls/dtls/dtls-server.js';
import {
  connectSensor,
  type DtlsPki,
  makeDtlsPki,
  startDtlsServer,
  until,
  waitFor,
} from '../helpers/dtls-pki.js';

/**
 * The server's OpenSSL callbacks run only where they can change an outcome (each one is a trip
 * through JS): the security callback that admits CCM_8 stays on handshakes whose ClientHello offers
 * an admitted CCM_8 suite, and the info callback that counts refused renegotiations is set once a
 * session is established. These tests pin the outcomes that depend on them.
 */
let pki: DtlsPki;

beforeAll(() => {
  pki = makeDtlsPki();
});
afterAll(() => pki?.remove());

describe('handshake callbacks where they matter', () => {
  it('a sensor offering only CCM_8 still gets it; one offering GCM and CCM_8 gets the preferred GCM', async () => {
    const { server, port } = await startDtlsServer(pki);
    try {
      const ciphers: string[] = [];
      server.on('session', (peer) => ciphers.push(peer.cipher));
      (await connectSensor(pki, port, 'sensor', { ciphers: 'ECDHE-ECDSA-AES128-CCM8' })).close();
      (
        await connectSensor(pki, port, 'sensor', {
          ciphers: 'ECDHE-ECDSA-AES128-CCM8:ECDHE-ECDSA-AES128-GCM-SHA256',
        })
      ).close();
      expect(ciphers).toEqual(['ECDHE-ECDSA-AES128-CCM8', 'ECDHE-ECDSA-AES128-GCM-SHA256']);
    } finally {
      await server.close();
    }
  });

  it("counts a refused renegotiation on a session that stays on OpenSSL's record layer", async () => {
    const { server, port } = await startDtlsServer(pki, { recordLayer: 'openssl' });
    try {
      const client = await connectSensor(pki, port);
      const ended = waitFor<[DtlsPeer, string]>(server, 'sessionEnd');
      client.renegotiate();
      await until(() => server.stats().renegotiationsRefused >= 1);
      await ended;
      expect(server.stats().renegotiationsRefused).toBe(1);
      client.destroy();
    } finally {
      await server.close();
    }
  });
});
