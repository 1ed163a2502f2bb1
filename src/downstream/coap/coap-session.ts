import coap from 'coap';
import { generate, type ParsedPacket, parse } from 'coap-packet';
import { answerDatagram } from './answer-datagram.js';
import { type AnswerSession, CoapAnswer } from './coap-answer.js';
import { CoapRequest } from './coap-request.js';
import type { EmptyMessage } from './empty-message.js';
import { errorAnswerPayload } from './error-answers.js';
import { type Exchange, ExchangeCache, ExchangeState } from './exchange-cache.js';
import { LargeAnswer } from './large-answer.js';
import type { NotificationPacket, ObserveChannel } from './observe-channel.js';
import { answerOptions, type ResponseOptions } from './option-values.js';
import { Retransmissions } from './retransmissions.js';

/** What all sessions share: the way out, and where error answers are reported. */
export interface SessionHooks {
  send(address: string, port: number, datagram: Buffer): void;
  /** The session answered `code` by itself (unparseable request, a route that threw, …): `text` says why. */
  errorAnswered(session: string, code: string, text: string): void;
}

export type RequestListener = (request: CoapRequest, answer: CoapAnswer) => void;

/** RFC 7252 §4.8.2 with node-coap's transmission parameters, as before. */
const EXCHANGE_LIFETIME_MS = coap.parameters.exchangeLifetime * 1000;
/** How long an answer may take to ride on the ACK before an empty ACK goes (node-coap's 50 ms). */
const PIGGYBACK_MS = coap.parameters.piggybackReplyMs;
const MAX_MESSAGE_BYTES = coap.parameters.maxMessageSize;
/** Message ids remembered per session (the bound node-coap's server used to have per address). */
const MAX_IDS = 512;
/** Confirmable messages of ours outstanding per session (a sensor has one request at a time). */
const MAX_OUTSTANDING = 4;
/** RFC 7252 §3: a token is 0 to 8 bytes (coap-packet also reads RFC 8974's extended tokens). */
const MAX_TOKEN_BYTES = 8;
const NO_PATHS: ReadonlySet<string> = new Set();

/**
 * One DTLS session's CoAP messaging (RFC 7252 §4, §5): each datagram is parsed once by coap-packet
 * and dispatched — a request to the listener with its answer, an ACK or RST to the message of ours it
 * settles. Requests are deduplicated by message id (a duplicate gets the same answer again, or an
 * empty ACK, and never reaches the route twice); an answer rides on the ACK when it comes within
 * 50 ms, otherwise an empty ACK goes and the answer follows as a confirmable separate response,
 * retransmitted until acknowledged. An answer of 1,024 bytes or more goes block-wise (Block2).
 *
 * An idle session is this object alone: the exchange cache, the retransmissions and the large answer
 * are created when first needed, and timers run only while an answer or one of our CONs is pending.
 * Everything goes when the session ends, so the next session at the same address starts afresh.
 */
export class CoapSession implements AnswerSession {
  /** "address:port/serial": unique for the endpoint's lifetime, unlike address:port. */
  readonly id: string;
  readonly address: string;
  readonly port: number;
  /** The DtlsPeer the DTLS server last handed us for it (it replaces the object on reverify). */
  peer: { address: string; port: number; identity?: { attributes?: unknown } };
  /** Resources whose GET may carry Observe; the option is not read on any other. */
  observablePaths: ReadonlySet<string> = NO_PATHS;
  /** Every empty ACK and RST. */
  onEmptyMessage: ((message: EmptyMessage) => void) | undefined;
  /** A duplicate request that did not reach the listener. */
  onDuplicate: (() => void) | undefined;
  /** A message dropped as malformed (a token over 8 bytes, RFC 7252 §4.2, §4.3). */
  onDropped: (() => void) | undefined;
  readonly #hooks: SessionHooks;
  #listener: RequestListener | undefined;
  #exchanges: ExchangeCache | undefined;
  #outgoing: Retransmissions | undefined;
  #large: LargeAnswer | undefined;
  #closed = false;

