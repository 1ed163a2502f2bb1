import dgram from 'node:dgram';
import koffi from 'koffi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pointer } from '../../src/native/openssl/libssl.js';
import { DtlsClient } from '../../src/tls/dtls/dtls-client.js';
import type { DtlsPeer } from '../../src/tls/dtls/dtls-server.js';
import { SessionTicketKeys } from '../../src/tls/dtls/session-ticket-keys.js';
import { connectSensor, type DtlsPki, makeDtlsPki, startDtlsServer, until } from '../helpers/dtls-pki.js';

/*
 * Who a ticket-resumed session is comes from the ticket, never from the session id beside it: on a
 * ticket resumption OpenSSL copies the ClientHello's session id (chosen by the client, RFC 5077 §3.4)
 * into the session, so an id seen on the wire (another sensor's ServerHello) must not name the peer.
 */
let pki: DtlsPki;

beforeAll(() => {
  pki = makeDtlsPki();
});

afterAll(() => pki?.remove());

/**
 * A UDP relay in front of the server that reads the session id of each ServerHello going back, as an
 * eavesdropper on the sensors' network would (it is in the clear).
 */
async function sniffingRelay(serverPort: number) {
  const ids: Buffer[] = [];
  const front = dgram.createSocket('udp4');
  const back = dgram.createSocket('udp4');
  let client: dgram.RemoteInfo | undefined;
  front.on('message', (datagram, rinfo) => {
    client = rinfo;
    back.send(datagram, serverPort, '127.0.0.1');
  });
  back.on('message', (datagram) => {
    // Record header 13 bytes, handshake header 12; ServerHello (2): version 2, random 32, id length.
    if (datagram[0] === 22 && datagram[13] === 2 && datagram.length > 59) {
      ids.push(Buffer.from(datagram.subarray(60, 60 + (datagram[59] as number))));
    }
    if (client) front.send(datagram, client.port, client.address);
  });
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => back.bind(0, '127.0.0.1', resolve));
  return {
    port: front.address().port,
    ids,
    close: () => {
      front.close();
      back.close();
    },
  };
}

/** SSL_OP_NO_TICKET on a client context: it offers no ticket extension. */
function withoutTickets(ctx: Pointer): void {
  const setOptions = koffi
    .load(null as unknown as string)
    .func('uint64_t SSL_CTX_set_options(void *, uint64_t)') as (ctx: Pointer, options: bigint) => bigint;
  setOptions(ctx, 1n << 14n);
}

const setSessionId = (() => {
  let bound: ((session: Pointer, id: Buffer, length: number) => number) | undefined;
  return (session: Pointer, id: Buffer): void => {
    bound ??= koffi
      .load(null as unknown as string)
      .func('int SSL_SESSION_set1_id(void *, const uint8_t *, unsigned int)');
    expect(bound(session, id, id.length)).toBe(1);
  };
})();

describe('a ticket-resumed session is the identity its ticket stands for', () => {
  it("a sensor resuming its own ticket under another sensor's session id is still itself", async () => {
    const { server, port } = await startDtlsServer(pki, {
      sessionTickets: new SessionTicketKeys({ lifetimeSeconds: 3600 }),
    });
    const relay = await sniffingRelay(port);
    const subjects: string[] = [];
    server.on('session', (peer: DtlsPeer) => subjects.push(peer.identity.subject));
    try {
      // The victim's full handshake (a sensor without tickets: the server names its session by an
      // id), its ServerHello seen on the wire.
      const context = DtlsClient.context({
        ca: [pki.der('ca')],
        certificateChain: [pki.der('sensor')],
        privateKey: pki.key('sensor'),
      });
      withoutTickets(context.ctx);
      const victim = await DtlsClient.connect({ host: '127.0.0.1', port: relay.port, ca: [], context });
      context.free();
      victim.destroy();
      const victimId = relay.ids[0];
      expect(victimId?.length).toBe(32);

      // The attacker (a sensor of its own) resumes its own ticket, offering the victim's session id.
      const own = await connectSensor(pki, port, 'sensor2');
      const saved = own.saveSession();
      own.destroy();
      setSessionId(saved, victimId as Buffer);
      const resumed = await connectSensor(pki, port, 'sensor2', { resume: saved });
      // The client's Finished is the last message of a resumption: the server completes after it.
      await until(() => subjects.length === 3);
      DtlsClient.freeSession(saved);
      expect(resumed.resumed).toBe(true);
      resumed.destroy();
      expect(subjects).toHaveLength(3);
      expect(subjects.at(-1)).toMatch(/CN=sensor2/);
    } finally {
      relay.close();
      await server.close();
    }
  });
});
