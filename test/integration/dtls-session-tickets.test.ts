import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pointer } from '../../src/native/openssl/libssl.js';
import { DtlsClient } from '../../src/tls/dtls/dtls-client.js';
import type { DtlsPeer } from '../../src/tls/dtls/dtls-server.js';
import { SessionTicketKeys, type TicketKey } from '../../src/tls/dtls/session-ticket-keys.js';
import { connectSensor, type DtlsPki, makeDtlsPki, startDtlsServer, waitFor } from '../helpers/dtls-pki.js';

let pki: DtlsPki;

beforeAll(() => {
  pki = makeDtlsPki();
});

afterAll(() => pki?.remove());

/** A server with tickets under `keys` (a restarted server is a new one over the same keys). */
async function ticketServer(
  keys: SessionTicketKeys,
  options: Partial<Parameters<typeof startDtlsServer>[1]> = {},
) {
  return startDtlsServer(pki, { sessionTickets: keys, ...options });
}

/** A first session (full handshake) and the client's saved session with its ticket. */
async function firstSession(port: number): Promise<Pointer> {
  const client = await connectSensor(pki, port);
  expect(client.resumed).toBe(false);
  const saved = client.saveSession();
  client.destroy();
  return saved;
}

describe('DTLS session tickets (RFC 5077) under our own rotating keys', () => {
  it('a session resumes on a new server (a restart) holding the same keys, without a signature', async () => {
    const issued: TicketKey[][] = [];
    const keys = new SessionTicketKeys({ lifetimeSeconds: 3600, changed: (k) => issued.push([...k]) });
    const before = await ticketServer(keys);
    const saved = await firstSession(before.port);
    expect(before.server.stats().signatures).toBe(1);
    await before.server.close();
    expect(issued).toHaveLength(1);

    // The restarted server knows the keys only from what was handed out (persisted).
    const after = await ticketServer(new SessionTicketKeys({ lifetimeSeconds: 3600, keys: issued[0] }));
    try {
      const sessions = waitFor<[DtlsPeer]>(after.server, 'session');
      const client = await connectSensor(pki, after.port, 'sensor', { resume: saved });
      const [peer] = await sessions;
      expect(client.resumed).toBe(true);
      expect(peer.resumed).toBe(true);
      expect(peer.identity.subject).toBe('CN=sensor');
      const stats = after.server.stats();
      expect(stats.signatures).toBe(0);
      expect(stats.handshakesResumed).toBe(1);
      client.destroy();
    } finally {
      DtlsClient.freeSession(saved);
      await after.server.close();
    }
  });

  it('a server with other keys does a full handshake (the ticket is not ours), charged to the budget', async () => {
    const before = await ticketServer(new SessionTicketKeys({ lifetimeSeconds: 3600 }));
    const saved = await firstSession(before.port);
    await before.server.close();
    // Per-address budget of one signature: a ticket taken for ours would not spend it.
    const other = await ticketServer(new SessionTicketKeys({ lifetimeSeconds: 3600 }), {
      handshakeRate: { perAddress: { ratePerSecond: 0.01, burst: 2 } },
    });
    try {
      const client = await connectSensor(pki, other.port, 'sensor', { resume: saved });
      expect(client.resumed).toBe(false);
      client.destroy();
      expect(other.server.stats().signatures).toBe(1);
      // The budget was charged: one more full handshake fits (burst 2), the third is refused.
      const second = await connectSensor(pki, other.port);
      second.destroy();
      await expect(connectSensor(pki, other.port, 'sensor', { handshakeTimeoutMs: 1500 })).rejects.toThrow();
      expect(other.server.stats().handshakesRateLimited).toBeGreaterThanOrEqual(1);
    } finally {
      DtlsClient.freeSession(saved);
      await other.server.close();
    }
  });

  it('after a rotation the previous key still decrypts (and the client gets a fresh ticket)', async () => {
    let now = Date.now();
    const keys = new SessionTicketKeys({ lifetimeSeconds: 600, now: () => now });
    const server = await ticketServer(keys);
    try {
      const saved = await firstSession(server.port);
      const first = keys.keys()[0]?.name;
      now += 700_000; // past one lifetime: a new key issues, the first only decrypts
      const client = await connectSensor(pki, server.port, 'sensor', { resume: saved });
      DtlsClient.freeSession(saved);
      expect(client.resumed).toBe(true);
      expect(keys.keys()).toHaveLength(2);
      expect(keys.keys()[1]?.name.equals(first as Buffer)).toBe(true);
      client.destroy();
      expect(server.server.stats().signatures).toBe(1);
    } finally {
      await server.server.close();
    }
  });
});