  constructor(
    id: string,
    peer: { address: string; port: number; identity?: { attributes?: unknown } },
    hooks: SessionHooks,
  ) {
    this.id = id;
    this.address = peer.address;
    this.port = peer.port;
    this.peer = peer;
    this.#hooks = hooks;
  }

  /** Sets the request listener (one per session; node-coap's server had the same call). */
  on(_event: 'request', listener: RequestListener): this {
    this.#listener = listener;
    return this;
  }

  /** True once the session ended (close()). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Answers kept for duplicates now (AnswerCacheBound). */
  get answers(): number {
    return this.#exchanges?.answers ?? 0;
  }

  dropOldestAnswer(): boolean {
    return this.#exchanges?.dropOldestAnswer() ?? false;
  }

  /** One decrypted datagram of this session. */
  receive(datagram: Buffer): void {
    if (this.#closed) return;
    let packet: ParsedPacket;
    try {
      packet = parse(datagram);
    } catch (error) {
      this.#errorAnswer('5.00', (error as Error).message, undefined);
      return;
    }
    if (packet.token.length > MAX_TOKEN_BYTES) {
      this.onDropped?.();
      return;
    }
    const code = packet.code;
    if (packet.ack || packet.reset) {
      if (code === '0.00') {
        this.onEmptyMessage?.({
          kind: packet.ack ? 'ack' : 'reset',
          messageId: packet.messageId,
          peer: this.id,
        });
      }
      if (code.startsWith('0.')) this.#outgoing?.settle(packet.messageId, packet.reset);
      return;
    }
    // A response from a sensor (the gateway asks none): ignored.
    if (!code.startsWith('0.')) return;
    this.#request(packet);
  }

  close(): void {
    this.#closed = true;
    this.#exchanges?.clear();
    this.#outgoing?.clear();
    this.#large = undefined;
  }

  answer(
    exchange: Exchange,
    request: CoapRequest,
    answer: CoapAnswer,
    code: string,
    payload: Buffer,
    options: ResponseOptions,
  ): void {
    if (exchange.state === ExchangeState.Answered) return;
    let body = payload;
    let answerOptionsGiven = options;
    const large = LargeAnswer.cut(request, code, payload, options);
    if (large) {
      this.#large = large.answer;
      body = large.first.payload;
      answerOptionsGiven = large.first.options;
    }
    const separate = exchange.state === ExchangeState.Acknowledged;
    clearTimeout(exchange.piggyback);
    exchange.piggyback = undefined;
    exchange.state = ExchangeState.Answered;
    // A separate response is a CON of ours (generate() gives it a new message id); any other answer
    // takes the request's id.
    const packet = separate
      ? ({
          code,
          token: request.token,
          options: answerOptions(answerOptionsGiven),
          payload: body,
          confirmable: true,
          ack: false,
        } as NotificationPacket)
      : undefined;
    let datagram: Buffer;
    try {
      datagram = packet
        ? generate(packet, MAX_MESSAGE_BYTES)
        : answerDatagram(
            code,
            request.token,
            request.messageId,
            request.confirmable,
            answerOptionsGiven,
            body,
            MAX_MESSAGE_BYTES,
          );
    } catch (error) {
      answer.onFailure?.(error as Error);
      this.#errorAnswer('5.00', `answer not sent: ${(error as Error).message}`, request);
      return;
    }
    if (packet) {
      this.#retransmissions().start(packet.messageId as number, datagram);
      return;
    }
    this.#exchanges?.keep(exchange, datagram);
    this.#send(datagram);
  }

  notify(exchange: Exchange, packet: NotificationPacket, channel: ObserveChannel): void {
    let datagram: Buffer;
    try {
      datagram = generate(packet, MAX_MESSAGE_BYTES);
    } catch (error) {
      channel.emit('error', error);
      return;
    }
    if (packet.confirmable && !packet.ack) {
      this.#retransmissions().start(packet.messageId as number, datagram, () => channel.end());
      return;
    }
    if (exchange.state !== ExchangeState.Answered) {
      // The registration's answer: a duplicate of the registration gets it again.
      clearTimeout(exchange.piggyback);
      exchange.piggyback = undefined;
      exchange.state = ExchangeState.Answered;
      this.#exchanges?.keep(exchange, datagram);
    }
    this.#send(datagram);
  }

  #request(packet: ParsedPacket): void {
    const request = new CoapRequest(packet, this.observablePaths, this.peer.identity);
    const now = Date.now();
    this.#exchanges ??= new ExchangeCache(EXCHANGE_LIFETIME_MS, MAX_IDS);
    const earlier = this.#exchanges.find(packet.messageId, now);
    if (earlier) {
      this.#duplicate(earlier, request);
      return;
    }
    if (request.observe === 0 && request.code !== '0.01' && request.code !== '0.05') {
      this.#errorAnswer('5.00', 'Observe can only be present with a GET or a FETCH', undefined);
      return;
    }
    if (request.code === '0.05' && request.contentFormat === undefined) {
      this.#errorAnswer('4.15', 'FETCH requests must contain a Content-Format option', undefined);
      return;
    }
    const exchange = this.#exchanges.open(
      packet.messageId,
      packet.token.toString('latin1'),
      packet.confirmable,
      now,
    );
    const answer = new CoapAnswer(this, request, exchange);
    const large = this.#large;
    if (large?.asks(request)) {
      const block = large.block(request.block2 as NonNullable<CoapRequest['block2']>);
      if (block) answer.send(block.code, block.payload, block.options);
      else answer.send('4.02', undefined);
      return;
    }
    try {
      this.#listener?.(request, answer);
    } catch (error) {
      if (exchange.state !== ExchangeState.Answered) {
        clearTimeout(exchange.piggyback);
        exchange.state = ExchangeState.Answered;
        this.#errorAnswer('5.00', (error as Error).message, request);
      }
      return;
    }
    if (exchange.state === ExchangeState.Pending && exchange.confirmable) {
      exchange.piggyback = setTimeout(() => this.#acknowledge(exchange), PIGGYBACK_MS);
    }
  }

