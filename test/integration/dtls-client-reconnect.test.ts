import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DtlsClient } from '../../src/tls/dtls/dtls-client.js';
import { TlsError } from '../../src/tls/tls-error.js';
import { connectSensor, type DtlsPki, makeDtlsPki, startEchoServer } from '../helpers/dtls-pki.js';

/** What a sensor needs to come back promptly after the gateway restarts (DtlsClient). */
let pki: DtlsPki;

beforeAll(() => {
  pki = makeDtlsPki();
});
afterAll(() => pki?.remove());

/** A UDP port nobody listens on (ICMP port unreachable answers there). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

describe('DtlsClient when the server goes away', () => {
  it('failWhenRefused: a handshake refused by ICMP port unreachable fails at once, not by its timeout', async () => {
    const port = await closedPort();
    const failure = await DtlsClient.connect({
      host: '127.0.0.1',
      port,
      ca: [pki.der('ca')],
      failWhenRefused: true,
      handshakeTimeoutMs: 600_000,
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TlsError);
    expect((failure as TlsError).code).toBe('EGW_TLS_CLOSED');
    expect((failure as TlsError).message).toContain('refused');
  });

  it("an established session hears 'unreachable' when the server's port is closed", async () => {
    const gone = await startEchoServer(pki);
    const client = await connectSensor(pki, gone.port);
    const unreachable = new Promise<Error>((resolve) => client.once('unreachable', resolve));
    await gone.server.close();
    let heard: Error | undefined;
    void unreachable.then((error) => {
      heard = error;
    });
    for (let i = 0; i < 50 && !heard; i++) {
      client.send(Buffer.from(`anyone? ${i}`));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((heard as NodeJS.ErrnoException | undefined)?.code).toBe('ECONNREFUSED');
    client.destroy();
  });

  it('maxRetransmitMs: handshake retransmissions come at most that far apart', async () => {
    // A server that hears and never answers: it counts the ClientHellos.
    const silent = createSocket('udp4');
    let hellos = 0;
    silent.on('message', () => hellos++);
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    try {
      // Within 3 s OpenSSL's own timer (1, 2 s …) sends 2 or 3; capped at 250 ms, about a dozen.
      await expect(
        DtlsClient.connect({
          host: '127.0.0.1',
          port: silent.address().port,
          ca: [pki.der('ca')],
          maxRetransmitMs: 250,
          handshakeTimeoutMs: 3000,
        }),
      ).rejects.toThrow();
      expect(hellos).toBeGreaterThanOrEqual(6);
    } finally {
      silent.close();
    }
  });

  it('a shared context (DtlsClient.context) outlives the connections made with it', async () => {
    const { server, port } = await startEchoServer(pki);
    const context = DtlsClient.context({
      ca: [pki.der('ca')],
      certificateChain: [pki.der('sensor')],
      privateKey: pki.key('sensor'),
    });
    try {
      for (let i = 0; i < 3; i++) {
        const client = await DtlsClient.connect({ host: '127.0.0.1', port, ca: [], context });
        expect((await client.request(Buffer.from(`ping ${i}`))).toString()).toBe(`echo:ping ${i}`);
        client.destroy();
      }
    } finally {
      context.free();
      await server.close();
    }
  });
});
