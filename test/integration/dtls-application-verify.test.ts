import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DtlsClient } from '../../src/tls/dtls/dtls-client.js';
import type { DtlsHandshakeFailedEvent, DtlsPeer, DtlsServer } from '../../src/tls/dtls/dtls-server.js';
import type { PeerVerdict } from '../../src/tls/index.js';
import {
  connectSensor,
  type DtlsPki,
  makeDtlsPki,
  run,
  startDtlsServer,
  waitFor,
} from '../helpers/dtls-pki.js';

/**
 * chainVerification 'application': OpenSSL's chain check is replaced by the verifyPeer hook (the
 * trust module in the daemon), which sees the chain as the peer sent it — also a certificate no
 * configured CA issued — and whose verdict attributes stay with the session. reverify() closes
 * sessions the hook now refuses.
 */
let pki: DtlsPki;
let server: DtlsServer;
let port: number;
const seen: Uint8Array[][] = [];
const refused = new Set<string>();
const sha256 = (der: Uint8Array) => createHash('sha256').update(der).digest('hex');

beforeAll(async () => {
  pki = makeDtlsPki();
  ({ server, port } = await startDtlsServer(pki, {
    ca: [],
    chainVerification: 'application',
    verifyPeer: (chain): PeerVerdict => {
      seen.push(chain);
      const leaf = sha256(chain[0] as Uint8Array);
      if (refused.has(leaf))
        return { ok: false, reason: `leaf ${leaf.slice(0, 8)} refused`, verifyError: 23 };
      return { ok: true, attributes: { leaf, label: `accepted #${seen.length}` } };
    },
  }));
  server.on('message', (data, peer) =>
    server.send(peer.address, peer.port, Buffer.concat([Buffer.from('echo:'), data])),
  );
});

afterAll(async () => {
  await server?.close();
  pki?.remove();
});

describe("DtlsServer with chainVerification 'application'", () => {
  it('hands the chain as sent to verifyPeer, even from a CA OpenSSL was never told about, and keeps the attributes', async () => {
    const sessions = waitFor<[DtlsPeer]>(server, 'session');
    const client = await connectSensor(pki, port, 'rogue-sensor');
    const [peer] = await sessions;
    expect(sha256(seen.at(-1)?.[0] as Uint8Array)).toBe(sha256(pki.der('rogue-sensor')));
    expect(peer.identity.attributes).toMatchObject({ leaf: sha256(pki.der('rogue-sensor')) });
    expect((await client.request(Buffer.from('hi'))).toString()).toBe('echo:hi');
    client.close();
  });

  it('passes the intermediates the peer sent, leaf first', async () => {
    const before = seen.length;
    const client = await connectSensor(pki, port, 'sensor', { extraChain: [pki.der('ca')] });
    expect(seen.length).toBe(before + 1);
    expect(seen.at(-1)?.map(sha256)).toEqual([sha256(pki.der('sensor')), sha256(pki.der('ca'))]);
    client.close();
  });

  it('refuses what the hook refuses, with the alert its verifyError picks (certificate_revoked for 23)', async () => {
    refused.add(sha256(pki.der('sensor2')));
    const failed = waitFor<[DtlsHandshakeFailedEvent]>(server, 'handshakeFailed');
    await expect(connectSensor(pki, port, 'sensor2', { handshakeTimeoutMs: 3000 })).rejects.toThrow();
    const [event] = await failed;
    expect(event.reason).toBe('rejectedByPolicy');
    expect(event.error.message).toMatch(/refused/);
    // An independent client sees the alert: openssl s_client reports "certificate revoked".
    const sClient = await run(
      'openssl',
      [
        's_client',
        '-dtls1_2',
        '-connect',
        `127.0.0.1:${port}`,
        '-cert',
        pki.file('sensor2.pem'),
        '-key',
        pki.file('sensor2.key'),
        '-CAfile',
        pki.file('ca.pem'),
      ],
      { input: '', timeoutMs: 10_000 },
    );
    expect(sClient.stdout + sClient.stderr).toMatch(/certificate revoked/i);
    refused.clear();
  });

  it('reverify() closes the sessions the hook now refuses and keeps the others, with fresh attributes', async () => {
    const a = await connectSensor(pki, port, 'sensor');
    const b = await connectSensor(pki, port, 'sensor2');
    const aEnded = new Promise<void>((resolve) => a.once('close', () => resolve()));
    refused.add(sha256(pki.der('sensor')));
    const closed = server.reverify();
    expect(closed.map((entry) => entry.peer.identity.subject)).toEqual(['CN=sensor']);
    expect(closed[0]?.reason).toMatch(/refused/);
    await aEnded; // the sensor got close_notify
    expect((await b.request(Buffer.from('still here'))).toString()).toBe('echo:still here');
    const remaining = server.peers();
    expect(remaining.map((peer) => peer.identity.subject)).toEqual(['CN=sensor2']);
    expect(remaining[0]?.identity.attributes).toMatchObject({ label: expect.stringMatching(/^accepted #/) });
    expect(server.stats().sessionsClosedByPolicy).toBe(1);
    // Nor can it come back through session resumption: the hook runs again.
    b.close();
    refused.clear();
  });

  it('runs the hook again on resumption', async () => {
    const first = await connectSensor(pki, port, 'sensor');
    const saved = first.saveSession();
    first.close();
    refused.add(sha256(pki.der('sensor')));
    const failed = waitFor<[DtlsHandshakeFailedEvent]>(server, 'handshakeFailed');
    // The client's side of an abbreviated handshake ends first; the server then refuses and closes.
    const resumed = await connectSensor(pki, port, 'sensor', { resume: saved });
    const [event] = await failed;
    expect(event.error.message).toMatch(/on resumption: leaf .* refused/);
    await waitFor(resumed, 'close');
    resumed.destroy();
    DtlsClient.freeSession(saved);
    refused.clear();
  });
});
