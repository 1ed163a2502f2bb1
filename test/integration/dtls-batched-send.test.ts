import dgram from 'node:dgram';
import { constants } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type UdpSyscalls, udpSyscalls } from '../../src/native/libc/index.js';
import { DatagramBatchSender, type DatagramDestination } from '../../src/tls/dtls/datagram-batch-sender.js';
import type { TlsError } from '../../src/tls/tls-error.js';
import { connectSensor, type DtlsPki, makeDtlsPki, startDtlsServer, until } from '../helpers/dtls-pki.js';

/**
 * The DTLS socket's batched send path (sendmmsg per event-loop turn, datagram-batch-sender.ts), on
 * real UDP sockets: nothing lost or reordered per peer, the fallback to node:dgram when the kernel
 * says EAGAIN (injected: over loopback the kernel never does, it drops at the receiver instead),
 * refused datagrams counted and never thrown, and the DTLS server answering many sessions with
 * several records each per turn.
 */
const sockets: dgram.Socket[] = [];

async function bound(
  type: 'udp4' | 'udp6' = 'udp4',
  host = type === 'udp4' ? '127.0.0.1' : '::1',
): Promise<dgram.Socket> {
  const socket = dgram.createSocket(type);
  sockets.push(socket);
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  return socket;
}

/** `count` receivers on loopback that record each datagram's text. */
async function receivers(count: number, type: 'udp4' | 'udp6' = 'udp4') {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const socket = await bound(type);
      const got: string[] = [];
      socket.on('message', (datagram) => got.push(datagram.toString()));
      const to: DatagramDestination = {
        address: type === 'udp4' ? '127.0.0.1' : '::1',
        port: socket.address().port,
      };
      return { to, got };
    }),
  );
}

/** Sends `perPeer` numbered datagrams to each peer, interleaved, in one turn; each peer gets its own in order. */
async function sendInOneTurnAndExpectOrder(
  sender: DatagramBatchSender,
  peers: Awaited<ReturnType<typeof receivers>>,
  perPeer: number,
): Promise<void> {
  for (let i = 0; i < perPeer; i++) {
    for (const [p, peer] of peers.entries()) sender.send(Buffer.from(`${p}:${i}`), peer.to);
  }
  await until(() => peers.every((peer) => peer.got.length === perPeer));
  for (const [p, peer] of peers.entries()) {
    expect(peer.got).toEqual(Array.from({ length: perPeer }, (_, i) => `${p}:${i}`));
  }
}

function collectFailures() {
  const failures: TlsError[] = [];
  return { failures, failed: (error: TlsError) => failures.push(error) };
}

afterEach(async () => {
  await Promise.all(
    sockets.splice(0).map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))),
  );
});

