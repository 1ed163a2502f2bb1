import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { CoapDtlsSocket } from '../../../src/tls/dtls/coap-socket.js';
import type { DtlsPeer, DtlsServer } from '../../../src/tls/dtls/dtls-server.js';
import { TlsError } from '../../../src/tls/tls-error.js';

/** A stand-in DtlsServer: records what was sent, has a session only for 192.0.2.1:5000. */
class FakeServer extends EventEmitter {
  sent: Array<[string, number, string]> = [];
  send(address: string, port: number, data: Uint8Array): void {
    if (address !== '192.0.2.1' || port !== 5000) throw new TlsError('EGW_TLS_CLOSED', 'no session');
    this.sent.push([address, port, Buffer.from(data).toString()]);
  }
  address() {
    return { address: '0.0.0.0', port: 5684, family: 'IPv4' };
  }
}

const peer = {
  address: '192.0.2.1',
  port: 5000,
  family: 'IPv4',
  identity: { subject: 'CN=s', leafSha256: 'ab', chain: [] },
  resumed: false,
  cipher: 'x',
} as unknown as DtlsPeer;

function setUp() {
  const server = new FakeServer();
  const socket = new CoapDtlsSocket(server as unknown as DtlsServer);
  return { server, socket };
}

describe('CoapDtlsSocket', () => {
  it('is an EventEmitter that passes instanceof dgram.Socket', () => {
    const { socket } = setUp();
    expect(socket).toBeInstanceOf(EventEmitter);
    expect(socket).toBeInstanceOf(dgram.Socket);
    expect(socket.address()).toEqual({ address: '0.0.0.0', port: 5684, family: 'IPv4' });
    expect(() => (socket as unknown as dgram.Socket).setTTL(3)).toThrow(TlsError);
  });

  it('emits plaintext with rinfo carrying the peer identity', () => {
    const { server, socket } = setUp();
    const seen: unknown[] = [];
    socket.on('message', (data: Buffer, rinfo: unknown) => seen.push([data.toString(), rinfo]));
    server.emit('message', Buffer.from('hi'), peer);
    expect(seen).toEqual([
      [
        'hi',
        {
          address: '192.0.2.1',
          port: 5000,
          family: 'IPv4',
          size: 2,
          identity: peer.identity,
          resumed: false,
        },
      ],
    ]);
  });

  it('sends with both dgram signatures', async () => {
    const { server, socket } = setUp();
    const done = await new Promise((resolve) =>
      socket.send(Buffer.from('xxabcxx'), 2, 3, 5000, '192.0.2.1', (e, n) => resolve([e, n])),
    );
    expect(done).toEqual([null, 3]);
    socket.send(Buffer.from('whole'), 5000, '192.0.2.1');
    expect(server.sent).toEqual([
      ['192.0.2.1', 5000, 'abc'],
      ['192.0.2.1', 5000, 'whole'],
    ]);
  });

  it("routes node-coap's address-less _sendError reply to the peer being dispatched", () => {
    const { server, socket } = setUp();
    socket.on('message', (_data: Buffer, rinfo: { port: number }) => {
      socket.send(Buffer.from('error'), 0, 5, rinfo.port); // what _sendError does
    });
    server.emit('message', Buffer.from('bad'), peer);
    expect(server.sent).toEqual([['192.0.2.1', 5000, 'error']]);
    socket.send(Buffer.from('later'), 0, 5, 5000); // outside a dispatch: no address to use
    expect(socket.undeliverable).toBe(1);
  });

  it('drops datagrams for peers without a session like UDP does, and stops after close', async () => {
    const { server, socket } = setUp();
    const result = await new Promise((resolve) =>
      socket.send(Buffer.from('x'), 0, 1, 9, '192.0.2.9', (e, n) => resolve([e, n])),
    );
    expect(result).toEqual([null, 0]);
    expect(socket.undeliverable).toBe(1);
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.close();
    await closed;
    const seen: unknown[] = [];
    socket.on('message', (data: Buffer) => seen.push(data));
    server.emit('message', Buffer.from('late'), peer);
    expect(seen).toEqual([]);
    expect(server.listenerCount('message')).toBe(0);
  });
});
