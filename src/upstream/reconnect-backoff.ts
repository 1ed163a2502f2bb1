/**
 * Delays between reconnect attempts: exponential growth from `initialMs` to `maxMs` with full jitter
 * (a uniform pick below the ceiling, never under `initialMs`), so a fleet that lost its broker at
 * once does not come back at once.
 */
export class ReconnectBackoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(initialMs: number, maxMs: number, random: () => number = Math.random) {
    this.#initialMs = initialMs;
    this.#maxMs = Math.max(initialMs, maxMs);
    this.#random = random;
  }

  /** Attempts since the last reset(). */
  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt (and counts it). */
  next(): number {
    this.#attempt++;
    const ceiling = Math.min(this.#maxMs, this.#initialMs * 2 ** Math.min(this.#attempt - 1, 52));
    return Math.max(this.#initialMs, Math.round(this.#random() * ceiling));
  }

  /** A connection succeeded: the next outage starts over from `initialMs`. */
  reset(): void {
    this.#attempt = 0;
  }
}
