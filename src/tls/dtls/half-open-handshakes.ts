/**
 * Caps on handshakes past the cookie exchange but not yet complete, per source (address or IPv6
 * prefix, see addressPrefix) and for the whole server.
 *
 * Why: each holds an SSL object and its handshake buffers (tens of KB) until it completes or times out
 * (handshakeTimeoutMs), and a host that abandons handshakes after valid cookies could otherwise fill
 * maxSessions alone; established sessions are not counted here.
 */
export class HalfOpenHandshakes {
  readonly #perSource: number;
  readonly #global: number;
  readonly #bySource = new Map<string, number>();
  #total = 0;

  constructor(perSource: number, global: number) {
    this.#perSource = perSource;
    this.#global = global;
  }

  /** Which cap a new handshake from `source` would break, if any. */
  refusal(source: string): 'perAddress' | 'global' | undefined {
    if ((this.#bySource.get(source) ?? 0) >= this.#perSource) return 'perAddress';
    if (this.#total >= this.#global) return 'global';
    return undefined;
  }

  add(source: string): void {
    this.#bySource.set(source, (this.#bySource.get(source) ?? 0) + 1);
    this.#total++;
  }

  remove(source: string): void {
    const count = this.#bySource.get(source) ?? 0;
    if (count === 0) return;
    if (count === 1) this.#bySource.delete(source);
    else this.#bySource.set(source, count - 1);
    this.#total--;
  }

  get total(): number {
    return this.#total;
  }
}
