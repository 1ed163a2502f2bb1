import dgram from 'node:dgram';
import type { SensorCredentials } from '../../hw-sim/sensors/index.js';
import { DtlsClient, privateKeyFromPkcs8 } from '../../src/tls/index.js';
import { COAP_OPTION, COAP_TYPE, encodeCoap } from './coap-wire.js';

/** The datagrams of one real DTLS 1.2 handshake and a request after it, as each side sent them. */
export interface CapturedFlights {
  /** ClientHello, ClientHello with cookie, the certificate flight, an application-data record… */
  fromClient: Buffer[];
  /** HelloVerifyRequest, the server's flight, its Finished, the answer… */
  fromServer: Buffer[];
}

/**
 * Seeds for the DTLS mutator: a sensor (the project's DtlsClient, as hw-sim's sensors use it)
 * completes a real handshake with the gateway through a UDP relay that keeps every datagram, then
 * sends one GET /time. A small `mtu` makes the flights fragmented, which gives fragment headers to
 * mutate.
 */
export async function captureFlights(
  gateway: { port: number; gatewayRoot: Uint8Array },
  credentials: SensorCredentials,
  mtu: number,
): Promise<CapturedFlights> {
  const flights: CapturedFlights = { fromClient: [], fromServer: [] };
  const front = dgram.createSocket('udp4');
  const back = dgram.createSocket('udp4');
  let clientAddress: { port: number; address: string } | undefined;
  await Promise.all([bind(front), bind(back)]);
  front.on('message', (datagram, rinfo) => {
    clientAddress = rinfo;
    flights.fromClient.push(Buffer.from(datagram));
    back.send(datagram, gateway.port, '127.0.0.1');
  });
  back.on('message', (datagram) => {
    flights.fromServer.push(Buffer.from(datagram));
    if (clientAddress) front.send(datagram, clientAddress.port, clientAddress.address);
  });
  try {
    const client = await DtlsClient.connect({
      host: '127.0.0.1',
      port: front.address().port,
      ca: [gateway.gatewayRoot],
      certificateChain: credentials.certificateChain,
      privateKey: privateKeyFromPkcs8(credentials.privateKeyPkcs8),
      mtu,
      handshakeTimeoutMs: 10_000,
    });
    const request = encodeCoap({
      type: COAP_TYPE.CON,
      code: 0x01,
      messageId: 1,
      token: Buffer.from([1, 2, 3, 4]),
      options: [{ number: COAP_OPTION.URI_PATH, value: Buffer.from('time') }],
    });
    await Promise.race([client.request(request), new Promise((resolve) => setTimeout(resolve, 3000))]);
    client.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    front.close();
    back.close();
  }
  return flights;
}

function bind(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
}
