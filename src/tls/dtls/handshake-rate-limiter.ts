/**
 * Token buckets for ClientHellos: one per source address (IP, not port) and one for the whole server.
 *
 * Why: the cookie exchange keeps a flood from creating sessions, but every ClientHello still costs an
 * HMAC and a HelloVerifyRequest, and every cookie-carrying one a full handshake (an ECDSA signature).
 * The per-address bucket keeps one noisy or hostile host from starving the others; the global bucket
 * caps what spoofed floods (one packet per fake address) can make the gateway send.
 *
 * The address table is bounded: when full, the least recently refilled entry goes first. A spoofing
 * attacker can thereby reset buckets, which only falls back to the global bucket; it cannot grow memory.
 */
export interface TokenBucketSettings {
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Bucket size: how many ClientHellos may arrive back to back. */
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

  /** Takes one token for `address`; false when either bucket is empty (the ClientHello is dropped). */
  take(address: string): boolean {
    const now = this.#now();
    let bucket = this.#buckets.get(address);
    if (bucket) {
      this.#buckets.delete(address); // re-insert: Map order is then least recently seen first
    } else {
      bucket = { tokens: this.#perAddress.burst, at: now };
      while (this.#buckets.size >= this.#maxTracked) {
        const oldest = this.#buckets.keys().next().value as string;
        this.#buckets.delete(oldest);
      }
    }
    this.#buckets.set(address, bucket);
    refill(bucket, this.#perAddress, now);
    refill(this.#globalBucket, this.#global, now);
    if (bucket.tokens < 1 || this.#globalBucket.tokens < 1) return false;
    bucket.tokens -= 1;
    this.#globalBucket.tokens -= 1;
    return true;
  }

  /** How many addresses have a bucket (bounded by maxTrackedAddresses). */
  get trackedAddresses(): number {
    return this.#buckets.size;
  }

  /** Drops buckets that have refilled completely: they carry no information any more. */
  prune(): void {
    const now = this.#now();
    for (const [address, bucket] of this.#buckets) {
      refill(bucket, this.#perAddress, now);
      if (bucket.tokens >= this.#perAddress.burst) this.#buckets.delete(address);
    }
  }
}

function refill(bucket: Bucket, settings: TokenBucketSettings, now: number): void {
  const elapsedSeconds = Math.max(0, now - bucket.at) / 1000;
  bucket.tokens = Math.min(settings.burst, bucket.tokens + elapsedSeconds * settings.ratePerSecond);
  bucket.at = now;
}
