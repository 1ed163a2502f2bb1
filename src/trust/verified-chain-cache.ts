import { createHash } from 'node:crypto';

/** How many accepted chains are remembered (a fleet's worth; the oldest entry goes first). */
const DEFAULT_MAX_ENTRIES = 16_384;

interface Entry<V> {
  verdict: V;
  /** ms: the verdict's first instant of possible change (its validUntil), or Infinity. */
  expiresAt: number;
  /** ms: when it was judged; a clock that went back past it misses (a not-yet-valid chain). */
  judgedAt: number;
  /** The database's version then (enrollments and name bindings live there). */
  dataVersion: string;
}

/**
 * Accepted sensor verdicts by the exact bytes of the presented chain, so that a sensor's next full
 * handshake (or resumption, or a re-check) does not validate the same chain again.
 *
 * Why safe: the verdict is a function of the chain bytes, the trust state (anchors, CRLs, deny list,
 * enrollments, name bindings) and the time. The owner clears the cache whenever the trust state
 * changes in this process (reload, a CRL landed, OCSP said revoked); `dataVersion` catches changes
 * another process (gatewayctl) committed to the database; and an entry is only served before its
 * validUntil (earliest notAfter on the path, CRL nextUpdate under the bundle's policy) and not before
 * the time it was judged at. Only acceptances are kept: a refusal is judged afresh each time.
 */
export class VerifiedChainCache<V> {
  readonly #entries = new Map<string, Entry<V>>();
  readonly #maxEntries: number;
  hits = 0;
  misses = 0;

  constructor(maxEntries = DEFAULT_MAX_ENTRIES) {
    this.#maxEntries = maxEntries;
  }

  /** The cache key of a chain: SHA-256 over each certificate's length and bytes. */
  static keyOf(chain: readonly Uint8Array[]): string {
    const hash = createHash('sha256');
    const length = Buffer.alloc(4);
    for (const der of chain) {
      length.writeUInt32BE(der.length);
      hash.update(length).update(der);
    }
    return hash.digest('base64');
  }

  get(key: string, now: number, dataVersion: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry && now < entry.expiresAt && now >= entry.judgedAt && dataVersion === entry.dataVersion) {
      this.hits++;
      return entry.verdict;
    }
    if (entry) this.#entries.delete(key);
    this.misses++;
    return undefined;
  }

  set(key: string, verdict: V, at: { now: number; expiresAt: number; dataVersion: string }): void {
    if (at.now >= at.expiresAt) return;
    this.#entries.delete(key);
    this.#entries.set(key, {
      verdict,
      expiresAt: at.expiresAt,
      judgedAt: at.now,
      dataVersion: at.dataVersion,
    });
    if (this.#entries.size > this.#maxEntries) {
      this.#entries.delete(this.#entries.keys().next().value as string);
    }
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}
