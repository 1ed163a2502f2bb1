import dgram from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Pointer } from '../../src/native/openssl/libssl.js';
import { DtlsClient } from '../../src/tls/dtls/dtls-client.js';
import type { DtlsPeer, DtlsServer } from '../../src/tls/dtls/dtls-server.js';
import type { DtlsServerOptions } from '../../src/tls/dtls/dtls-server-options.js';
import { SessionTicketKeys } from '../../src/tls/dtls/session-ticket-keys.js';
import {
  connectSensor,
  cookieOf,
  type DtlsPki,
  makeDtlsPki,
  startDtlsServer,
  until,
  waitFor,
} from '../helpers/dtls-pki.js';

/**
 * The handshake budget under attack (issue 16, items 1 and 2): cookie-less floods cost only
 * HelloVerifyRequests, full handshakes (signatures) are budgeted per source, half-open handshakes are
 * capped, cookies bind their ClientHello, and a replayed ClientHello cannot end a live session.
 */
let pki: DtlsPki;
let server: DtlsServer;
let port: number;
const sockets: dgram.Socket[] = [];
const clients: DtlsClient[] = [];

beforeAll(() => {
  pki = makeDtlsPki();
});

afterAll(() => pki?.remove());

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  for (const client of clients.splice(0)) client.destroy();
  await server?.close();
});

async function setUp(options: Partial<DtlsServerOptions> = {}): Promise<void> {
  ({ server, port } = await startDtlsServer(pki, options));
  server.on('message', (data, peer) => server.send(peer.address, peer.port, data));
}

async function sensor(extra: Parameters<typeof connectSensor>[3] = {}, name = 'sensor'): Promise<DtlsClient> {
  const client = await connectSensor(pki, port, name, extra);
  clients.push(client);
  return client;
}

/** Whether `client` gets its echo back within a ceiling (a lost session never answers). */
async function answers(client: DtlsClient, text: string): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const silence = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), 3000);
  });
  const reply = client.request(Buffer.from(text)).then(
    (data) => data.toString() === text,
    () => false,
  );
  const result = await Promise.race([reply, silence]);
  clearTimeout(timer);
  return result;
}

/** A UDP socket on `address` (a 127.0.0.x of the loopback), with what it receives. */
async function udp(address = '127.0.0.1'): Promise<{ socket: dgram.Socket; received: Buffer[] }> {
  const socket = dgram.createSocket('udp4');
  sockets.push(socket);
  const received: Buffer[] = [];
  socket.on('message', (message) => received.push(message));
  await new Promise<void>((resolve) => socket.bind(0, address, () => resolve()));
  return { socket, received };
}

function sendTo(socket: dgram.Socket, datagram: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.send(datagram, port, '127.0.0.1', (error) => (error ? reject(error) : resolve())),
  );
}

/**
 * A real ClientHello, as DtlsClient sends it (its first datagram), with the random set to `random`
 * (the bytes of a sensor's handshake, so the flood is what a hostile copy of a sensor would send).
 */
async function capturedClientHello(resume?: Pointer): Promise<Buffer> {
  const trap = await udp();
  const target = trap.socket.address().port;
  const attempt = DtlsClient.connect({
    host: '127.0.0.1',
    port: target,
    ca: [pki.der('ca')],
    certificateChain: [pki.der('sensor')],
    privateKey: pki.key('sensor'),
    handshakeTimeoutMs: 1000,
    ...(resume ? { resume } : {}),
  }).catch(() => undefined);
  await until(() => trap.received.length >= 1);
  await attempt;
  return Buffer.from(trap.received[0] as Buffer);
}

