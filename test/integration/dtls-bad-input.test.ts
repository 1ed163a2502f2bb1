import dgram from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DtlsClient } from '../../src/tls/dtls/dtls-client.js';
import type { DtlsHandshakeFailedEvent, DtlsPeer, DtlsServer } from '../../src/tls/dtls/dtls-server.js';
import type { DtlsServerOptions } from '../../src/tls/dtls/dtls-server-options.js';
import {
  clientHello,
  connectSensor,
  cookieOf,
  type DtlsPki,
  makeDtlsPki,
  rawRecord,
  startDtlsServer,
  until,
  waitFor,
} from '../helpers/dtls-pki.js';

/**
 * Hostile and broken input against a live server. Every test runs against its own server with one good
 * sensor session open, and afterEach proves that session still does a round trip: bad input from
 * anyone must never disturb someone else's session, nor crash the server.
 */
let pki: DtlsPki;
let server: DtlsServer;
let port: number;
let good: DtlsClient;
let goodRoundTrips = 0;
const raws: dgram.Socket[] = [];

beforeAll(() => {
  pki = makeDtlsPki();
});

afterAll(() => pki?.remove());

async function setUp(options: Partial<DtlsServerOptions> = {}): Promise<void> {
  ({ server, port } = await startDtlsServer(pki, options));
  server.on('message', (data, peer) => server.send(peer.address, peer.port, data));
  good = await connectSensor(pki, port);
  await roundTrip();
}

async function roundTrip(): Promise<void> {
  const text = `round trip ${goodRoundTrips++}`;
  expect((await good.request(Buffer.from(text))).toString()).toBe(text);
}

/** A plain UDP socket aimed at the server, with every datagram it receives. */
async function rawSocket(): Promise<{ socket: dgram.Socket; received: Buffer[] }> {
  const socket = dgram.createSocket('udp4');
  raws.push(socket);
  const received: Buffer[] = [];
  socket.on('message', (message) => received.push(message));
  await new Promise<void>((resolve) => socket.connect(port, '127.0.0.1', () => resolve()));
  return { socket, received };
}

function send(socket: dgram.Socket, datagram: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.send(datagram, (error) => (error ? reject(error) : resolve())),
  );
}

afterEach(async () => {
  await roundTrip(); // the good session is unaffected
  expect(server.stats().sessionsEstablished).toBeGreaterThanOrEqual(1);
  for (const socket of raws.splice(0)) socket.close();
  good.close();
  await server.close();
});

