/** Where one request's exchange stands (RFC 7252 §5.2). */
export enum ExchangeState {
  /** Not answered yet: a CON's answer can still ride on the ACK. */
  Pending = 0,
  /** A CON acknowledged with an empty ACK: its answer goes as a separate confirmable response. */
  Acknowledged = 1,
  Answered = 2,
}

/** One request of a session, remembered by message id for EXCHANGE_LIFETIME (RFC 7252 §4.5). */
export interface Exchange {
  readonly messageId: number;
  /** The token as a latin1 string: a Buffer here would keep the whole datagram it was sliced from. */
  readonly token: string;
  readonly confirmable: boolean;
  readonly expiresAt: number;
  state: ExchangeState;
  /** The datagram that answered it (piggy-backed or NON), replayed to a duplicate; dropped past the bound. */
  answer: Buffer | undefined;
  /** The piggy-back window's timer: when it fires, the empty ACK goes. */
  piggyback: NodeJS.Timeout | undefined;
}

/**
 * One session's recent exchanges, so that a request is processed once (RFC 7252 §4.5): a duplicate
 * gets the answer again without reaching the route. Ids are kept for EXCHANGE_LIFETIME (which covers
 * NON_LIFETIME), at most `maxIds`; answers for the latest `maxAnswers` only (a sensor waits for one
 * answer at a time, NSTART = 1), so a busy session holds a few datagrams, not one per message.
 * Created on a session's first request: an idle session has none.
 */
export class ExchangeCache {
  readonly #lifetimeMs: number;
  readonly #maxIds: number;
  /** Insertion order is expiry order. */
  readonly #byId = new Map<number, Exchange>();
  /** Exchanges holding an answer, oldest first. */
  readonly #answered: Exchange[] = [];

  constructor(lifetimeMs: number, maxIds: number) {
    this.#lifetimeMs = lifetimeMs;
    this.#maxIds = maxIds;
  }

  /** The exchange of `messageId` still within its lifetime. */
  find(messageId: number, now: number): Exchange | undefined {
    const exchange = this.#byId.get(messageId);
    if (exchange === undefined || exchange.expiresAt > now) return exchange;
    this.#forget(exchange);
    return undefined;
  }

  /** Remembers a new request (expired ids go first; past the cap, the oldest). */
  open(messageId: number, token: string, confirmable: boolean, now: number): Exchange {
    for (const exchange of this.#byId.values()) {
      if (exchange.expiresAt > now && this.#byId.size < this.#maxIds) break;
      this.#forget(exchange);
    }
    const exchange: Exchange = {
      messageId,
      token,
      confirmable,
      expiresAt: now + this.#lifetimeMs,
      state: ExchangeState.Pending,
      answer: undefined,
      piggyback: undefined,
    };
    this.#byId.set(messageId, exchange);
    return exchange;
  }

  /** Keeps the datagram that answered `exchange`, for its duplicates. */
  keep(exchange: Exchange, datagram: Buffer): void {
    if (!this.#byId.has(exchange.messageId)) return;
    if (exchange.answer === undefined) this.#answered.push(exchange);
    exchange.answer = datagram;
  }

  /** Answers kept now. */
  get answers(): number {
    return this.#answered.length;
  }

  /** Drops the oldest answer kept (its id is still remembered); false when none is. */
  dropOldestAnswer(): boolean {
    const oldest = this.#answered.shift();
    if (!oldest) return false;
    oldest.answer = undefined;
    return true;
  }

  /** Stops every piggy-back timer (the session ended). */
  clear(): void {
    for (const exchange of this.#byId.values()) clearTimeout(exchange.piggyback);
    this.#byId.clear();
    this.#answered.length = 0;
  }

  #forget(exchange: Exchange): void {
    clearTimeout(exchange.piggyback);
    this.#byId.delete(exchange.messageId);
    if (exchange.answer !== undefined) {
      const index = this.#answered.indexOf(exchange);
      if (index >= 0) this.#answered.splice(index, 1);
      exchange.answer = undefined;
    }
  }
}