describe('DatagramBatchSender', () => {
  it('sends every datagram of a turn, in order per peer, many peers and more than one batch', async () => {
    const peers = await receivers(16);
    const sender = new DatagramBatchSender(await bound(), collectFailures());
    const perPeer = 25; // 400 datagrams in one turn: several full batches, then the check-phase flush
    await sendInOneTurnAndExpectOrder(sender, peers, perPeer);
    const stats = sender.stats();
    expect(stats.batched).toBe(16 * perPeer);
    expect(stats.viaSocket).toBe(0);
    expect(stats.batches).toBeLessThan((16 * perPeer) / 8); // batched, not one call per datagram
    sender.close();
  });

  it('on an IPv6 socket, sends to IPv6 and IPv4-mapped peers alike', async () => {
    const v6 = await receivers(2, 'udp6');
    const dual = await bound('udp6', '::'); // dual-stack
    const mapped: string[] = [];
    const v4 = await bound('udp4');
    v4.on('message', (datagram) => mapped.push(datagram.toString()));
    // A dual-stack socket sees IPv4 peers as ::ffff:a.b.c.d, or as the plain text when told so.
    const to4: DatagramDestination = { address: '127.0.0.1', port: v4.address().port };
    const sender = new DatagramBatchSender(dual, collectFailures());
    for (let i = 0; i < 5; i++) {
      for (const peer of v6) sender.send(Buffer.from(`v6:${i}`), peer.to);
      sender.send(Buffer.from(`v4:${i}`), to4);
    }
    await until(() => mapped.length === 5 && v6.every((peer) => peer.got.length === 5));
    expect(mapped).toEqual(['v4:0', 'v4:1', 'v4:2', 'v4:3', 'v4:4']);
    for (const peer of v6) expect(peer.got).toEqual(['v6:0', 'v6:1', 'v6:2', 'v6:3', 'v6:4']);
    expect(sender.stats().viaSocket).toBe(0);
    sender.close();
  });

  it('after EAGAIN part-way, sends the rest through node:dgram and keeps later batches behind it', async () => {
    const real = udpSyscalls() as UdpSyscalls;
    expect(real).not.toBeNull();
    let calls = 0;
    let fakeErrno = 0;
    // The first sendmmsg takes 10 datagrams, the next one finds the socket buffer full.
    const syscalls: UdpSyscalls = {
      ...real,
      sendmmsg: (fd, vector, count, flags) => {
        calls++;
        fakeErrno = 0;
        if (calls === 1) return real.sendmmsg(fd, vector, Math.min(count, 10), flags);
        if (calls === 2) {
          fakeErrno = constants.errno.EAGAIN;
          return -1;
        }
        return real.sendmmsg(fd, vector, count, flags);
      },
      errno: () => (fakeErrno !== 0 ? fakeErrno : real.errno()),
    };
    const peers = await receivers(4);
    const { failures, failed } = collectFailures();
    const sender = new DatagramBatchSender(await bound(), { failed, syscalls });
    const perPeer = 60; // 240 in this turn: the first batch meets EAGAIN, the next ones follow at once
    await sendInOneTurnAndExpectOrder(sender, peers, perPeer);
    const stats = sender.stats();
    expect(stats.batched).toBeGreaterThanOrEqual(10);
    expect(stats.viaSocket).toBeGreaterThan(0);
    expect(stats.batched + stats.viaSocket).toBe(4 * perPeer);
    expect(failures).toEqual([]);
    // Once node:dgram has sent its share, batches resume.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = sender.stats().batched;
    sender.send(Buffer.from('0:again'), (peers[0] as (typeof peers)[number]).to);
    sender.flush();
    expect(sender.stats().batched).toBe(before + 1);
    await until(() => peers[0]?.got.at(-1) === '0:again');
    sender.close();
  });

  it('counts a datagram the kernel or node:dgram refuses, throws nothing, and sends the others', async () => {
    const [peer] = await receivers(1);
    const to = (peer as NonNullable<typeof peer>).to;
    const { failures, failed } = collectFailures();
    const sender = new DatagramBatchSender(await bound(), { failed });
    expect(() => {
      sender.send(Buffer.from('a'), to);
      sender.send(Buffer.from('port 0'), { address: '127.0.0.1', port: 0 }); // EINVAL
      sender.send(Buffer.from('b'), to);
      sender.send(Buffer.from('broadcast'), { address: '255.255.255.255', port: to.port }); // EACCES
      sender.send(Buffer.from('c'), to);
      sender.send(Buffer.from('ipv6 on udp4'), { address: '::1', port: to.port }); // node:dgram's error
      sender.send(Buffer.from('d'), to);
      sender.flush();
    }).not.toThrow();
    await until(() => (peer?.got.length ?? 0) === 4 && failures.length === 3);
    expect(peer?.got).toEqual(['a', 'b', 'c', 'd']);
    expect(failures.map((failure) => failure.code)).toEqual([
      'EGW_DTLS_SEND',
      'EGW_DTLS_SEND',
      'EGW_DTLS_SEND',
    ]);
    expect(failures[0]?.message).toContain('127.0.0.1:0: EINVAL');
    expect(failures[1]?.message).toContain('255.255.255.255');
    expect(sender.stats().failures).toBe(3);
    sender.close();
  });
  it('writes nothing to the descriptor of a socket closed with datagrams queued (counted instead)', async () => {
    const [peer] = await receivers(1);
    const to = (peer as NonNullable<typeof peer>).to;
    const socket = await bound();
    const { failures, failed } = collectFailures();
    const sender = new DatagramBatchSender(socket, { failed });
    sender.send(Buffer.from('before'), to);
    sender.flush();
    sender.send(Buffer.from('queued 1'), to);
    sender.send(Buffer.from('queued 2'), to);
    sockets.splice(sockets.indexOf(socket), 1);
    socket.close();
    // A socket opened now may get the closed one's descriptor number: it must not send for us.
    const reused = await receivers(1);
    expect(() => sender.flush()).not.toThrow();
    await until(() => failures.length === 2);
    expect(failures.map((failure) => failure.code)).toEqual(['EGW_DTLS_SEND', 'EGW_DTLS_SEND']);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(peer?.got).toEqual(['before']);
    expect(reused[0]?.got).toEqual([]);
    sender.close();
  });
});

describe('DTLS server sending in batches', () => {
  let pki: DtlsPki;
  beforeAll(() => {
    pki = makeDtlsPki();
  });
  afterAll(() => pki?.remove());

  it('answers many sessions with several records each per turn: every record arrives, in order per session', async () => {
    const { server, port } = await startDtlsServer(pki);
    // Each message is answered with three records, numbered.
    server.on('message', (data, peer) => {
      for (let part = 0; part < 3; part++)
        server.send(peer.address, peer.port, Buffer.from(`${data}/${part}`));
    });
    const clients = await Promise.all(Array.from({ length: 8 }, () => connectSensor(pki, port)));
    const got = clients.map(() => [] as string[]);
    for (const [c, client] of clients.entries())
      client.on('message', (data) => got[c]?.push(data.toString()));
    const perClient = 20;
    // All requests of all sessions written back to back: the server reads many per turn.
    for (let i = 0; i < perClient; i++)
      for (const [c, client] of clients.entries()) client.send(Buffer.from(`${c}.${i}`));
    await until(() => got.every((records) => records.length === perClient * 3));
    for (const [c, records] of got.entries()) {
      const expected: string[] = [];
      for (let i = 0; i < perClient; i++)
        for (let part = 0; part < 3; part++) expected.push(`${c}.${i}/${part}`);
      expect(records).toEqual(expected);
    }
    expect(server.stats().sendErrors).toBe(0);
    for (const client of clients) client.close();
    await server.close();
  });

  it('close() sends every session its close_notify before the socket closes', async () => {
    const { server, port } = await startDtlsServer(pki);
    const clients = await Promise.all(Array.from({ length: 4 }, () => connectSensor(pki, port)));
    const ended = clients.map((client) => new Promise((resolve) => client.once('close', resolve)));
    await server.close();
    expect(await Promise.all(ended)).toEqual([
      'closedByPeer',
      'closedByPeer',
      'closedByPeer',
      'closedByPeer',
    ]);
  });
});
