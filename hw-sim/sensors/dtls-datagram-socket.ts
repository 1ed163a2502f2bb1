import type { RemoteInfo, Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIPv6 } from 'node:net';
import type { DtlsClient } from '../../src/tls/index.js';

type SendCallback = (error: Error | null, bytes?: number) => void;

/**
 * A sensor's DTLS session seen as a UDP socket, for node-coap's client `Agent({ socket })`: `send()`
 * encrypts to the gateway over the session attached now, every decrypted record comes out as
 * 'message'(plaintext, rinfo of the gateway). node-coap then does the CoAP: message ids, tokens,
 * CON retransmission, ACKs of notifications, Observe.
 *
 * Why the session is attachable rather than fixed: one Agent (with its requests in flight) lives
 * as long as the sensor, while DTLS sessions come and go. Between two sessions a datagram is dropped
 * as UDP would drop it, and node-coap's retransmission carries the request over to the next session.
 * The Agent never tests `instanceof dgram.Socket` (only node-coap's server does), so an
 * EventEmitter with dgram's `send`/`address` is enough.
 */
export class DtlsDatagramSocket extends EventEmitter {
  readonly type: 'udp4' | 'udp6';
  readonly #gateway: { address: string; port: number; family: 'IPv4' | 'IPv6' };
  readonly #onMessage = (plaintext: Buffer) => {
    this.datagramsReceived++;
    const rinfo: RemoteInfo = { ...this.#gateway, size: plaintext.length };
    this.emit('message', plaintext, rinfo);
  };
  #client: DtlsClient | undefined;
  #localPort = 0;
  /** Datagrams handed to a session. */
  datagramsSent = 0;
  /** Datagrams node-coap sent while no session was attached (lost, as on UDP). */
  datagramsDropped = 0;
  datagramsReceived = 0;

  constructor(gateway: { host: string; port: number }) {
    super();
    const v6 = isIPv6(gateway.host);
    this.type = v6 ? 'udp6' : 'udp4';
    this.#gateway = { address: gateway.host, port: gateway.port, family: v6 ? 'IPv6' : 'IPv4' };
  }

  /** node-coap's Agent wants a dgram.Socket: this is one as far as the Agent goes (see the class comment). */
  asSocket(): Socket {
    return this as unknown as Socket;
  }

  /** Sends over `client` from now on (the previous session, if any, is detached, not closed). */
  attach(client: DtlsClient): void {
    this.detach();
    this.#client = client;
    this.#localPort = client.localPort;
    client.on('message', this.#onMessage);
  }

  detach(): void {
    this.#client?.off('message', this.#onMessage);
    this.#client = undefined;
  }

  get attached(): boolean {
    return this.#client !== undefined && !this.#client.closed;
  }

  /** dgram's `send(msg, offset, length, port, address, cb)` and `send(msg, port, address, cb)`; the destination is always the gateway. */
  send(
    message: Buffer | Uint8Array,
    offsetOrPort: number,
    lengthOrAddress?: number | string | SendCallback,
    portOrCallback?: number | SendCallback,
    _address?: string,
    callback?: SendCallback,
  ): void {
    let data: Uint8Array = message;
    let done: SendCallback | undefined;
    if (typeof lengthOrAddress === 'number') {
      data = message.subarray(offsetOrPort, offsetOrPort + lengthOrAddress);
      done = callback;
    } else {
      done =
        typeof lengthOrAddress === 'function'
          ? lengthOrAddress
          : typeof portOrCallback === 'function'
            ? portOrCallback
            : undefined;
    }
    let sent = 0;
    const client = this.#client;
    if (client && !client.closed) {
      try {
        client.send(data);
        sent = data.length;
        this.datagramsSent++;
      } catch {
        // A session that ended under us: the datagram is lost, CoAP retransmits.
      }
    }
    if (sent === 0) this.datagramsDropped++;
    // An error here would become an 'error' on the request: loss is reported as 0 bytes instead.
    if (done) process.nextTick(done, null, sent);
  }

  address(): { address: string; port: number; family: string } {
    return {
      address: this.type === 'udp6' ? '::' : '0.0.0.0',
      port: this.#localPort,
      family: this.type === 'udp6' ? 'IPv6' : 'IPv4',
    };
  }

  /** The Agent never closes a socket it was given; the sensor closes its sessions itself. */
  close(callback?: () => void): this {
    this.detach();
    if (callback) process.nextTick(callback);
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}
