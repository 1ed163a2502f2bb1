import koffi from 'koffi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pointer } from '../../src/native/openssl/libssl.js';
import { DtlsClient } from '../../src/tls/dtls/dtls-client.js';
import type { DtlsHandshakeFailedEvent, DtlsPeer } from '../../src/tls/dtls/dtls-server.js';
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

  it('with the budget spent, our ticket still resumes; a forged or foreign one is refused as a full handshake', async () => {
    const keys = new SessionTicketKeys({ lifetimeSeconds: 3600 });
    // One signature per source, and it is spent by the first session.
    const server = await ticketServer(keys, {
      handshakeRate: { perAddress: { ratePerSecond: 0.01, burst: 1 } },
    });
    const foreign = await ticketServer(new SessionTicketKeys({ lifetimeSeconds: 3600 }));
    try {
      const saved = await firstSession(server.port);
      const stranger = await firstSession(foreign.port);
      // Our key name, the HMAC broken: the same session with the last byte of its ticket flipped.
      const forged = withTicketByteFlipped(saved);
      const refusedBefore = server.server.stats().handshakesRateLimited;
      for (const offered of [forged, stranger]) {
        await expect(
          connectSensor(pki, server.port, 'sensor', { resume: offered, handshakeTimeoutMs: 1500 }),
        ).rejects.toThrow();
      }
      expect(server.server.stats().handshakesRateLimited).toBeGreaterThanOrEqual(refusedBefore + 2);
      expect(server.server.stats().signatures).toBe(1);
      const resumed = await connectSensor(pki, server.port, 'sensor', { resume: saved });
      expect(resumed.resumed).toBe(true);
      resumed.destroy();
      for (const session of [saved, stranger, forged]) DtlsClient.freeSession(session);
    } finally {
      await server.server.close();
      await foreign.server.close();
    }
  });

  it('a session refused on resumption (revoked meanwhile) cannot resume again with its ticket', async () => {
    let allow = true;
    const server = await ticketServer(new SessionTicketKeys({ lifetimeSeconds: 3600 }), {
      verifyPeer: () => (allow ? { ok: true } : { ok: false, reason: 'sensor revoked' }),
    });
    try {
      const saved = await firstSession(server.port);
      allow = false;
      const failed = waitFor<[DtlsHandshakeFailedEvent]>(server.server, 'handshakeFailed');
      const resumed = await connectSensor(pki, server.port, 'sensor', { resume: saved });
      expect((await failed)[0].error.message).toContain('on resumption: sensor revoked');
      await waitFor(resumed, 'close');
      resumed.destroy();
      // The same ticket again: a full handshake now, whose certificate the hook refuses in the handshake.
      const refused = waitFor<[DtlsHandshakeFailedEvent]>(server.server, 'handshakeFailed');
      await expect(
        connectSensor(pki, server.port, 'sensor', { resume: saved, handshakeTimeoutMs: 3000 }),
      ).rejects.toThrow();
      const [failure] = await refused;
      expect(failure.reason).toBe('rejectedByPolicy');
      expect(failure.error.message).not.toContain('on resumption');
      expect(server.server.stats().signatures).toBe(2); // the first session's and the refused full handshake's
      DtlsClient.freeSession(saved);
    } finally {
      await server.server.close();
    }
  });

  it('each ticket gets its own IV (bytes 16-31, after the key name), under the same key', async () => {
    const { server, port } = await ticketServer(new SessionTicketKeys({ lifetimeSeconds: 3600 }));
    try {
      const sessions = [await firstSession(port), await firstSession(port), await firstSession(port)];
      const tickets = sessions.map(ticketOf);
      expect(new Set(tickets.map((t) => t.subarray(0, 16).toString('hex'))).size).toBe(1);
      const ivs = tickets.map((t) => t.subarray(16, 32).toString('hex'));
      expect(new Set(ivs).size).toBe(3);
      for (const session of sessions) DtlsClient.freeSession(session);
    } finally {
      await server.close();
    }
  });

  it("a ticket lives no longer than the keys' lifetime nor the client certificate (notAfter)", async () => {
    // The test PKI's sensor certificate is valid for 2 days.
    const week = 7 * 86_400;
    const long = await ticketServer(new SessionTicketKeys({ lifetimeSeconds: week }), {
      sessionCache: { timeoutSeconds: week },
    });
    const short = await ticketServer(new SessionTicketKeys({ lifetimeSeconds: 600 }), {
      sessionCache: { timeoutSeconds: week },
    });
    try {
      const bounded = await firstSession(long.port);
      expect(lifetimeHint(bounded)).toBeGreaterThan(86_400);
      expect(lifetimeHint(bounded)).toBeLessThanOrEqual(2 * 86_400);
      const brief = await firstSession(short.port);
      expect(lifetimeHint(brief)).toBe(600);
      DtlsClient.freeSession(bounded);
      DtlsClient.freeSession(brief);
    } finally {
      await long.server.close();
      await short.server.close();
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
      expect(client.resumed).toBe(true);
      expect(keys.keys()).toHaveLength(2);
      expect(keys.keys()[1]?.name.equals(first as Buffer)).toBe(true);
      // The renewed ticket is under the new key; the old ticket (the previous key's) still resumes.
      expect(
        ticketOf(client.saveSession())
          .subarray(0, 16)
          .equals(keys.keys()[0]?.name as Buffer),
      ).toBe(true);
      client.destroy();
      const again = await connectSensor(pki, server.port, 'sensor', { resume: saved });
      DtlsClient.freeSession(saved);
      expect(again.resumed).toBe(true);
      again.destroy();
      expect(server.server.stats().signatures).toBe(1);
    } finally {
      await server.server.close();
    }
  });
});

