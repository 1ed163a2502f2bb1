import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import coap from 'coap';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoapDtlsSocket } from '../../src/tls/dtls/coap-socket.js';
import type { DtlsHandshakeFailedEvent, DtlsServer } from '../../src/tls/dtls/dtls-server.js';
import {
  connectSensor,
  type DtlsPki,
  makeDtlsPki,
  type ProcessResult,
  run,
  startDtlsServer,
  until,
  waitFor,
} from '../helpers/dtls-pki.js';

/**
 * node-coap on the DTLS endpoint, driven by libcoap's coap-client-openssl (a real sensor-side stack)
 * and by our DtlsClient for what libcoap cannot be told to do (duplicate CON, malformed CoAP).
 *
 * libcoap 4.3.1 exits 0 even when the DTLS handshake fails ("cannot send CoAP pdu"): refusals are
 * judged by the missing payload, libcoap's alert log line and the server's counters.
 */
interface SeenRequest {
  method: string;
  url: string;
  payload: string;
  subject: string | undefined;
  leafSha256: string | undefined;
}

let pki: DtlsPki;
let server: DtlsServer;
let port: number;
let coapServer: ReturnType<typeof coap.createServer>;
let socket: CoapDtlsSocket;
const seen: SeenRequest[] = [];

function handler(req: coap.IncomingMessage, res: coap.OutgoingMessage): void {
  const rsinfo = req.rsinfo as unknown as { identity?: { subject: string; leafSha256: string } };
  seen.push({
    method: req.method,
    url: req.url,
    payload: req.payload.toString(),
    subject: rsinfo.identity?.subject,
    leafSha256: rsinfo.identity?.leafSha256,
  });
  if (req.url === '/hello' && req.method === 'GET') {
    res.end('world');
  } else if (req.url === '/telemetry' && req.method === 'POST') {
    res.code = '2.04';
    res.end(`stored ${req.payload.length} bytes`);
  } else {
    res.code = '4.04';
    res.end('no such resource');
  }
}

async function serveCoap(
  dtls: DtlsServer,
): Promise<{ coapServer: ReturnType<typeof coap.createServer>; socket: CoapDtlsSocket }> {
  const dtlsSocket = new CoapDtlsSocket(dtls);
  const created = coap.createServer(handler);
  await new Promise<void>((resolve, reject) =>
    created.listen(dtlsSocket, (error?: Error) => (error ? reject(error) : resolve())),
  );
  return { coapServer: created, socket: dtlsSocket };
}

function coapClient(uri: string, sensor: string | undefined, extra: string[] = []): Promise<ProcessResult> {
  const identity = sensor ? ['-c', pki.file(`${sensor}.pem`), '-j', pki.file(`${sensor}.key`)] : [];
  return run(
    'coap-client-openssl',
    ['-v', '6', '-B', '10', ...extra, ...identity, '-R', pki.file('ca.pem'), uri],
    {
      timeoutMs: 30_000,
    },
  );
}

beforeAll(async () => {
  pki = makeDtlsPki();
  ({ server, port } = await startDtlsServer(pki));
  ({ coapServer, socket } = await serveCoap(server));
});

afterAll(async () => {
  coapServer?.close();
  socket?.close();
  await server?.close();
  pki?.remove();
});

