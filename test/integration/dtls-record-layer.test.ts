import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DtlsPeer } from '../../src/tls/dtls/dtls-server.js';
import {
  connectSensor,
  type DtlsPki,
  makeDtlsPki,
  startDtlsServer,
  until,
  waitFor,
} from '../helpers/dtls-pki.js';

/**
 * The JS record layer of established server sessions (src/tls/dtls/record-layer), against OpenSSL's
 * own DTLS client on the other side: every AEAD suite in both directions, replayed and forged records,
 * a lost final flight, and the OpenSSL record layer kept as an option.
 */

let pki: DtlsPki;

beforeAll(() => {
  pki = makeDtlsPki();
});

afterAll(() => pki?.remove());

async function echoServer(options: Parameters<typeof startDtlsServer>[1] = {}) {
  const started = await startDtlsServer(pki, options);
  started.server.on('message', (data, peer) =>
    started.server.send(peer.address, peer.port, Buffer.concat([Buffer.from('echo:'), data])),
  );
  return started;
}

/** A UDP relay between one client and the server that can drop or copy datagrams in either direction. */
async function startRelay(serverPort: number) {
  const front = dgram.createSocket('udp4');
  const back = dgram.createSocket('udp4');
  let client: { address: string; port: number } | undefined;
  const relay = {
    port: 0,
    fromClient: [] as Buffer[],
    dropFromServer: (_datagram: Buffer) => false,
    dropped: 0,
    /** Sends `datagram` to the server as if the client sent it. */
    inject: (datagram: Buffer) => back.send(datagram, serverPort, '127.0.0.1'),
    close: () => {
      front.close();
      back.close();
    },
  };
  front.on('message', (datagram, rinfo) => {
    client = { address: rinfo.address, port: rinfo.port };
    relay.fromClient.push(datagram);
    back.send(datagram, serverPort, '127.0.0.1');
  });
  back.on('message', (datagram) => {
    if (relay.dropFromServer(datagram)) {
      relay.dropped++;
      return;
    }
    if (client) front.send(datagram, client.port, client.address);
  });
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => back.bind(0, '127.0.0.1', resolve));
  relay.port = front.address().port;
  return relay;
}

/** True when a datagram holds a ChangeCipherSpec record (the server's final flight). */
function holdsChangeCipherSpec(datagram: Buffer): boolean {
  for (let offset = 0; offset + 13 <= datagram.length; offset += 13 + datagram.readUInt16BE(offset + 11)) {
    if (datagram[offset] === 20) return true;
  }
  return false;
}

describe('DTLS JS record layer', () => {
  for (const cipher of [
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-AES128-CCM8',
    'ECDHE-ECDSA-AES256-CCM8',
    'ECDHE-ECDSA-AES128-CCM',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
  ]) {
    it(`carries ${cipher} records both ways once OpenSSL is freed`, async () => {
      const { server, port } = await echoServer({ ciphers: cipher });
      try {
        const sessions = waitFor<[DtlsPeer]>(server, 'session');
        const client = await connectSensor(pki, port, 'sensor', { ciphers: cipher });
        const [peer] = await sessions;
        expect(peer.cipher).toBe(cipher);
        for (const size of [1, 100, 1100]) {
          const payload = Buffer.alloc(size, size % 251);
          const reply = await client.request(payload);
          expect(reply.equals(Buffer.concat([Buffer.from('echo:'), payload]))).toBe(true);
        }
        expect(server.stats().sessionsOnJsRecordLayer).toBe(1);
        expect(server.stats().recordsRejected).toBe(0);
        const ended = waitFor<[DtlsPeer, string]>(server, 'sessionEnd');
        client.close(); // close_notify, decrypted by JS
        expect((await ended)[1]).toBe('closedByPeer');
      } finally {
        await server.close();
      }
    });
  }

  it("keeps OpenSSL's record layer with recordLayer: 'openssl'", async () => {
    const { server, port } = await echoServer({ recordLayer: 'openssl' });
    try {
      const client = await connectSensor(pki, port);
      expect((await client.request(Buffer.from('x'))).toString()).toBe('echo:x');
      expect(server.stats().sessionsEstablished).toBe(1);
      expect(server.stats().sessionsOnJsRecordLayer).toBe(0);
      client.close();
    } finally {
      await server.close();
    }
  });

  it('drops replayed and forged records, counts them, and the session goes on', async () => {
    const { server, port } = await echoServer();
    const relay = await startRelay(port);
    try {
      const client = await connectSensor(pki, relay.port);
      const messages: string[] = [];
      server.on('message', (data) => messages.push(data.toString()));
      expect((await client.request(Buffer.from('once'))).toString()).toBe('echo:once');
      const recorded = relay.fromClient.at(-1) as Buffer;
      relay.inject(recorded); // the same record again
      const forged = Buffer.from(recorded);
      forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1;
      forged[10] = (forged[10] as number) + 1; // a fresh sequence number, so only the tag can refuse it
      relay.inject(forged);
      await until(() => server.stats().recordsRejected === 2);
      expect((await client.request(Buffer.from('twice'))).toString()).toBe('echo:twice');
      expect(messages).toEqual(['once', 'twice']);
      expect(server.stats().sessionsOnJsRecordLayer).toBe(1);
      client.close();
    } finally {
      relay.close();
      await server.close();
    }
  });

  it('answers a repeated client flight when our final flight was lost', async () => {
    const { server, port } = await echoServer();
    const relay = await startRelay(port);
    let droppedOnce = false;
    relay.dropFromServer = (datagram) => {
      if (droppedOnce || !holdsChangeCipherSpec(datagram)) return false;
      droppedOnce = true;
      return true;
    };
    try {
      const sessions = waitFor<[DtlsPeer]>(server, 'session');
      const connecting = connectSensor(pki, relay.port);
      await sessions;
      // The server finished (and freed its SSL) when it sent the flight the relay dropped.
      await until(() => server.stats().sessionsOnJsRecordLayer === 1);
      const client = await connecting; // completes only with the flight the RecordChannel resends
      expect(relay.dropped).toBe(1);
      expect(server.stats().retransmissions).toBeGreaterThanOrEqual(1);
      expect((await client.request(Buffer.from('after loss'))).toString()).toBe('echo:after loss');
      client.close();
    } finally {
      relay.close();
      await server.close();
    }
  });
});