const openssl = (() => {
  let bound:
    | {
        get0Ticket: (session: Pointer, out: [bigint | null], length: [number]) => void;
        i2dSize: (session: Pointer, out: null) => number;
        i2d: (session: Pointer, out: [bigint]) => number;
        d2i: (out: null, bytes: [bigint], length: number) => Pointer;
        hint: (session: Pointer) => number;
      }
    | undefined;
  return () => {
    if (bound) return bound;
    const lib = koffi.load(null as unknown as string);
    bound = {
      get0Ticket: lib.func('void SSL_SESSION_get0_ticket(void *, _Out_ void **, _Out_ size_t *)'),
      i2dSize: lib.func('int i2d_SSL_SESSION(void *, void *)'),
      i2d: lib.func('int i2d_SSL_SESSION(void *, _Inout_ void **)'),
      d2i: lib.func('void *d2i_SSL_SESSION(void *, _Inout_ void **, long)'),
      hint: lib.func('unsigned long SSL_SESSION_get_ticket_lifetime_hint(void *)'),
    };
    return bound;
  };
})();

function ticketOf(session: Pointer): Buffer {
  const out: [bigint | null] = [null];
  const length: [number] = [0];
  openssl().get0Ticket(session, out, length);
  return Buffer.from(koffi.view(out[0] as bigint, length[0]));
}

function lifetimeHint(session: Pointer): number {
  return Number(openssl().hint(session));
}

/** A copy of `session` whose ticket's last byte (in its HMAC) is flipped: our key name, a forged MAC. */
function withTicketByteFlipped(session: Pointer): Pointer {
  const o = openssl();
  const ticket = ticketOf(session);
  const size = o.i2dSize(session, null);
  const der = Buffer.alloc(size);
  o.i2d(session, [koffi.address(der)]);
  const at = der.indexOf(ticket);
  if (at < 0) throw new Error('ticket not found in the session DER');
  der[at + ticket.length - 1] = (der[at + ticket.length - 1] as number) ^ 0xff;
  return o.d2i(null, [koffi.address(der)], der.length);
}