describe('CoAP over DTLS with libcoap coap-client-openssl', () => {
  it('GET returns 2.05 and the payload; the handler sees the peer identity', async () => {
    seen.length = 0;
    const result = await coapClient(`coaps://127.0.0.1:${port}/hello`, 'sensor', ['-m', 'get']);
    expect(result.stdout).toMatch(/t:ACK c:2\.05 .*'world'/);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.subject).toBe('CN=sensor');
    expect(seen[0]?.leafSha256).toBe(createHash('sha256').update(pki.der('sensor')).digest('hex'));
  });

  it('POST with a payload reaches the handler', async () => {
    seen.length = 0;
    const result = await coapClient(`coaps://127.0.0.1:${port}/telemetry`, 'sensor', [
      '-m',
      'post',
      '-e',
      '{"temperature":21.5}',
    ]);
    expect(result.stdout).toMatch(/c:2\.04 .*'stored 20 bytes'/);
    expect(seen[0]).toMatchObject({ method: 'POST', payload: '{"temperature":21.5}', subject: 'CN=sensor' });
  });

  it('a 4.04 for an unknown path reaches the client', async () => {
    const result = await coapClient(`coaps://127.0.0.1:${port}/nothere`, 'sensor', ['-m', 'get']);
    expect(result.stdout).toMatch(/c:4\.04 .*'no such resource'/);
    expect(result.stderr).toContain('4.04');
  });

  const refusals: Array<[string, string | undefined, DtlsHandshakeFailedEvent['reason'], RegExp]> = [
    ['a sensor from a rogue CA', 'rogue-sensor', 'unknownCa', /alert.*unknown CA/i],
    [
      'a sensor certificate with EKU serverAuth only',
      'wrong-eku',
      'badPurpose',
      /alert.*unsupported certificate/i,
    ],
    ['a sensor certificate without any EKU', 'no-eku', 'badPurpose', /alert.*unsupported certificate/i],
    ['a client without a certificate', undefined, 'noPeerCertificate', /alert.*handshake failure/i],
  ];
  for (const [what, sensor, reason, alert] of refusals) {
    it(`refuses ${what}`, async () => {
      const before = server.stats();
      seen.length = 0;
      const failed = waitFor<[DtlsHandshakeFailedEvent]>(server, 'handshakeFailed');
      const result = await coapClient(`coaps://127.0.0.1:${port}/hello`, sensor, ['-m', 'get']);
      const [failure] = await failed;
      expect(failure.reason).toBe(reason);
      expect(result.stdout).not.toContain('world');
      expect(result.stdout + result.stderr).toMatch(alert);
      expect(seen).toHaveLength(0);
      const after = server.stats();
      expect(after.handshakesFailedByReason[reason]).toBe((before.handshakesFailedByReason[reason] ?? 0) + 1);
      expect(after.handshakesCompleted).toBe(before.handshakesCompleted);
    });
  }

  it('serves IPv6 (::1)', async () => {
    const v6 = await startDtlsServer(pki, {}, '::1');
    const served = await serveCoap(v6.server);
    try {
      const result = await coapClient(`coaps://[::1]:${v6.port}/hello`, 'sensor', ['-m', 'get']);
      expect(result.stdout).toMatch(/c:2\.05 .*'world'/);
      expect(v6.server.stats().handshakesCompleted).toBe(1);
    } finally {
      served.coapServer.close();
      served.socket.close();
      await v6.server.close();
    }
  });
});

/** A CoAP message: CON (type 0) unless told otherwise, one Uri-Path option, optional payload. */
function coapMessage(code: number, messageId: number, token: Buffer, path: string, payload?: string): Buffer {
  const pathBytes = Buffer.from(path);
  const parts = [
    Buffer.from([0x40 | token.length, code, messageId >> 8, messageId & 0xff]),
    token,
    Buffer.from([0xb0 | pathBytes.length]), // option 11 (Uri-Path), delta 11
    pathBytes,
  ];
  if (payload) parts.push(Buffer.from([0xff]), Buffer.from(payload));
  return Buffer.concat(parts);
}

function coapCode(reply: Buffer): string {
  const code = reply[1] as number;
  return `${code >> 5}.${String(code & 0x1f).padStart(2, '0')}`;
}

describe("CoapDtlsSocket and node-coap's dgram.Socket-only paths", () => {
  it('passes for a dgram.Socket, as node-coap checks', () => {
    expect(socket).toBeInstanceOf(dgram.Socket);
    expect(() => (socket as unknown as dgram.Socket).bind()).toThrow(/not available/);
  });

  it('answers a duplicate CON from the dedupe cache, without calling the handler twice', async () => {
    const client = await connectSensor(pki, port);
    try {
      seen.length = 0;
      const request = coapMessage(0x01, 0x1234, Buffer.from('a1b2', 'hex'), 'hello');
      const first = await client.request(request);
      const second = await client.request(request); // the same message id and token: a retransmission
      expect(coapCode(first)).toBe('2.05');
      expect(second.equals(first)).toBe(true);
      expect(seen).toHaveLength(1);
    } finally {
      client.close();
    }
  });

  it("delivers node-coap's _sendError replies (4.15 for FETCH without Content-Format, 5.00 for garbage)", async () => {
    const client = await connectSensor(pki, port);
    try {
      const fetch = await client.request(coapMessage(0x05, 0x2000, Buffer.from('0f', 'hex'), 'hello'));
      expect(coapCode(fetch)).toBe('4.15');
      expect(fetch.toString()).toContain('Content-Format');
      // version 0 is not CoAP: the parser throws, node-coap answers 5.00 with the parser's message
      const garbage = await client.request(Buffer.from([0x00, 0x01, 0x00, 0x01]));
      expect(coapCode(garbage)).toBe('5.00');
      expect(socket.undeliverable).toBe(0);
    } finally {
      client.close();
    }
  });

  it('drops replies for peers without a session, like UDP, and counts them', async () => {
    const before = socket.undeliverable;
    await new Promise<void>((resolve) =>
      socket.send(Buffer.from('x'), 0, 1, 9, '127.0.0.1', (error) => {
        expect(error).toBeNull();
        resolve();
      }),
    );
    await until(() => socket.undeliverable === before + 1);
  });
});
