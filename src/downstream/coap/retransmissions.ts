import coap from 'coap';

/** RFC 7252 §4.8 with node-coap's transmission parameters (the sensors' clients were tuned to these). */
const ACK_TIMEOUT_MS = coap.parameters.ackTimeout * 1000;
const ACK_RANDOM_FACTOR = coap.parameters.ackRandomFactor;
const MAX_RETRANSMIT = coap.parameters.maxRetransmit;

interface Outgoing {
  datagram: Buffer;
  timer: NodeJS.Timeout;
  retransmissions: number;
  delayMs: number;
  /** Called when the sensor resets the message. */
  onReset: (() => void) | undefined;
}

/**
 * The gateway's confirmable messages of one session (separate responses, notifications) until the
 * sensor acknowledges or resets them: each is retransmitted with exponential back-off from a random
 * ACK_TIMEOUT × [1, ACK_RANDOM_FACTOR], at most MAX_RETRANSMIT times (RFC 7252 §4.2), then given up.
 * At most `max` are outstanding (the oldest stops being retransmitted). Created on a session's first
 * such message; one timer per message outstanding, none otherwise.
 */
export class Retransmissions {
  readonly #send: (datagram: Buffer) => void;
  readonly #max: number;
  readonly #byId = new Map<number, Outgoing>();

  constructor(send: (datagram: Buffer) => void, max: number) {
    this.#send = send;
    this.#max = max;
  }

  /** Sends `datagram` (message id `messageId`) now and again until it is settled. */
  start(messageId: number, datagram: Buffer, onReset?: () => void): void {
    this.#stop(messageId);
    for (const oldest of this.#byId.keys()) {
      if (this.#byId.size < this.#max) break;
      this.#stop(oldest);
    }
    const delayMs = ACK_TIMEOUT_MS * (1 + (ACK_RANDOM_FACTOR - 1) * Math.random());
    const outgoing: Outgoing = {
      datagram,
      timer: setTimeout(() => this.#again(messageId, outgoing), delayMs),
      retransmissions: 0,
      delayMs,
      onReset,
    };
    this.#byId.set(messageId, outgoing);
    this.#send(datagram);
  }

  /** An ACK or RST for `messageId`: true when it settled one of ours. */
  settle(messageId: number, reset: boolean): boolean {
    const outgoing = this.#byId.get(messageId);
    if (!outgoing) return false;
    this.#stop(messageId);
    if (reset) outgoing.onReset?.();
    return true;
  }

  get size(): number {
    return this.#byId.size;
  }

  clear(): void {
    for (const outgoing of this.#byId.values()) clearTimeout(outgoing.timer);
    this.#byId.clear();
  }

  #again(messageId: number, outgoing: Outgoing): void {
    if (outgoing.retransmissions >= MAX_RETRANSMIT) {
      this.#byId.delete(messageId);
      return;
    }
    outgoing.retransmissions++;
    outgoing.delayMs *= 2;
    outgoing.timer = setTimeout(() => this.#again(messageId, outgoing), outgoing.delayMs);
    this.#send(outgoing.datagram);
  }

  #stop(messageId: number): void {
    const outgoing = this.#byId.get(messageId);
    if (!outgoing) return;
    clearTimeout(outgoing.timer);
    this.#byId.delete(messageId);
  }
}
