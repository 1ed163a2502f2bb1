import type { CoapRequest } from './coap-request.js';
import type { Exchange } from './exchange-cache.js';
import { type NotificationPacket, ObserveChannel } from './observe-channel.js';
import type { ResponseOptions } from './option-values.js';

/** What an answer needs of its session (CoapSession). */
export interface AnswerSession {
  answer(
    exchange: Exchange,
    request: CoapRequest,
    answer: CoapAnswer,
    code: string,
    payload: Buffer,
    options: ResponseOptions,
  ): void;
  notify(exchange: Exchange, packet: NotificationPacket, channel: ObserveChannel): void;
}

/**
 * The answer to one request, as a route gives it: `send` once (the session decides piggy-backed ACK,
 * NON, or separate response, and cuts a large payload into blocks), or — for a GET with Observe: 0 on
 * an observable resource — `observe()` to keep answering with notifications. `code`/`statusCode`
 * and `end` answer like node-coap's OutgoingMessage (2.05 unless told otherwise).
 */
export class CoapAnswer {
  code = '';
  statusCode = '2.05';
  /** Told when the answer could not be encoded (the sensor gets a 5.00 instead). */
  onFailure: ((error: Error) => void) | undefined;
  readonly request: CoapRequest;
  readonly #exchange: Exchange;
  readonly #session: AnswerSession;
  #channel: ObserveChannel | undefined;

  constructor(session: AnswerSession, request: CoapRequest, exchange: Exchange) {
    this.#session = session;
    this.request = request;
    this.#exchange = exchange;
  }

  send(code: string, payload?: Buffer | string, options: ResponseOptions = {}): void {
    const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : (payload ?? EMPTY);
    this.#session.answer(this.#exchange, this.request, this, code, body, options);
  }

  end(payload?: Buffer | string): void {
    this.send(this.code !== '' ? this.code : this.statusCode, payload);
  }

  /**
   * The observation channel for a registration (GET or FETCH with Observe: 0 on an observable
   * resource), or undefined for any other request. Its first write answers the registration.
   */
  observe(): ObserveChannel | undefined {
    const request = this.request;
    if (request.observe !== 0 || (request.code !== '0.01' && request.code !== '0.05')) return undefined;
    if (!this.#channel) {
      const channel = new ObserveChannel(request, (packet) =>
        this.#session.notify(this.#exchange, packet, channel),
      );
      this.#channel = channel;
    }
    return this.#channel;
  }
}

const EMPTY = Buffer.alloc(0);
