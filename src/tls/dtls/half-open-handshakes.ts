/**
 * Caps on handshakes past the cookie exchange but not yet complete, per source (address or IPv6
 * prefix, see addressPrefix) and for the whole server.
 *
 * Why: each holds an SSL object and its handshake buffers (tens of KB) until it completes or times out
 * (handshakeTimeoutMs), and a host that abandons handshakes after valid cookies could otherwise fill
 * maxSessions alone; established sessions are not counted here.
 *
 * Resumptions the server recognized before admitting them (a ticket whose key name and HMAC are ours,
 * or a session id of its cache) have a global allowance of their own: they sign nothing and finish in
 * one round trip, so after a restart a whole fleet resuming at once is not refused by the cap sized for
 * signed handshakes, and a flood of full handshakes cannot crowd them out. Both kinds count against the
 * same per-source cap, and a forged ticket is not recognized, so it is a full handshake here too.
 */
export type HalfOpenKind = 'full' | 'resumption';

export class HalfOpenHandshakes {
  readonly #perSource: number;
  readonly #global: Record<HalfOpenKind, number>;
  readonly #bySource = new Map<string, number>();
  readonly #total: Record<HalfOpenKind, number> = { full: 0, resumption: 0 };

  constructor(perSource: number, global: number, globalResumptions = global) {
    this.#perSource = perSource;
    this.#global = { full: global, resumption: globalResumptions };
  }

  /** Which cap a new handshake of `kind` from `source` would break, if any. */
  refusal(source: string, kind: HalfOpenKind = 'full'): 'perAddress' | 'global' | undefined {
    if ((this.#bySource.get(source) ?? 0) >= this.#perSource) return 'perAddress';
    if (this.#total[kind] >= this.#global[kind]) return 'global';
    return undefined;
  }

  add(source: string, kind: HalfOpenKind = 'full'): void {
    this.#bySource.set(source, (this.#bySource.get(source) ?? 0) + 1);
    this.#total[kind]++;
  }

  remove(source: string, kind: HalfOpenKind = 'full'): void {
    const count = this.#bySource.get(source) ?? 0;
    if (count === 0) return;
    if (count === 1) this.#bySource.delete(source);
    else this.#bySource.set(source, count - 1);
    this.#total[kind]--;
  }

  /** Half-open handshakes of both kinds. */
  get total(): number {
    return this.#total.full + this.#total.resumption;
  }

  /** Half-open handshakes of one kind. */
  count(kind: HalfOpenKind): number {
    return this.#total[kind];
  }
}
