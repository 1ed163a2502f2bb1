import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DtlsClient } from '../../src/tls/dtls/dtls-client.js';
import type { DtlsHandshakeFailedEvent, DtlsPeer, DtlsServer } from '../../src/tls/dtls/dtls-server.js';
import {
  connectSensor,
  type DtlsPki,
  makeDtlsPki,
  startDtlsServer,
  startEchoServer,
  waitFor,
} from '../helpers/dtls-pki.js';

let pki: DtlsPki;
let server: DtlsServer;
let port: number;

beforeAll(async () => {
  pki = makeDtlsPki();
  ({ server, port } = await startEchoServer(pki));
});

afterAll(async () => {
  await server?.close();
  pki?.remove();
});

describe('DtlsServer with the DtlsClient', () => {
  it('completes a mutual-auth handshake and echoes datagrams', async () => {
    const sessions = waitFor<[DtlsPeer]>(server, 'session');
    const client = await connectSensor(pki, port);
    const [peer] = await sessions;
    expect(peer.identity.subject).toBe('CN=sensor');
    expect(peer.identity.chain).toHaveLength(2);
    expect(peer.identity.leafSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(peer.cipher).toBe('ECDHE-ECDSA-AES128-GCM-SHA256');
    expect(peer.resumed).toBe(false);
    for (let i = 0; i < 20; i++) {
      const reply = await client.request(Buffer.from(`ping ${i}`));
      expect(reply.toString()).toBe(`echo:ping ${i}`);
    }
    const ended = waitFor(server, 'sessionEnd');
    client.close();
    const [, reason] = await ended;
    expect(reason).toBe('closedByPeer');
  });

  it('keeps going when the server vanishes: ICMP port unreachable is counted, not thrown', async () => {
    const gone = await startEchoServer(pki);
    const client = await connectSensor(pki, gone.port);
    expect((await client.request(Buffer.from('hello'))).toString()).toBe('echo:hello');
    await gone.server.close();
    // Unhandled, the socket's ECONNREFUSED would be an uncaught exception (vitest fails the run).
    for (let i = 0; i < 50 && client.socketErrors.count === 0; i++) {
      client.send(Buffer.from(`anyone? ${i}`));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(client.socketErrors.count).toBeGreaterThanOrEqual(1);
    expect((client.socketErrors.last as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    client.destroy();
  });

  it('resumes a session without a new certificate exchange, same identity', async () => {
    const first = await connectSensor(pki, port);
    const saved = first.saveSession();
    first.close();
    const before = server.stats().handshakesResumed;
    const sessions = waitFor<[DtlsPeer]>(server, 'session');
    const second = await connectSensor(pki, port, 'sensor', { resume: saved });
    DtlsClient.freeSession(saved);
    const [peer] = await sessions;
    expect(second.resumed).toBe(true);
    expect(peer.resumed).toBe(true);
    expect(peer.identity.subject).toBe('CN=sensor');
    expect(peer.identity.chain).toHaveLength(2);
    expect(server.stats().handshakesResumed).toBe(before + 1);
    expect((await second.request(Buffer.from('again'))).toString()).toBe('echo:again');
    second.close();
  });

  it('splits large flights into datagrams no larger than the MTU', async () => {
    const small = await startDtlsServer(pki, { mtu: 400 });
    try {
      const client = await connectSensor(pki, small.port, 'sensor', { mtu: 400 });
      client.close();
      expect(small.server.stats().handshakesCompleted).toBe(1);
    } finally {
      await small.server.close();
    }
  });

  it('serves IPv6 peers', async () => {
    const v6 = await startDtlsServer(pki, {}, '::1');
    try {
      const sessions = waitFor<[DtlsPeer]>(v6.server, 'session');
      v6.server.on('message', (data, peer) => v6.server.send(peer.address, peer.port, data));
      const client = await connectSensor(pki, v6.port, 'sensor', { host: '::1' });
      const [peer] = await sessions;
      expect(peer.family).toBe('IPv6');
      expect(peer.address).toBe('::1');
      expect((await client.request(Buffer.from('six'))).toString()).toBe('six');
      client.close();
    } finally {
      await v6.server.close();
    }
  });

  it('runs the trust hook on the verified chain, and again when a session resumes', async () => {
    const chains: Uint8Array[][] = [];
    let allow = true;
    const hooked = await startDtlsServer(pki, {
      verifyPeer: (chain) => {
        chains.push(chain);
        return allow ? { ok: true } : { ok: false, reason: 'sensor revoked' };
      },
    });
    try {
      const first = await connectSensor(pki, hooked.port);
      expect(chains).toHaveLength(1);
      expect(chains[0]?.map((der) => Buffer.from(der).equals(Buffer.from(pki.der('sensor'))))).toEqual([
        true,
        false,
      ]);
      expect(Buffer.from(chains[0]?.[1] ?? []).equals(Buffer.from(pki.der('ca')))).toBe(true); // up to the anchor
      const saved = first.saveSession();
      first.close();

      allow = false; // e.g. the CRL now lists the sensor
      const failed = waitFor<[DtlsHandshakeFailedEvent]>(hooked.server, 'handshakeFailed');
      const resumed = await connectSensor(pki, hooked.port, 'sensor', { resume: saved });
      const [failure] = await failed;
      expect(failure.reason).toBe('rejectedByPolicy');
      expect(failure.error.message).toContain('on resumption: sensor revoked');
      expect(chains).toHaveLength(2);
      await waitFor(resumed, 'close'); // the server closed the resumed session at once
      resumed.destroy();

      const refused = waitFor<[DtlsHandshakeFailedEvent]>(hooked.server, 'handshakeFailed');
      await expect(connectSensor(pki, hooked.port, 'sensor', { resume: saved })).rejects.toThrow(); // not cached any more
      expect((await refused)[0].reason).toBe('rejectedByPolicy');
      DtlsClient.freeSession(saved);
      expect(hooked.server.stats().handshakesFailedByReason.rejectedByPolicy).toBe(2);
    } finally {
      await hooked.server.close();
    }
  });

  it('verifies certificates at the configured time (the clock floor), not only the system clock', async () => {
    const past = await startDtlsServer(pki, { verificationTime: () => new Date('2001-01-01T00:00:00Z') });
    try {
      const failed = waitFor<[DtlsHandshakeFailedEvent]>(past.server, 'handshakeFailed');
      await expect(connectSensor(pki, past.port)).rejects.toThrow();
      const [failure] = await failed;
      expect(failure.reason).toBe('certNotYetValid');
      expect(failure.error.code).toBe('EGW_TLS_CERT_NOT_YET_VALID');
    } finally {
      await past.server.close();
    }
  });

  it('replaces the session of a sensor that rebooted and reuses its address and port', async () => {
    const first = await connectSensor(pki, port);
    const localPort = first.localPort;
    expect(localPort).toBeGreaterThan(0);
    const ended = waitFor<[DtlsPeer, string]>(server, 'sessionEnd');
    first.destroy(); // power loss: no close_notify, the server still holds the session
    const before = server.stats();
    const second = await connectSensor(pki, port, 'sensor', { localPort });
    const [, reason] = await ended;
    expect(reason).toBe('replaced');
    expect(server.stats().sessionsReplaced).toBe(before.sessionsReplaced + 1);
    expect(server.stats().sessionsEstablished).toBe(before.sessionsEstablished);
    expect((await second.request(Buffer.from('back'))).toString()).toBe('echo:back');
    second.close();
  });
});
