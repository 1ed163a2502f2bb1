import { EventEmitter } from 'node:events';
import { mediaTypeValue, observeValue, type PacketOption, uintValue } from './option-values.js';

/** The packet a notification is built from, as CommandObservation adjusts it. */
export interface NotificationPacket {
  code?: string;
  messageId?: number;
  token: Buffer;
  options: PacketOption[];
  confirmable: boolean;
  ack: boolean;
  reset?: boolean;
  payload?: Buffer;
}

/**
 * The largest Observe sequence number (RFC 7641 §4.4: 24 bits), after which it starts over at 1, as
 * node-coap's did.
 */
const MAX_SEQUENCE = 16777215;

/**
 * An observation's side of the wire (RFC 7641): the first write answers the registration (2.05 with
 * Observe, on the request's ACK, or NON for a NON), every later one is a notification with the next
 * Observe number; the packet's type and options are what the observer made them. It has the surface
 * of node-coap's ObserveWriteStream that CommandObservation uses (`_packet`, `_send`, `setOption`,
 * `write`, `end`, 'finish'), so that the observation does not depend on which layer carries it.
 */
export class ObserveChannel extends EventEmitter {
  readonly _packet: NotificationPacket;
  statusCode = '2.05';
  writableEnded = false;
  _counter = 0;
  readonly #requestConfirmable: boolean;

  /** `send` encodes and transmits one packet (and fills in its message id when it has none). */
  constructor(
    request: { messageId: number; token: Buffer; confirmable: boolean },
    send: (packet: NotificationPacket) => void,
  ) {
    super();
    // Its own copy: the request's token is a slice of the whole datagram, which it would keep alive.
    const token = Buffer.alloc(request.token.length);
    request.token.copy(token);
    this._packet = {
      token,
      messageId: request.messageId,
      options: [],
      confirmable: false,
      ack: request.confirmable,
    };
    this.#requestConfirmable = request.confirmable;
    this._send = (_channel, packet) => send(packet);
  }

  _send: (channel: ObserveChannel, packet: NotificationPacket) => void;

  setOption(name: string, value: unknown): this {
    this._packet.options = this._packet.options.filter((option) => option.name !== name);
    this._packet.options.push({ name, value: optionValue(name, value) });
    return this;
  }

  write(payload: Buffer): boolean {
    if (this.writableEnded) return false;
    this._counter = this._counter === MAX_SEQUENCE ? 1 : this._counter + 1;
    this.setOption('Observe', this._counter);
    this._doSend(payload);
    return true;
  }

  /** Sends the packet as it stands; after the first, messages get new ids and the request's type. */
  _doSend(payload?: Buffer): void {
    const packet = this._packet;
    packet.code = this.statusCode;
    packet.payload = payload ?? Buffer.alloc(0);
    this._send(this, packet);
    packet.confirmable = this.#requestConfirmable;
    packet.ack = !this.#requestConfirmable;
    delete packet.messageId;
    delete packet.payload;
  }

  /** Ends the observation's side: nothing more is sent ('finish' follows). */
  end(): void {
    if (this.writableEnded) return;
    this.writableEnded = true;
    // Like node-coap's: a stream ended before it answered the registration answers it now.
    if (this._counter === 0) this._doSend();
    process.nextTick(() => this.emit('finish'));
  }
}

function optionValue(name: string, value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  const number = Number(value);
  if (name === 'Observe') return observeValue(number);
  if (name === 'Content-Format' || name === 'Accept') return mediaTypeValue(number);
  return uintValue(number);
}
