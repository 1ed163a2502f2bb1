import { LruCache } from '../validation/index.js';
import type { OcspStatus } from './ocsp-status.js';

/**
 * Verified OCSP answers in memory, by CertId key (issuer key hash and serial), each good until its
 * nextUpdate: what lets a DTLS handshake, which cannot wait for a responder, use OCSP offline.
 * Bounded: the least recently used answers go first (an evicted one is simply asked again).
 */
export class OcspCache {
  readonly #entries: LruCache<string, OcspStatus>;

  constructor(capacity: number) {
    this.#entries = new LruCache(capacity);
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Keeps `status` until its nextUpdate. An answer without nextUpdate promises nothing beyond the
   * moment, so it is not kept; one older than the answer already held (responses can arrive out of
   * order) does not replace it.
   */
  put(key: string, status: OcspStatus): void {
    if (status.nextUpdate === undefined) return;
    const held = this.#entries.get(key);
    if (held !== undefined && held.thisUpdate > status.thisUpdate) return;
    this.#entries.set(key, status);
  }

  /** The answer held for `key` if `at` lies between its thisUpdate (less `skewMs`) and its nextUpdate. */
  get(key: string, at: Date, skewMs: number): OcspStatus | undefined {
    const status = this.#entries.get(key);
    if (status?.nextUpdate === undefined) return undefined;
    if (at > status.nextUpdate || at.getTime() < status.thisUpdate.getTime() - skewMs) return undefined;
    return status;
  }
}
