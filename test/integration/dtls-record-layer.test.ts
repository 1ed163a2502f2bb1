import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DtlsClient } from '../../src/tls/dtls/dtls-client.js';
import { scanDtlsRecords } from '../../src/tls/dtls/dtls-record-scanner.js';
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
    /** What goes on to the server for a datagram of the client (default: the datagram itself). */
    passFromClient: (datagram: Buffer): Buffer[] => [datagram],
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
    for (const passed of relay.passFromClient(datagram)) back.send(passed, serverPort, '127.0.0.1');
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

/** An epoch-1 application-data record at `sequence` that nobody holding the keys made. */
function forgedRecord(sequence: number): Buffer {
  const record = Buffer.alloc(13 + 40, 0x5a);
  record[0] = 23;
  record.writeUInt16BE(0xfefd, 1);
  record.writeUInt16BE(1, 3);
  record.writeUIntBE(sequence, 5, 6);
  record.writeUInt16BE(40, 11);
  return record;
}

/** A client's datagram with its first record's version field set to `version`. */
function withVersion(datagram: Buffer, version: number): Buffer {
  const changed = Buffer.from(datagram);
  changed.writeUInt16BE(version, 1);
  return changed;
}

describe('DTLS JS record layer', () => {
  for (const cipher of [
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-AES128-CCM8',
    'ECDHE-ECDSA-AES256-CCM8',
    'ECDHE-ECDSA-AES128-CCM',
    'ECDHE-ECDSA-AES256-CCM',
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

  it('a forged record at sequence 2^48-1 in the flight that completes the handshake does not wedge the session', async () => {
    const { server, port } = await echoServer();
    const relay = await startRelay(port);
    // The client's final flight (its ChangeCipherSpec and Finished) completes the handshake.
    relay.passFromClient = (datagram) =>
      holdsChangeCipherSpec(datagram) ? [Buffer.concat([datagram, forgedRecord(2 ** 48 - 1)])] : [datagram];
    try {
      const client = await connectSensor(pki, relay.port);
      await until(() => server.stats().sessionsOnJsRecordLayer === 1);
      relay.passFromClient = (datagram) => [datagram];
      const messages: string[] = [];
      server.on('message', (data) => messages.push(data.toString()));
      client.send(Buffer.from('first'));
      await until(() => messages.length === 1 || server.stats().recordsRejected > 0);
      expect(server.stats().recordsRejectedByReason).toEqual({});
      expect((await client.request(Buffer.from('second'))).toString()).toBe('echo:second');
      expect(messages).toEqual(['first', 'second']);
      client.close();
    } finally {
      relay.close();
      await server.close();
    }
  });

  it('accepts reordered records within the window, numbers a forged record claimed included', async () => {
    const { server, port } = await echoServer();
    const relay = await startRelay(port);
    // Forged records in the completing flight claim the numbers the client writes next (1, 2, 3).
    const claims = Buffer.concat([1, 2, 3].map(forgedRecord));
    relay.passFromClient = (datagram) =>
      holdsChangeCipherSpec(datagram) ? [Buffer.concat([datagram, claims])] : [datagram];
    try {
      const client = await connectSensor(pki, relay.port);
      await until(() => server.stats().sessionsOnJsRecordLayer === 1);
      const messages: string[] = [];
      server.on('message', (data) => messages.push(data.toString()));
      const held: Buffer[] = [];
      relay.passFromClient = (datagram) => {
        held.push(datagram);
        return held.length === 3 ? ([held[2], held[0], held[1]] as Buffer[]) : [];
      };
      for (const text of ['one', 'two', 'three']) client.send(Buffer.from(text));
      await until(() => messages.length === 3 || server.stats().recordsRejected > 0);
      expect(messages).toEqual(['three', 'one', 'two']);
      expect(server.stats().recordsRejected).toBe(0);
      client.close();
    } finally {
      relay.close();
      await server.close();
    }
  });

  it('drops and counts the replay of a record OpenSSL read before the handover, outside the completing datagram', async () => {
    const { server, port } = await echoServer();
    const first = await connectSensor(pki, port);
    const session = first.saveSession();
    first.close();
    const relay = await startRelay(port);
    // Resumed: the client's ChangeCipherSpec and Finished come last. Held back, so its first
    // application record reaches OpenSSL before them (OpenSSL keeps it for the next epoch).
    let finalFlight: Buffer | undefined;
    relay.passFromClient = (datagram) => {
      if (holdsChangeCipherSpec(datagram)) {
        finalFlight = datagram;
        return [];
      }
      return [datagram];
    };
    try {
      const messages: string[] = [];
      server.on('message', (data) => messages.push(data.toString()));
      const client = await connectSensor(pki, relay.port, 'sensor', { resume: session });
      expect(client.resumed).toBe(true);
      const reply = client.request(Buffer.from('early'));
      await until(() => finalFlight !== undefined && relay.fromClient.at(-1) !== finalFlight);
      const early = relay.fromClient.at(-1) as Buffer;
      relay.inject(finalFlight as Buffer);
      expect((await reply).toString()).toBe('echo:early');
      await until(() => server.stats().sessionsOnJsRecordLayer === 1);
      relay.inject(early); // the same record again, now to the JS record layer
      await until(() => server.stats().recordsRejected === 1 || messages.length > 1);
      expect(messages).toEqual(['early']);
      expect(server.stats().recordsRejectedByReason).toEqual({ replay: 1 });
      expect((await client.request(Buffer.from('later'))).toString()).toBe('echo:later');
      expect(messages).toEqual(['early', 'later']);
      client.close();
    } finally {
      DtlsClient.freeSession(session);
      relay.close();
      await server.close();
    }
  });

  it('drops and counts a record whose header version was changed, before decrypting it', async () => {
    const { server, port } = await echoServer();
    const relay = await startRelay(port);
    try {
      const client = await connectSensor(pki, relay.port);
      await until(() => server.stats().sessionsOnJsRecordLayer === 1);
      const messages: string[] = [];
      server.on('message', (data) => messages.push(data.toString()));
      // DTLS 1.0's version passes the framing check (ClientHellos may carry it), so only the record
      // layer can refuse it.
      relay.passFromClient = (datagram) => [withVersion(datagram, 0xfeff)];
      client.send(Buffer.from('tampered'));
      await until(() => server.stats().recordsRejected === 1 || messages.length > 0);
      relay.passFromClient = (datagram) => [datagram];
      expect(server.stats().recordsRejectedByReason).toEqual({ version: 1 });
      expect((await client.request(Buffer.from('intact'))).toString()).toBe('echo:intact');
      expect(messages).toEqual(['intact']);
      client.close();
    } finally {
      relay.close();
      await server.close();
    }
  });

  it('keeps the session with OpenSSL when more first-epoch records came before the handover than it keeps', async () => {
    const { server, port } = await echoServer();
    const relay = await startRelay(port);
    const flood = Buffer.concat(Array.from({ length: 16 }, (_, i) => forgedRecord(100 + i)));
    relay.passFromClient = (datagram) =>
      holdsChangeCipherSpec(datagram) ? [Buffer.concat([datagram, flood])] : [datagram];
    try {
      const client = await connectSensor(pki, relay.port);
      relay.passFromClient = (datagram) => [datagram];
      // OpenSSL's own replay window saw every record: the session stays with it, and works.
      expect((await client.request(Buffer.from('x'))).toString()).toBe('echo:x');
      expect(server.stats().sessionsEstablished).toBe(1);
      expect(server.stats().sessionsOnJsRecordLayer).toBe(0);
      client.close();
    } finally {
      relay.close();
      await server.close();
    }
  });

  it('drops and counts the replay of a final-flight Finished that reached OpenSSL out of order (full handshake)', async () => {
    const { server, port } = await echoServer();
    const relay = await startRelay(port);
    // The client's final flight spans datagrams (small MTU); its last datagram, with the
    // ChangeCipherSpec and the epoch-1 Finished, goes to the server first. (OpenSSL ignores the early
    // ChangeCipherSpec and the client repeats its flight: the handshake completes with another
    // datagram, and the JS record layer must still know the first Finished, or it would answer its
    // replay with our final flight again.)
    const held: Buffer[] = [];
    let last: Buffer | undefined;
    relay.passFromClient = (datagram) => {
      if (last) return [datagram];
      if (holdsChangeCipherSpec(datagram)) {
        last = datagram;
        return [datagram, ...held];
      }
      const record = scanDtlsRecords(datagram);
      const isClientHello = record.ok && record.records[0]?.handshake?.type === 1;
      if (isClientHello) return [datagram];
      held.push(datagram);
      return [];
    };
    try {
      const client = await connectSensor(pki, relay.port, 'sensor', { mtu: 256 });
      await until(() => server.stats().sessionsOnJsRecordLayer === 1);
      const retransmissions = server.stats().retransmissions;
      relay.inject(last as Buffer); // its Finished again, now to the JS record layer
      await until(
        () => server.stats().recordsRejected === 1 || server.stats().retransmissions > retransmissions,
      );
      expect(server.stats().recordsRejectedByReason).toEqual({ replay: 1 });
      expect(held.length).toBeGreaterThan(0);
      expect((await client.request(Buffer.from('x'))).toString()).toBe('echo:x');
      client.close();
    } finally {
      relay.close();
      await server.close();
    }
  });
});