/** `hello` (an epoch-0 ClientHello datagram, no cookie) with another random and with `cookie`. */
function withCookie(hello: Buffer, random: number, cookie: Buffer = Buffer.alloc(0)): Buffer {
  const body = 13 + 12;
  const sessionIdLength = hello[body + 34] as number;
  const cookieAt = body + 35 + sessionIdLength;
  const oldCookieLength = hello[cookieAt] as number;
  const out = Buffer.concat([
    hello.subarray(0, cookieAt),
    Buffer.from([cookie.length]),
    cookie,
    hello.subarray(cookieAt + 1 + oldCookieLength),
  ]);
  out.fill(random & 0xff, body + 2, body + 34);
  out.writeUInt32BE(random, body + 2);
  const delta = cookie.length - oldCookieLength;
  out.writeUInt16BE(hello.readUInt16BE(11) + delta, 11);
  out.writeUIntBE(hello.readUIntBE(13 + 1, 3) + delta, 13 + 1, 3);
  out.writeUIntBE(hello.readUIntBE(13 + 9, 3) + delta, 13 + 9, 3);
  out.writeUInt16BE(cookie.length > 0 ? 1 : 0, 13 + 4); // message_seq 1 answers a HelloVerifyRequest
  return out;
}

/** `hello` with the last byte of its session ticket (RFC 5077 extension 35, in its HMAC) flipped. */
function withTicketForged(hello: Buffer): Buffer {
  const out = Buffer.from(hello);
  const body = 13 + 12;
  let at = body + 34;
  at += 1 + (out[at] as number); // session id
  at += 1 + (out[at] as number); // cookie
  at += 2 + out.readUInt16BE(at); // cipher suites
  at += 1 + (out[at] as number); // compression methods
  const end = at + 2 + out.readUInt16BE(at);
  for (at += 2; at + 4 <= end; at += 4 + out.readUInt16BE(at + 2)) {
    const length = out.readUInt16BE(at + 2);
    if (out.readUInt16BE(at) === 35 && length > 0) {
      out[at + 4 + length - 1] = (out[at + 4 + length - 1] as number) ^ 0xff;
      return out;
    }
  }
  throw new Error('no session ticket in the ClientHello');
}

/**
 * ServerKeyExchanges (handshake type 12) among `received`: one per signature the server made (counted
 * by their signed bytes, so a retransmitted flight is not a new signature).
 */
function signaturesIn(received: Buffer[]): number {
  const signed = new Set<string>();
  for (const datagram of received) {
    let offset = 0;
    while (offset + 13 <= datagram.length) {
      const length = datagram.readUInt16BE(offset + 11);
      if (datagram[offset] === 22 && datagram.readUInt16BE(offset + 3) === 0 && datagram[offset + 13] === 12)
        signed.add(datagram.subarray(offset + 13, offset + 13 + length).toString('hex'));
      offset += 13 + length;
    }
  }
  return signed.size;
}

/**
 * Abandoned full handshakes from one address: a fresh ClientHello per attempt from a new source port,
 * its cookie, then silence after the server's flight. Returns the sockets' received datagrams.
 */
async function abandonedHandshakes(
  hello: Buffer,
  attempts: number,
  address = '127.0.0.1',
): Promise<Buffer[]> {
  const received: Buffer[] = [];
  for (let i = 0; i < attempts; i++) {
    const raw = await udp(address);
    await sendTo(raw.socket, withCookie(hello, 1000 + i));
    await until(() => raw.received.length >= 1);
    const before = server.stats().clientHellos;
    await sendTo(raw.socket, withCookie(hello, 1000 + i, cookieOf(raw.received[0] as Buffer)));
    await until(() => server.stats().clientHellos > before);
    // the server's flight, if it started a handshake, is out synchronously; give the socket a moment
    await new Promise((resolve) => setTimeout(resolve, 20));
    received.push(...raw.received.slice(1));
  }
  return received;
}

