import type coap from 'coap';

/** The part of node-coap's answer cache (an lru-cache in the server's `_lru`) this bound uses. */
interface AnswerLru {
  size: number;
  pop(): unknown;
}

type CoapServer = ReturnType<typeof coap.createServer>;

/** Answers kept per session: a sensor waits for one answer at a time (NSTART = 1). */
export const ANSWERS_PER_SESSION = 4;

/**
 * node-coap keeps every answer for EXCHANGE_LIFETIME (247 s) to replay it to a retransmission, with
 * the request, the response and a retransmission timer attached (~6 KB each), and bounds the cache
 * by the answers' bytes only (32 MiB of ~13-byte answers: millions). At 1,000 messages/s that is
 * ~1.5 GB. Only a session's latest answers can still be asked for again, and each session has its
 * own node-coap server (CoapSessions), so this keeps a few per session and evicts the oldest beyond
 * (eviction clears their timers). A session's answers go when it ends.
 */
export class AnswerCacheBound {
  #evicted = 0;

  /** Evicts a session's oldest answers beyond ANSWERS_PER_SESSION. */
  trim(server: CoapServer): void {
    const lru = lruOf(server);
    if (!lru) return;
    while (lru.size > ANSWERS_PER_SESSION) {
      lru.pop();
      this.#evicted++;
    }
  }

  status(servers: readonly CoapServer[]): { entries: number; limit: number; evicted: number } {
    let entries = 0;
    for (const server of servers) entries += lruOf(server)?.size ?? 0;
    return { entries, limit: servers.length * ANSWERS_PER_SESSION, evicted: this.#evicted };
  }
}

function lruOf(server: CoapServer): AnswerLru | undefined {
  return (server as unknown as { _lru?: AnswerLru })._lru;
}
