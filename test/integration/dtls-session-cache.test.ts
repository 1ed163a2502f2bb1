import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DtlsPeer } from '../../src/tls/dtls/dtls-server.js';
import { DtlsClient } from '../../src/tls/index.js';
import {
  connectSensor,
  type DtlsPki,
  makeDtlsPki,
  startDtlsServer,
  startEchoServer,
  waitFor,
} from '../helpers/dtls-pki.js';

/**
 * The server's session-id cache holds sessions as DER in JS (DerSessionCache), not OpenSSL's parsed
 * SSL_SESSION objects (~10 KB each with the peer certificate): sessions whose SSL object was freed
 * (JS record layer) resume by session id from it, carry data both ways and close either way.
 */
let pki: DtlsPki;

beforeAll(() => {
  pki = makeDtlsPki();
});
afterAll(() => pki?.remove());

describe('session-id resumption from the DER session cache', () => {
  it('keeps each session as a small DER and resumes it after the SSL object was freed', async () => {
    const { server, port } = await startEchoServer(pki);
    try {
      const sensors = ['sensor', 'sensor2', 'sensor'];
      const saved = [];
      for (const sensor of sensors) {
        const client = await connectSensor(pki, port, sensor);
        expect((await client.request(Buffer.from('full'))).toString()).toBe('echo:full');
        saved.push(client.saveSession());
        const ended = waitFor<[DtlsPeer, string]>(server, 'sessionEnd');
        client.close(); // close_notify from the sensor
        expect((await ended)[1]).toBe('closedByPeer');
      }
      const stats = server.stats();
      expect(stats.sessionsCached).toBe(3);
      // The DER carries the secrets and the sensor certificate: well under what a parsed one holds.
      expect(stats.sessionCacheBytes / 3).toBeLessThan(2048);
      for (const [index, session] of saved.entries()) {
        const resumed = await connectSensor(pki, port, sensors[index], { resume: session });
        expect(resumed.resumed).toBe(true);
        expect((await resumed.request(Buffer.from('again'))).toString()).toBe('echo:again');
        resumed.close();
        DtlsClient.freeSession(session);
      }
      expect(server.stats().handshakesResumed).toBe(3);
    } finally {
      await server.close();
    }
  });

  it('a session the trust hook refuses on resumption is dropped from the cache', async () => {
    let allow = true;
    const hooked = await startDtlsServer(pki, {
      verifyPeer: () => (allow ? { ok: true, attributes: {} } : { ok: false, reason: 'revoked' }),
    });
    try {
      const first = await connectSensor(pki, hooked.port);
      const saved = first.saveSession();
      first.close();
      expect(hooked.server.stats().sessionsCached).toBe(1);
      allow = false;
      const resumed = await connectSensor(pki, hooked.port, 'sensor', { resume: saved });
      await waitFor(resumed, 'close');
      resumed.destroy();
      expect(hooked.server.stats().sessionsCached).toBe(0);
      DtlsClient.freeSession(saved);
    } finally {
      await hooked.server.close();
    }
  });
});
