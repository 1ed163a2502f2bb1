import dgram, { type RemoteInfo } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIPv6 } from 'node:net';
import { TlsError } from '../tls-error.js';
import type { DtlsPeer, DtlsServer } from './dtls-server.js';
import type { PeerIdentity } from './peer-identity.js';

/** node-coap's rsinfo, plus who the DTLS handshake proved the peer to be. */
export interface CoapDtlsRemoteInfo extends RemoteInfo {
  identity: PeerIdentity;
  resumed: boolean;
}

type SendCallback = (error: Error | null, bytes?: number) => void;

/**
 * The DTLS server seen as a UDP socket, for `coap.createServer().listen(socket)`: it emits
 * 'message'(plaintext, rinfo) for every decrypted datagram (rinfo.identity is the verified peer) and
 * `send()` encrypts to the established session of the destination address and port.
 *
 * Why it claims to be a dgram.Socket: node-coap 1.5 sends some replies only when
 * `socket instanceof dgram.Socket` — the cached response to a duplicate CON request (the dedupe cache,
 * RFC 7252 §4.5), `_sendError` (4.xx/5.xx for unparseable requests, Observe on a non-GET, FETCH
 * without Content-Format) and proxying. An EventEmitter alone would silently drop those. So the
 * prototype chain goes through dgram.Socket.prototype, every dgram method this class does not
 * implement throws (nothing half-works on a socket that has no handle), and `send()` accepts both
 * dgram signatures. `_sendError` passes a port but no address: it runs synchronously inside our
 * 'message' dispatch, so the datagram goes to the peer being dispatched when the port matches.
 *
 * Sending to a peer without an established session behaves like UDP to a vanished host: the datagram
 * is dropped and counted in `undeliverable` (an error in node-coap's send callback would surface as
 * an unhandled 'error' on the response stream). Forward proxying over this socket is therefore not
 * supported: node-coap's `proxy: true` would send plaintext CoAP to hosts that have no DTLS session.
 */
export class CoapDtlsSocket extends EventEmitter {
  readonly #server: DtlsServer;
  readonly #onMessage: (plaintext: Buffer, peer: DtlsPeer) => void;
  #dispatching: DtlsPeer | undefined;
  #closed = false;
  /** Datagrams node-coap sent to peers without an established session (dropped, like UDP). */
  undeliverable = 0;

  constructor(server: DtlsServer) {
    super();
    this.#server = server;
    this.#onMessage = (plaintext, peer) => {
      const rinfo: CoapDtlsRemoteInfo = {
        address: peer.address,
        port: peer.port,
        family: peer.family,
        size: plaintext.length,
        identity: peer.identity,
        resumed: peer.resumed,
      };
      this.#dispatching = peer;
      try {
        this.emit('message', plaintext, rinfo);
      } finally {
        this.#dispatching = undefined;
      }
    };
    server.on('message', this.#onMessage);
  }

  /** dgram's `send(msg, offset, length, port, address, cb)` and `send(msg, port, address, cb)`. */
  send(
    message: Buffer | Uint8Array,
    offsetOrPort: number,
    lengthOrAddress?: number | string | SendCallback,
    portOrCallback?: number | SendCallback,
    address?: string,
    callback?: SendCallback,
  ): void {
    let data: Uint8Array;
    let port: number;
    let host: string | undefined;
    let done: SendCallback | undefined;
    if (typeof lengthOrAddress === 'number') {
      data = message.subarray(offsetOrPort, offsetOrPort + lengthOrAddress);
      port = portOrCallback as number;
      host = address;
      done = callback;
    } else {
      data = message;
      port = offsetOrPort;
      host = typeof lengthOrAddress === 'string' ? lengthOrAddress : undefined;
      done =
        typeof lengthOrAddress === 'function'
          ? lengthOrAddress
          : (portOrCallback as SendCallback | undefined);
    }
    if (host === undefined && this.#dispatching?.port === port) host = this.#dispatching.address;
    let sent = false;
    if (!this.#closed && host !== undefined) {
      try {
        this.#server.send(normalise(host), port, data);
        sent = true;
      } catch (error) {
        if (!(error instanceof TlsError)) throw error;
      }
    }
    if (!sent) this.undeliverable++;
    if (done) {
      const length = data.length;
      process.nextTick(() => done(null, sent ? length : 0));
    }
  }

  address(): { address: string; port: number; family: string } {
    return this.#server.address();
  }

  /** Stops delivering messages to node-coap; the DtlsServer itself keeps running (its owner closes it). */
  close(callback?: () => void): this {
    if (!this.#closed) {
      this.#closed = true;
      this.#server.off('message', this.#onMessage);
      process.nextTick(() => this.emit('close'));
    }
    if (callback) process.nextTick(callback);
    return this;
  }

  /** dgram.Socket#ref: the DTLS server's socket is the one that keeps the loop alive. */
  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}

// node-coap tests `instanceof dgram.Socket`: see the class comment.
Object.setPrototypeOf(CoapDtlsSocket.prototype, dgram.Socket.prototype);
for (const name of Object.getOwnPropertyNames(dgram.Socket.prototype)) {
  if (name === 'constructor' || Object.hasOwn(CoapDtlsSocket.prototype, name)) continue;
  const descriptor = Object.getOwnPropertyDescriptor(dgram.Socket.prototype, name);
  if (typeof descriptor?.value !== 'function') continue;
  Object.defineProperty(CoapDtlsSocket.prototype, name, {
    configurable: true,
    writable: true,
    value() {
      throw new TlsError(
        'EGW_TLS_CONFIG',
        `dgram.Socket#${name} is not available on a CoAP-over-DTLS socket`,
        {
          hint: 'configure the UDP socket through DtlsServer',
        },
      );
    },
  });
}

/** node-coap may hand back "::ffff:1.2.3.4" or a plain IPv4 string; the session table uses rinfo's form. */
function normalise(address: string): string {
  return isIPv6(address) ? address.toLowerCase() : address;
}
