import type coap from 'coap';

/** The part of node-coap's answer cache (an lru-cache in the server's `_lru`) this bound uses. */
interface AnswerLru {
  size: number;
  pop(): unknown;
}

/** Answers kept per established session: a sensor waits for one answer at a time (NSTART = 1). */
const ANSWERS_PER_SESSION = 4;
/** Room beyond that for sessions that just ended or are about to start. */
const SPARE_ANSWERS = 1024;

/**
 * node-coap keeps every answer for EXCHANGE_LIFETIME (247 s) to replay it to a retransmission, with
 * the request, the response and a retransmission timer attached (~6 KB each), and bounds the cache
 * by the answers' bytes only (32 MiB of ~13-byte answers: millions). At 1,000 messages/s that is
 * ~1.5 GB. Only a session's latest answers can still be asked for again, so this keeps a few per
 * established session and evicts the oldest beyond (eviction clears their timers).
 */
export class AnswerCacheBound {
  readonly #lru: AnswerLru | undefined;
  #evicted = 0;
  #limit = SPARE_ANSWERS;

  constructor(server: ReturnType<typeof coap.createServer>) {
    this.#lru = (server as unknown as { _lru?: AnswerLru })._lru;
  }

  /** Evicts the oldest answers beyond the bound for `sessions` established sessions. */
  trim(sessions: number): void {
    const lru = this.#lru;
    this.#limit = sessions * ANSWERS_PER_SESSION + SPARE_ANSWERS;
    if (!lru) return;
    while (lru.size > this.#limit) {
      lru.pop();
      this.#evicted++;
    }
  }

  status(): { entries: number; limit: number; evicted: number } {
    return { entries: this.#lru?.size ?? 0, limit: this.#limit, evicted: this.#evicted };
  }
}
