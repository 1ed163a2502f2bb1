/**
 * Message ids each sensor session used recently, so that a request is processed once (RFC 7252 §4.5).
 * node-coap's own deduplication replays an answer it has cached for the exchange (a piggybacked one,
 * or a NON's), but a CON retransmitted while the handler is still working or after a separate
 * response, and a NON duplicated before its answer went out, reach the handler again — and telemetry
 * must reach the sink once.
 *
 * Ids are kept for EXCHANGE_LIFETIME (which covers NON_LIFETIME too), at most `maxPerPeer` per
 * session, and forgotten when the session ends: a sensor that reboots and reconnects from the same
 * port may start its message ids over.
 */
export class DuplicateFilter {
  readonly #lifetimeMs: number;
  readonly #maxPerPeer: number;
  readonly #now: () => number;
  /** Per session: message id → when it stops counting; insertion order is expiry order. */
  readonly #seen = new Map<string, Map<number, number>>();

  constructor(options: { lifetimeMs: number; maxPerPeer: number; now?: () => number }) {
    this.#lifetimeMs = options.lifetimeMs;
    this.#maxPerPeer = options.maxPerPeer;
    this.#now = options.now ?? Date.now;
  }

  /** True when `messageId` from `peer` was seen within its lifetime; otherwise remembers it. */
  isDuplicate(peer: string, messageId: number): boolean {
    const now = this.#now();
    let ids = this.#seen.get(peer);
    if (!ids) {
      ids = new Map();
      this.#seen.set(peer, ids);
    }
    const expiresAt = ids.get(messageId);
    if (expiresAt !== undefined && expiresAt > now) return true;
    ids.delete(messageId);
    // Expired ids go first; past the cap the oldest go too (a session sending that fast is not waiting).
    for (const [id, until] of ids) {
      if (until > now && ids.size < this.#maxPerPeer) break;
      ids.delete(id);
    }
    ids.set(messageId, now + this.#lifetimeMs);
    return false;
  }

  forgetPeer(peer: string): void {
    this.#seen.delete(peer);
  }

  clear(): void {
    this.#seen.clear();
  }
}