  /** A request whose message id this session saw within EXCHANGE_LIFETIME (RFC 7252 §4.5). */
  #duplicate(earlier: Exchange, request: CoapRequest): void {
    if (earlier.answer !== undefined && earlier.token === request.token.toString('latin1')) {
      this.#send(earlier.answer);
      return;
    }
    this.onDuplicate?.();
    // Answered separately, or its answer no longer kept: the sensor still needs the ACK.
    if (request.confirmable && earlier.state !== ExchangeState.Pending)
      this.#send(emptyAck(request.messageId));
  }

  /** The piggy-back window passed: an empty ACK now, the answer as a separate response later. */
  #acknowledge(exchange: Exchange): void {
    exchange.piggyback = undefined;
    if (this.#closed || exchange.state !== ExchangeState.Pending) return;
    exchange.state = ExchangeState.Acknowledged;
    this.#send(emptyAck(exchange.messageId));
  }

  /**
   * An answer the session makes itself, as node-coap made it (NON; the request's id and token when
   * there is a request, else a new id): 5.00 says nothing internal, other codes are cut short.
   */
  #errorAnswer(code: string, text: string, request: CoapRequest | undefined): void {
    try {
      this.#send(
        generate(
          {
            code,
            payload: errorAnswerPayload(code, text),
            ...(request ? { messageId: request.messageId, token: request.token } : {}),
          },
          MAX_MESSAGE_BYTES,
        ),
      );
    } catch {
      // Nothing from here may reach the DTLS server's event handler: the sensor retransmits or gives up.
    }
    this.#hooks.errorAnswered(this.id, code, text);
  }

  #retransmissions(): Retransmissions {
    this.#outgoing ??= new Retransmissions((datagram) => this.#send(datagram), MAX_OUTSTANDING);
    return this.#outgoing;
  }

  #send(datagram: Buffer): void {
    if (!this.#closed) this.#hooks.send(this.address, this.port, datagram);
  }
}

/** An empty ACK (RFC 7252 §4.2): 4 bytes, no token. */
function emptyAck(messageId: number): Buffer {
  return Buffer.of(0x60, 0x00, messageId >> 8, messageId & 0xff);
}
