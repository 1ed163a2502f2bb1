import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DtlsClient } from '../../src/tls/dtls/dtls-client.js';
import { SessionTicketKeys } from '../../src/tls/dtls/session-ticket-keys.js';
import { connectSensor, type DtlsPki, makeDtlsPki, startDtlsServer } from '../helpers/dtls-pki.js';

/*
 * A ticket key issues for one lifetime and decrypts for one more; after that, a ticket it made is a
 * full handshake (signed, judged afresh), never a resumption — even though its key name and HMAC
 * would still check out against a key held too long.
 */
let pki: DtlsPki;

beforeAll(() => {
  pki = makeDtlsPki();
});

afterAll(() => pki?.remove());

describe('a ticket under a rotated-out key', () => {
  it('past two lifetimes of its key, a ticket is a full handshake', async () => {
    let now = Date.now();
    const keys = new SessionTicketKeys({ lifetimeSeconds: 600, now: () => now });
    const { server, port } = await startDtlsServer(pki, { sessionTickets: keys });
    try {
      const first = await connectSensor(pki, port);
      const saved = first.saveSession();
      first.destroy();
      now += 2 * 600_000 + 1000; // the key that made the ticket no longer decrypts
      const again = await connectSensor(pki, port, 'sensor', { resume: saved });
      DtlsClient.freeSession(saved);
      expect(again.resumed).toBe(false);
      again.destroy();
      const stats = server.stats();
      expect(stats.handshakesResumed).toBe(0);
      expect(stats.signatures).toBe(2);
    } finally {
      await server.close();
    }
  });
});