describe('DtlsServer under bad input', () => {
  it('drops garbage datagrams, counted, before OpenSSL sees them', async () => {
    await setUp();
    const { socket } = await rawSocket();
    const garbage = [
      Buffer.from('GET /hello HTTP/1.1\r\n\r\n'),
      Buffer.alloc(0),
      Buffer.from([0x16]),
      Buffer.alloc(200, 0xff),
      rawRecord(99, 0, Buffer.alloc(10)), // unknown content type
      Buffer.concat([Buffer.from([22, 0x03, 0x03]), Buffer.alloc(20)]), // TLS, not DTLS
    ];
    for (const datagram of garbage) await send(socket, datagram);
    // and the same from the good session's own address and port
    for (const datagram of garbage) await good.sendRaw(datagram);
    await until(() => server.stats().datagramsMalformed >= garbage.length * 2);
    expect(server.stats().datagramsMalformed).toBe(garbage.length * 2);
    expect(server.stats().sessionsActive).toBe(1);
  });

  it('drops truncated records, including on an established session', async () => {
    await setUp();
    const truncated = [
      rawRecord(23, 1, Buffer.alloc(10), 500), // announces 500 bytes, carries 10
      clientHello().subarray(0, 40),
      Buffer.concat([rawRecord(23, 1, Buffer.alloc(30)), Buffer.alloc(5)]), // a whole record, then 5 stray bytes
    ];
    for (const datagram of truncated) await good.sendRaw(datagram);
    const { socket } = await rawSocket();
    for (const datagram of truncated) await send(socket, datagram);
    await until(() => server.stats().datagramsMalformed >= truncated.length * 2);
    expect(server.stats().datagramsMalformed).toBe(truncated.length * 2);
  });

  it('drops records for epochs a session cannot be in, and forged epoch-1 records', async () => {
    await setUp();
    const before = server.stats();
    await good.sendRaw(rawRecord(23, 7, Buffer.alloc(40))); // unknown epoch
    // an epoch-0 handshake message (a Finished) after the handshake
    await good.sendRaw(
      rawRecord(
        22,
        0,
        Buffer.concat([Buffer.from([20, 0, 0, 12, 0, 5, 0, 0, 0, 0, 0, 12]), Buffer.alloc(12)]),
      ),
    );
    await good.sendRaw(rawRecord(23, 2, Buffer.alloc(40)));
    await until(() => server.stats().datagramsWrongEpoch >= before.datagramsWrongEpoch + 3);
    // Right epoch, garbage ciphertext: OpenSSL discards it silently (bad record MAC, RFC 6347 §4.1.2.7).
    await good.sendRaw(rawRecord(23, 1, Buffer.alloc(64, 0x42)));
    const { socket } = await rawSocket();
    await send(socket, rawRecord(23, 1, Buffer.alloc(64))); // application data from nobody we know
    await until(() => server.stats().datagramsUnexpected >= before.datagramsUnexpected + 1);
    expect(server.stats().datagramsWrongEpoch).toBe(before.datagramsWrongEpoch + 3);
    expect(server.stats().handshakesFailed).toBe(0);
  });

  it('answers a cookie-less ClientHello flood statelessly, without spending any budget', async () => {
    await setUp({ handshakeRate: { perAddress: { ratePerSecond: 1, burst: 5 } } });
    const { socket, received } = await rawSocket();
    const before = server.stats(); // the good session's handshake: 2 ClientHellos, 1 cookie
    const hello = clientHello();
    const flood = 200;
    for (let i = 0; i < flood; i++) await send(socket, clientHello(new Uint8Array(0), i));
    await until(() => server.stats().clientHellos >= before.clientHellos + flood);
    const stats = server.stats();
    expect(stats.sessionsActive).toBe(1); // only the good session: no per-peer state for the flood
    expect(stats.sessionsHandshaking).toBe(0);
    expect(stats.handshakesStarted).toBe(1);
    expect(stats.handshakesRateLimited).toBe(0); // a HelloVerifyRequest is all a cookie-less one costs
    expect(stats.cookiesSent - before.cookiesSent).toBe(flood);
    await until(() => received.length >= flood);
    for (const reply of received) {
      expect(reply[13]).toBe(3); // HelloVerifyRequest
      expect(reply.length).toBeLessThanOrEqual(hello.length); // never more than was asked
    }
  });

  it('never answers a ClientHello with more bytes than it carried (anti-amplification)', async () => {
    await setUp();
    const { socket, received } = await rawSocket();
    // The smallest well-formed ClientHello: version, random, empty session id and cookie, one suite,
    // the null compression method.
    const body = Buffer.concat([
      Buffer.from([0xfe, 0xfd]),
      Buffer.alloc(32, 1),
      Buffer.from([0, 0, 0, 2, 0xc0, 0x2b, 1, 0]),
    ]);
    const handshake = Buffer.concat([
      Buffer.from([1, 0, 0, body.length, 0, 0, 0, 0, 0, 0, 0, body.length]),
      body,
    ]);
    const tiny = rawRecord(22, 0, handshake);
    // Without cipher suites and compression methods it is no ClientHello: not answered at all.
    const malformed = rawRecord(22, 0, Buffer.concat([handshake.subarray(0, 12 + 36)]));
    malformed.writeUIntBE(36, 13 + 1, 3);
    malformed.writeUIntBE(36, 13 + 9, 3);
    await send(socket, malformed);
    await send(socket, tiny);
    await send(socket, clientHello());
    await until(() => server.stats().clientHellos >= 5); // 2 from the good sensor's handshake
    await until(() => received.length + server.stats().amplificationDropped >= 2);
    for (const reply of received) expect(reply.length).toBeLessThanOrEqual(tiny.length);
    expect(tiny.length).toBe(67);
    expect(received[0]?.length).toBe(60); // HelloVerifyRequest with a 32-byte cookie
    expect(server.stats().datagramsMalformed).toBe(1);
  });

  it('sends a new cookie for a forged one and creates no session', async () => {
    await setUp();
    const { socket, received } = await rawSocket();
    await send(socket, clientHello(Buffer.alloc(32, 0xab)));
    await until(() => received.length >= 1);
    expect(server.stats().cookiesInvalid).toBe(1);
    expect(received[0]?.[13]).toBe(3);
    expect(server.stats().sessionsActive).toBe(1);
  });

  it('refuses a certificate chain above the handshake message limit', async () => {
    await setUp({ maxHandshakeMessageBytes: 4096 });
    const failed = waitFor<[DtlsHandshakeFailedEvent]>(server, 'handshakeFailed');
    const padding = Array.from({ length: 12 }, () => pki.der('rogue-ca'));
    await expect(
      connectSensor(pki, port, 'sensor', { extraChain: padding, handshakeTimeoutMs: 5000 }),
    ).rejects.toThrow();
    const [failure] = await failed;
    expect(failure.reason).toBe('messageTooLarge');
    expect(failure.error.code).toBe('EGW_TLS_PROTOCOL');
    expect(server.stats().handshakesFailedByReason.messageTooLarge).toBe(1);
    expect(server.stats().sessionsHandshaking).toBe(0);
  });

  it('times out a handshake that stalls mid-flight and frees its state', async () => {
    await setUp({ handshakeTimeoutMs: 2500 });
    const { socket, received } = await rawSocket();
    await send(socket, clientHello());
    await until(() => received.length >= 1);
    const cookie = cookieOf(received[0] as Buffer);
    const failed = waitFor<[DtlsHandshakeFailedEvent]>(server, 'handshakeFailed');
    await send(socket, clientHello(cookie, 1));
    await until(() => server.stats().sessionsHandshaking === 1 && received.length >= 2);
    const flight = received.length;
    expect(received[1]?.[13]).toBe(2); // ServerHello: the server's flight went out
    // the peer goes silent: the server retransmits its flight, then gives up
    await until(() => received.length > flight);
    const [failure] = await failed;
    expect(failure.reason).toBe('timeout');
    expect(failure.error.code).toBe('EGW_TLS_TIMEOUT');
    const stats = server.stats();
    expect(stats.retransmissions).toBeGreaterThanOrEqual(1);
    expect(stats.sessionsHandshaking).toBe(0);
    expect(stats.sessionsActive).toBe(1);
  });

  it('refuses renegotiation', async () => {
    await setUp();
    const other = await connectSensor(pki, port, 'sensor2');
    const ended = waitFor<[DtlsPeer, string]>(
      server,
      'sessionEnd',
      (peer) => peer.identity.subject === 'CN=sensor2',
    );
    other.renegotiate();
    await until(() => server.stats().renegotiationsRefused >= 1);
    await ended; // the renegotiating client gives up on the refusal and the session ends
    expect(server.stats().renegotiationsRefused).toBe(1);
    expect(server.stats().handshakesStarted).toBe(2);
    other.destroy();
  });

  it('evicts sessions of peers that vanish', async () => {
    await setUp({ idleTimeoutMs: 300 });
    const gone = await connectSensor(pki, port, 'sensor2');
    let evicted = false;
    const ended = waitFor<[DtlsPeer, string]>(server, 'sessionEnd').then((args) => {
      evicted = true;
      return args;
    });
    gone.destroy(); // no close_notify: the sensor lost power
    while (!evicted) await roundTrip(); // the good session stays busy, hence alive
    const [peer, reason] = await ended;
    expect(peer.identity.subject).toBe('CN=sensor2');
    expect(reason).toBe('idle');
    expect(server.stats().sessionsEvictedIdle).toBe(1);
    expect(server.stats().sessionsActive).toBe(1);
  });

  it('refuses new sessions beyond maxSessions', async () => {
    await setUp({ maxSessions: 1 });
    const failed = waitFor<[DtlsHandshakeFailedEvent]>(server, 'handshakeFailed');
    const refused = connectSensor(pki, port, 'sensor2', { handshakeTimeoutMs: 1500 });
    const [failure] = await failed;
    expect(failure.reason).toBe('sessionLimit');
    expect(failure.error.code).toBe('EGW_DTLS_LIMIT');
    await expect(refused).rejects.toThrow();
    expect(server.stats().sessionsRefusedLimit).toBeGreaterThanOrEqual(1);
    expect(server.stats().sessionsActive).toBe(1);
  });
});
