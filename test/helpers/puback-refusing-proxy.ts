import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';

/** A PUBLISH as the proxy saw it on its way to the broker. */
export interface SeenPublish {
  topic: string;
  payload: Buffer;
}

export interface PubackRefusingProxyOptions {
  /** The real broker behind (mosquitto): where, and the PEM of the CA of its server certificate. */
  broker: { host: string; port: number; caPem: string };
  /** What the proxy shows the gateway: a server certificate the gateway trusts (PEM files). */
  server: { cert: string; key: string };
  /** The client identity the proxy presents to the broker (DER chain, PKCS#8 key). */
  client: { chain: Uint8Array[]; pkcs8: Uint8Array };
  /** Which QoS 1 PUBLISH the broker is to "refuse": called for each, in order. */
  refuse(publish: SeenPublish): boolean;
  /** The reason code of the refusal. Default 0x97 (quota exceeded: a failure that may pass). */
  reasonCode?: number;
  /**
   * The refusal's PUBACK goes out once the broker has acknowledged this many PUBLISHes that came
   * after the refused one on the connection (default 3): the situation of a broker that refused one
   * message and took the next ones, made certain instead of left to timing.
   */
  after?: number;
}

interface Refusal {
  packetId: number;
  /** Forwarded PUBLISHes after it still to be counted, and those awaiting the broker's PUBACK. */
  toCount: number;
  awaiting: Set<number>;
}

/**
 * A small MQTT 5 man in the middle for tests: TLS server towards the gateway, TLS client (with its
 * own certificate) towards a real mosquitto, forwarding every packet as it is, except the PUBLISHes
 * `refuse` picks: those never reach the broker, and the gateway gets a PUBACK with a failure reason
 * code for them — what a broker under quota or load does (MQTT 5 §3.4.2.1).
 */
export class PubackRefusingProxy {
  readonly #server: Server;
  readonly #sockets = new Set<TLSSocket>();
  /** PUBLISHes refused so far. */
  refused = 0;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(options: PubackRefusingProxyOptions): Promise<PubackRefusingProxy> {
    const clientCert = options.client.chain.map((der) => new X509Certificate(der).toString()).join('');
    const clientKey = createPrivateKey({
      key: Buffer.from(options.client.pkcs8),
      format: 'der',
      type: 'pkcs8',
    })
      .export({ format: 'pem', type: 'pkcs8' })
      .toString();
    const server = createServer({
      cert: readFileSync(options.server.cert),
      key: readFileSync(options.server.key),
    });
    const proxy = new PubackRefusingProxy(server);
    server.on('secureConnection', (down) => {
      const up = connect({
        host: options.broker.host,
        port: options.broker.port,
        ca: options.broker.caPem,
        cert: clientCert,
        key: clientKey,
        servername: 'localhost',
      });
      proxy.#sockets.add(down);
      proxy.#sockets.add(up);
      proxy.#relay(down, up, options);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get url(): string {
    return `mqtts://127.0.0.1:${this.port}`;
  }

  /** Ends every connection cleanly (TLS close_notify, FIN), as a broker restarting without a DISCONNECT would. */
  dropConnections(): void {
    for (const socket of this.#sockets) socket.end();
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #relay(down: TLSSocket, up: TLSSocket, options: PubackRefusingProxyOptions): void {
    const refusals: Refusal[] = [];
    const after = options.after ?? 3;
    const reasonCode = options.reasonCode ?? 0x97;
    const close = () => {
      // What was read is written first (end, not destroy): the broker handles what it got.
      down.end();
      up.end();
      this.#sockets.delete(down);
      this.#sockets.delete(up);
    };
    down.on('close', close);
    up.on('close', close);
    down.on('error', close);
    up.on('error', close);
    const toBroker = new PacketSplitter((packet) => {
      const publish = parseQos1Publish(packet);
      if (publish && options.refuse(publish)) {
        this.refused++;
        refusals.push({ packetId: publish.packetId, toCount: after, awaiting: new Set() });
        return;
      }
      if (publish)
        for (const refusal of refusals)
          if (refusal.toCount > 0) {
            refusal.toCount--;
            refusal.awaiting.add(publish.packetId);
          }
      up.write(packet);
    });
    const toGateway = new PacketSplitter((packet) => {
      down.write(packet);
      if (packet[0] !== 0x40) return; // PUBACK
      const packetId = packet.readUInt16BE(remainingLengthSize(packet) + 1);
      for (const refusal of [...refusals]) {
        refusal.awaiting.delete(packetId);
        if (refusal.toCount === 0 && refusal.awaiting.size === 0) {
          refusals.splice(refusals.indexOf(refusal), 1);
          down.write(Buffer.from([0x40, 0x03, refusal.packetId >> 8, refusal.packetId & 0xff, reasonCode]));
        }
      }
    });
    down.on('data', (chunk: Buffer) => toBroker.push(chunk));
    up.on('data', (chunk: Buffer) => toGateway.push(chunk));
  }
}

/** Cuts a byte stream into whole MQTT control packets. */
class PacketSplitter {
  #buffer = Buffer.alloc(0);
  readonly #onPacket: (packet: Buffer) => void;

  constructor(onPacket: (packet: Buffer) => void) {
    this.#onPacket = onPacket;
  }

  push(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const header = readRemainingLength(this.#buffer);
      if (!header) return;
      const total = 1 + header.size + header.length;
      if (this.#buffer.length < total) return;
      const packet = this.#buffer.subarray(0, total);
      this.#buffer = this.#buffer.subarray(total);
      this.#onPacket(Buffer.from(packet));
    }
  }
}

/** The Remaining Length after the first byte (variable byte integer), when it is complete. */
function readRemainingLength(buffer: Buffer): { length: number; size: number } | undefined {
  let length = 0;
  for (let index = 1; index <= 4; index++) {
    const byte = buffer[index];
    if (byte === undefined) return undefined;
    length += (byte & 0x7f) * 128 ** (index - 1);
    if ((byte & 0x80) === 0) return { length, size: index };
  }
  throw new Error('malformed MQTT remaining length');
}

function remainingLengthSize(packet: Buffer): number {
  return readRemainingLength(packet)?.size ?? 1;
}

/** A QoS 1 PUBLISH's topic, packet id and payload (MQTT 5), or undefined for any other packet. */
function parseQos1Publish(packet: Buffer): (SeenPublish & { packetId: number }) | undefined {
  const first = packet[0] ?? 0;
  if (first >> 4 !== 3 || ((first >> 1) & 3) !== 1) return undefined;
  let offset = 1 + remainingLengthSize(packet);
  const topicLength = packet.readUInt16BE(offset);
  const topic = packet.toString('utf8', offset + 2, offset + 2 + topicLength);
  offset += 2 + topicLength;
  const packetId = packet.readUInt16BE(offset);
  offset += 2;
  const properties = readRemainingLength(Buffer.concat([Buffer.from([0]), packet.subarray(offset)]));
  if (!properties) return undefined;
  offset += properties.size + properties.length;
  return { topic, packetId, payload: packet.subarray(offset) };
}
