/**
 * The signature budget: token buckets for full handshakes, one per source (an IPv4 address or an IPv6
 * prefix, see addressPrefix) and one for the whole server.
 *
 * Why signatures: a full handshake makes the server sign its ServerKeyExchange with its key, and that
 * key may sit in a secure element that signs ~9 times a second (ATECC608A), shared with the upstream
 * TLS client. Cookie-less ClientHellos cost only a stateless HelloVerifyRequest and take nothing from
 * here (a spoofed flood cannot spend the budget); resumed handshakes sign nothing and take nothing
 * either. The per-source bucket keeps one host below what the signer sustains; the global bucket keeps
 * all of them together within it.
 *
 * The source table is bounded: when full, the least recently refilled entry goes first. Evicting an
 * entry only falls back to the global bucket; it cannot grow memory.
 */
export interface TokenBucketSettings {
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Bucket size: how many may come back to back. */
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class HandshakeRateLimiter {
  readonly #perAddress: TokenBucketSettings;
  readonly #global: TokenBucketSettings;
  readonly #maxTracked: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #globalBucket: Bucket;

  constructor(
    perAddress: TokenBucketSettings,
    global: TokenBucketSettings,
    maxTrackedAddresses: number,
    now: () => number = () => performance.now(),
  ) {
    this.#perAddress = perAddress;
    this.#global = global;
    this.#maxTracked = maxTrackedAddresses;
    this.#now = now;
    this.#globalBucket = { tokens: global.burst, at: now() };
  }

  /**
   * Takes one signature for `source`; false when either bucket is empty (no handshake). 'perAddress'
   * or 'global' in `refusedBy` says which, for the counters.
   */
  take(source: string): { ok: true } | { ok: false; refusedBy: 'perAddress' | 'global' } {
    const bucket = this.#bucket(source);
    if (bucket.tokens < 1) return { ok: false, refusedBy: 'perAddress' };
    if (this.#globalBucket.tokens < 1) return { ok: false, refusedBy: 'global' };
    bucket.tokens -= 1;
    this.#globalBucket.tokens -= 1;
    return { ok: true };
  }

  /**
   * Charges a signature that was made without take(): a handshake that offered a cached session id
   * but was not resumed after all. The buckets may go into debt (down to -burst), which later
   * full handshakes pay back.
   */
  charge(source: string): void {
    const bucket = this.#bucket(source);
    bucket.tokens = Math.max(-this.#perAddress.burst, bucket.tokens - 1);
    this.#globalBucket.tokens = Math.max(-this.#global.burst, this.#globalBucket.tokens - 1);
  }

  /** How many sources have a bucket (bounded by maxTrackedAddresses). */
  get trackedAddresses(): number {
    return this.#buckets.size;
  }

  /** Drops buckets that have refilled completely: they carry no information any more. */
  prune(): void {
    const now = this.#now();
    for (const [source, bucket] of this.#buckets) {
      refill(bucket, this.#perAddress, now);
      if (bucket.tokens >= this.#perAddress.burst) this.#buckets.delete(source);
    }
  }

  #bucket(source: string): Bucket {
    const now = this.#now();
    let bucket = this.#buckets.get(source);
    if (bucket) {
      this.#buckets.delete(source); // re-insert: Map order is then least recently seen first
    } else {
      bucket = { tokens: this.#perAddress.burst, at: now };
      while (this.#buckets.size >= this.#maxTracked) {
        const oldest = this.#buckets.keys().next().value as string;
        this.#buckets.delete(oldest);
      }
    }
    this.#buckets.set(source, bucket);
    refill(bucket, this.#perAddress, now);
    refill(this.#globalBucket, this.#global, now);
    return bucket;
  }
}

function refill(bucket: Bucket, settings: TokenBucketSettings, now: number): void {
  const elapsedSeconds = Math.max(0, now - bucket.at) / 1000;
  bucket.tokens = Math.min(settings.burst, bucket.tokens + elapsedSeconds * settings.ratePerSecond);
  bucket.at = now;
}
