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
  /** Its slot in the cache's ring; -1 once the cache let it go (ExchangeCache's own). */
  slot: number;
}

/** Slots a session's id ring starts with; it doubles up to `maxIds` (a sensor sending now and then stays small). */
const FIRST_CAPACITY = 16;

/**
 * One session's recent exchanges, so that a request is processed once (RFC 7252 §4.5): a duplicate
 * gets the answer again without reaching the route. Ids are kept for EXCHANGE_LIFETIME (which covers
 * NON_LIFETIME), at most `maxIds`; answers for the latest `maxAnswers` only (a sensor waits for one
 * answer at a time, NSTART = 1), so a busy session holds a few datagrams, not one per message.
 * Created on a session's first request: an idle session has none.
 *
 * The ids sit in a ring of typed arrays (id, expiry, confirmable, live), found by a scan of the ids;
 * an exchange keeps its object only while it matters (not answered yet, or its answer kept). Why:
 * under load every request's Exchange lived on in a Map for its session's next 512 requests, so each
 * scavenge copied the latest 512 of every session and the Map's rehashed tables (--trace-gc-nvp,
 * 8 sessions at 10k GET/s: ~410 KB survived per scavenge), and a scavenge stops the event loop: the
 * GET latency tail.
 */
export class ExchangeCache {
  readonly #lifetimeMs: number;
  readonly #maxIds: number;
  #ids = new Uint16Array(FIRST_CAPACITY);
  #expires = new Float64Array(FIRST_CAPACITY);
  #confirmable = new Uint8Array(FIRST_CAPACITY);
  /** 1: the slot's id is remembered; 0: free, evicted or forgotten (a hole until it is the oldest). */
  #live = new Uint8Array(FIRST_CAPACITY);
  /** The exchange objects still needed (pending, or holding an answer); undefined once settled. */
  #objects: (Exchange | undefined)[] = new Array(FIRST_CAPACITY).fill(undefined);
  /** Oldest slot, and slots in use from there (holes included). Insertion order is expiry order. */
  #head = 0;
  #count = 0;
  /** Exchanges holding an answer, oldest first. */
  readonly #answered: Exchange[] = [];

  constructor(lifetimeMs: number, maxIds: number) {
    this.#lifetimeMs = lifetimeMs;
    this.#maxIds = maxIds;
  }

  /** The exchange of `messageId` still within its lifetime. */
  find(messageId: number, now: number): Exchange | undefined {
    const slot = this.#slotOf(messageId);
    if (slot < 0) return undefined;
    if ((this.#expires[slot] as number) > now) return this.#objects[slot] ?? this.#settled(slot);
    this.#forget(slot);
    return undefined;
  }

  /** Remembers a new request, one find() did not know (expired ids go first; past the cap, the oldest). */
  open(messageId: number, token: string, confirmable: boolean, now: number): Exchange {
    while (this.#count > 0) {
      const oldest = this.#head;
      if (this.#live[oldest] === 1 && (this.#expires[oldest] as number) > now && this.#count < this.#maxIds)
        break;
      this.#forget(oldest);
      this.#head = (oldest + 1) % this.#ids.length;
      this.#count--;
    }
    if (this.#count === this.#ids.length) this.#grow();
    const slot = (this.#head + this.#count) % this.#ids.length;
    this.#count++;
    const exchange: Exchange = {
      messageId,
      token,
      confirmable,
      expiresAt: now + this.#lifetimeMs,
      state: ExchangeState.Pending,
      answer: undefined,
      piggyback: undefined,
      slot,
    };
    this.#ids[slot] = messageId;
    this.#expires[slot] = exchange.expiresAt;
    this.#confirmable[slot] = confirmable ? 1 : 0;
    this.#live[slot] = 1;
    this.#objects[slot] = exchange;
    return exchange;
  }

  /** Keeps the datagram that answered `exchange`, for its duplicates. */
  keep(exchange: Exchange, datagram: Buffer): void {
    if (exchange.slot < 0 || this.#objects[exchange.slot] !== exchange) return;
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
    if (oldest.state === ExchangeState.Answered && oldest.slot >= 0) {
      // Settled: its id alone goes on (a duplicate now gets the ACK only); the object can go.
      this.#objects[oldest.slot] = undefined;
      oldest.slot = -1;
    }
    return true;
  }

  /** Stops every piggy-back timer (the session ended). */
  clear(): void {
    for (const exchange of this.#objects) {
      if (exchange === undefined) continue;
      clearTimeout(exchange.piggyback);
      exchange.slot = -1;
    }
    this.#objects.fill(undefined);
    this.#live.fill(0);
    this.#head = 0;
    this.#count = 0;
    this.#answered.length = 0;
  }

  /** The live slot holding `messageId`, or -1 (a typed array's indexOf: no Map to rehash). */
  #slotOf(messageId: number): number {
    let slot = this.#ids.indexOf(messageId);
    while (slot >= 0 && this.#live[slot] === 0) slot = this.#ids.indexOf(messageId, slot + 1);
    return slot;
  }

  /** A settled exchange as a duplicate sees it: answered, its answer no longer kept. */
  #settled(slot: number): Exchange {
    return {
      messageId: this.#ids[slot] as number,
      token: '',
      confirmable: this.#confirmable[slot] === 1,
      expiresAt: this.#expires[slot] as number,
      state: ExchangeState.Answered,
      answer: undefined,
      piggyback: undefined,
      slot: -1,
    };
  }

  /** The slot's id is no longer remembered; its object goes (timer stopped, answer no longer counted). */
  #forget(slot: number): void {
    this.#live[slot] = 0;
    const exchange = this.#objects[slot];
    if (exchange === undefined) return;
    this.#objects[slot] = undefined;
    exchange.slot = -1;
    clearTimeout(exchange.piggyback);
    if (exchange.answer !== undefined) {
      const index = this.#answered.indexOf(exchange);
      if (index >= 0) this.#answered.splice(index, 1);
      exchange.answer = undefined;
    }
  }

  /** Twice the slots (up to maxIds), the ring unrolled from its oldest slot. */
  #grow(): void {
    const capacity = Math.min(this.#maxIds, this.#ids.length * 2);
    const ids = new Uint16Array(capacity);
    const expires = new Float64Array(capacity);
    const confirmable = new Uint8Array(capacity);
    const live = new Uint8Array(capacity);
    const objects: (Exchange | undefined)[] = new Array(capacity).fill(undefined);
    for (let i = 0; i < this.#count; i++) {
      const from = (this.#head + i) % this.#ids.length;
      ids[i] = this.#ids[from] as number;
      expires[i] = this.#expires[from] as number;
      confirmable[i] = this.#confirmable[from] as number;
      live[i] = this.#live[from] as number;
      const exchange = this.#objects[from];
      objects[i] = exchange;
      if (exchange) exchange.slot = i;
    }
    this.#ids = ids;
    this.#expires = expires;
    this.#confirmable = confirmable;
    this.#live = live;
    this.#objects = objects;
    this.#head = 0;
  }
}