describe('DTLS handshake budget', () => {
  it('a cookie-less ClientHello flood from many addresses does not spend the budget a sensor needs', async () => {
    // the signature budget of a slow signer (a TPM, say): 20 full handshakes a second
    await setUp({ handshakeRate: { global: { ratePerSecond: 20, burst: 20 } } });
    const hello = await capturedClientHello();
    // 40 source addresses, 2 ports each: more than the per-address buckets of a ClientHello limiter
    const flooders = await Promise.all(Array.from({ length: 80 }, (_, i) => udp(`127.0.0.${2 + (i % 40)}`)));
    const flood = Array.from({ length: 256 }, (_, i) => withCookie(hello, i));
    let sent = 0;
    let flooding = true;
    const flooder = (async () => {
      while (flooding) {
        // a few at a time, every turn of the loop: a steady stream, as a load generator sends it
        for (let i = 0; i < 4; i++) {
          const { socket } = flooders[sent % flooders.length] as { socket: dgram.Socket };
          socket.send(flood[sent % flood.length] as Buffer, port, '127.0.0.1');
          sent++;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await until(() => server.stats().clientHellos >= 2000);
    let completed = 0;
    try {
      for (let i = 0; i < 5; i++) {
        const client = await connectSensor(pki, port, 'sensor', { handshakeTimeoutMs: 6000 }).catch(
          () => undefined,
        );
        if (!client) continue;
        clients.push(client);
        if (await answers(client, `during the flood ${i}`)) completed++;
        client.close();
      }
    } finally {
      flooding = false;
      await flooder;
    }
    expect(completed).toBe(5);
    const stats = server.stats();
    expect(stats.handshakesCompleted).toBe(5);
    expect(stats.handshakesRateLimited).toBe(0);
    expect(stats.sessionsHandshaking).toBe(0); // the flood left no state behind
    expect(sent).toBeGreaterThan(2000);
  });

  it('one address cannot make the server sign beyond its per-address budget', async () => {
    // an ATECC608A-like signer: the default per-address budget is a quarter of 80 % of it
    await setUp({ signaturesPerSecond: 8 });
    const hello = await capturedClientHello();
    const started = performance.now();
    const received = await abandonedHandshakes(hello, 12);
    const elapsedSeconds = (performance.now() - started) / 1000;
    const { perAddress } = server.handshakeLimits();
    expect(perAddress.ratePerSecond).toBeLessThan(8);
    // what the bucket allows over the time the attempts took, whatever that was
    const allowed = perAddress.burst + Math.ceil(perAddress.ratePerSecond * elapsedSeconds);
    const signatures = signaturesIn(received);
    expect(signatures).toBeGreaterThanOrEqual(1);
    expect(signatures).toBeLessThanOrEqual(allowed);
    expect(signatures).toBeLessThan(12);
    expect(server.stats().signatures).toBe(signatures);
    expect(server.stats().signaturesRefusedPerAddress).toBe(12 - signatures);
  });

  it('still resumes a sensor whose address has spent its signature budget (no signature needed)', async () => {
    await setUp({ handshakeRate: { perAddress: { ratePerSecond: 0.01, burst: 1 } } });
    const first = await sensor();
    const saved = first.saveSession();
    first.close();
    const hello = await capturedClientHello();
    await abandonedHandshakes(hello, 2); // the budget of 127.0.0.1 is spent
    expect(server.stats().signaturesRefusedPerAddress).toBe(2);
    try {
      const resumed = await sensor({ resume: saved, handshakeTimeoutMs: 6000 });
      expect(resumed.resumed).toBe(true);
      expect(await answers(resumed, 'resumed')).toBe(true);
    } finally {
      DtlsClient.freeSession(saved);
    }
    expect(server.stats().signatures).toBe(1);
  });

  it('caps half-open handshakes per address', async () => {
    await setUp({
      handshakeRate: { perAddress: { ratePerSecond: 1000, burst: 1000 } },
      halfOpen: { perAddress: 2 },
    });
    const hello = await capturedClientHello();
    await abandonedHandshakes(hello, 5);
    const stats = server.stats();
    expect(stats.sessionsHandshaking).toBe(2);
    expect(stats.halfOpenRefusedPerAddress).toBe(3);
    // another address is not affected
    await abandonedHandshakes(hello, 1, '127.0.0.2');
    expect(server.stats().sessionsHandshaking).toBe(3);
  });

  it('valid-ticket resumptions have their own half-open allowance; forged tickets still meet the cap for signed handshakes', async () => {
    await setUp({
      sessionTickets: new SessionTicketKeys({ lifetimeSeconds: 3600 }),
      handshakeRate: { perAddress: { ratePerSecond: 1000, burst: 1000 } },
      halfOpen: { perAddress: 100, global: 2, resumptions: 6 },
    });
    const first = await sensor();
    const saved = first.saveSession();
    try {
      const resuming = await capturedClientHello(saved);
      // more valid resumptions than the cap for signed handshakes: all admitted (a restart's fleet)
      await abandonedHandshakes(resuming, 5);
      expect(server.stats()).toMatchObject({ sessionsHandshaking: 5, halfOpenRefusedGlobal: 0 });
      // a forged ticket is a full handshake: the signed cap (2) admits two, refuses the third
      await abandonedHandshakes(withTicketForged(resuming), 3);
      expect(server.stats()).toMatchObject({ sessionsHandshaking: 7, halfOpenRefusedGlobal: 1 });
      // and a flood of valid resumptions is bounded by its own allowance (6)
      await abandonedHandshakes(resuming, 3);
      expect(server.stats()).toMatchObject({ sessionsHandshaking: 8, halfOpenRefusedGlobal: 3 });
      expect(server.handshakeLimits()).toMatchObject({ halfOpenGlobal: 2, halfOpenResumptions: 6 });
    } finally {
      DtlsClient.freeSession(saved);
    }
  });
});

describe('DTLS cookies', () => {
  it('refuses a cookie with another ClientHello than the one it was made for', async () => {
    await setUp();
    const hello = await capturedClientHello();
    const raw = await udp();
    await sendTo(raw.socket, withCookie(hello, 1));
    await until(() => raw.received.length >= 1);
    const cookie = cookieOf(raw.received[0] as Buffer);
    await sendTo(raw.socket, withCookie(hello, 2, cookie)); // same address and port, another random
    await until(() => raw.received.length >= 2);
    expect(raw.received[1]?.[13]).toBe(3); // a fresh HelloVerifyRequest, not a ServerHello
    expect(server.stats().cookiesInvalid).toBe(1);
    expect(server.stats().handshakesStarted).toBe(0);
    await sendTo(raw.socket, withCookie(hello, 1, cookie)); // the right one
    await until(() => server.stats().handshakesStarted === 1);
  });

  it('refuses a cookie after its lifetime', async () => {
    await setUp({ cookieLifetimeMs: 1000 });
    const hello = await capturedClientHello();
    const raw = await udp();
    await sendTo(raw.socket, withCookie(hello, 1));
    await until(() => raw.received.length >= 1);
    const cookie = cookieOf(raw.received[0] as Buffer);
    await new Promise((resolve) => setTimeout(resolve, 2100)); // past its slot and the next
    await sendTo(raw.socket, withCookie(hello, 1, cookie));
    await until(() => raw.received.length >= 2);
    expect(raw.received[1]?.[13]).toBe(3);
    expect(server.stats().cookiesInvalid).toBe(1);
    expect(server.stats().handshakesStarted).toBe(0);
  });
});

/**
 * A UDP relay between a sensor and the server, as an on-path attacker sees the traffic: the server
 * sees every client behind it at the relay's one address and port, the relay keeps every datagram the
 * client sent, and can inject its own.
 */
async function relay(): Promise<{
  port: number;
  fromClient: Buffer[];
  fromServer: Buffer[];
  inject(datagram: Buffer): Promise<void>;
}> {
  const front = (await udp()).socket;
  const back = await udp();
  const fromClient: Buffer[] = [];
  let injecting = false;
  let client: { address: string; port: number } | undefined;
  front.on('message', (message, rinfo) => {
    client = { address: rinfo.address, port: rinfo.port };
    injecting = false;
    fromClient.push(Buffer.from(message));
    back.socket.send(message, port, '127.0.0.1');
  });
  back.socket.on('message', (message) => {
    // epoch-0 answers to what the relay injected itself stay here
    const epoch = message.readUInt16BE(3);
    if (client && !(injecting && epoch === 0)) front.send(message, client.port, client.address);
  });
  return {
    port: front.address().port,
    fromClient,
    fromServer: back.received,
    inject: (datagram) => {
      injecting = true;
      return sendTo(back.socket, datagram);
    },
  };
}

function connectVia(relayPort: number, name = 'sensor'): Promise<DtlsClient> {
  return DtlsClient.connect({
    host: '127.0.0.1',
    port: relayPort,
    ca: [pki.der('ca')],
    certificateChain: [pki.der(name)],
    privateKey: pki.key(name),
    handshakeTimeoutMs: 6000,
  });
}

describe('DTLS cookie replay (RFC 6347 §4.2.8)', () => {
  it('a replayed ClientHello with its valid cookie does not end the live session', async () => {
    await setUp();
    const path = await relay();
    const live = await connectVia(path.port);
    clients.push(live);
    expect(await answers(live, 'before')).toBe(true);
    // the sensor's second ClientHello, the one with the cookie
    const replay = path.fromClient.find(
      (datagram) => datagram[13] === 1 && (cookieOfHello(datagram)?.length ?? 0) > 0,
    );
    expect(replay).toBeDefined();
    await path.inject(replay as Buffer);
    await until(() => server.stats().clientHellos >= 3);
    expect(await answers(live, 'after the replay')).toBe(true);
    expect(server.stats().sessionsReplaced).toBe(0);
    expect(server.stats().cookiesReplayed).toBe(1);
    expect(server.stats().signatures).toBe(1);
  });

  it('a new handshake from the same address and port replaces the session only once it completes', async () => {
    await setUp();
    const path = await relay();
    const live = await connectVia(path.port);
    clients.push(live);
    // a new handshake from the session's address and port that never completes (a rebooted sensor
    // that gave up, or anyone able to receive there): cookie valid, then silence
    const hello = await capturedClientHello();
    const seen = path.fromServer.length;
    await path.inject(withCookie(hello, 77));
    const isVerify = (datagram: Buffer) => datagram[13] === 3;
    await until(() => path.fromServer.slice(seen).some(isVerify));
    const verify = path.fromServer.slice(seen).find(isVerify) as Buffer;
    await path.inject(withCookie(hello, 77, cookieOf(verify)));
    await until(() => server.stats().handshakesStarted === 2);
    expect(server.stats().sessionsHandshaking).toBe(1);
    expect(await answers(live, 'while another handshake is pending')).toBe(true);
    expect(server.stats().sessionsReplaced).toBe(0);
    // a genuinely new sensor behind the same address and port completes: now it replaces the old one
    const ended = waitFor<[DtlsPeer, string]>(server, 'sessionEnd');
    const fresh = await connectVia(path.port, 'sensor2');
    clients.push(fresh);
    const [old, reason] = await ended;
    expect(reason).toBe('replaced');
    expect(old.identity.subject).toBe('CN=sensor');
    expect(await answers(fresh, 'the new session')).toBe(true);
    expect(server.peers().map((peer) => peer.identity.subject)).toEqual(['CN=sensor2']);
    expect(server.stats().sessionsReplaced).toBe(1);
  });
});

/** The cookie of a ClientHello datagram (undefined if it is none). */
function cookieOfHello(datagram: Buffer): Buffer | undefined {
  if (datagram[0] !== 22 || datagram[13] !== 1) return undefined;
  const sessionIdLength = datagram[13 + 12 + 34] as number;
  const at = 13 + 12 + 35 + sessionIdLength;
  return datagram.subarray(at + 1, at + 1 + (datagram[at] as number));
}
