import { BUILD_TIME_FLOOR } from '../build-info/index.js';
import type { Store } from '../store/index.js';

const META_KEY = 'clock_floor';
/** Persist the floor at most this often: it only has to be roughly right, and each write is an fsync. */
const PERSIST_EVERY_MS = 10 * 60_000;

/**
 * The time certificate validity is judged at. A board without an RTC boots at 1970 until NTP answers:
 * judged by that clock, every certificate is "not yet valid" and the gateway would brick itself. The
 * floor is the later of the build time and the last system time seen (persisted in the state
 * database); while the system clock is below it, validity checks use the floor and status says so.
 */
export class ClockFloor {
  readonly #store: Store;
  readonly #systemNow: () => Date;
  #floor: number;
  #persistedAt = 0;

  constructor(store: Store, options: { buildFloor?: Date; systemNow?: () => Date } = {}) {
    this.#store = store;
    this.#systemNow = options.systemNow ?? (() => new Date());
    const remembered = Date.parse(store.getMeta(META_KEY) ?? '');
    this.#floor = Math.max((options.buildFloor ?? BUILD_TIME_FLOOR).getTime(), remembered || 0);
    this.remember();
  }

  /** The system clock, or the floor while the clock is behind it. */
  now(): Date {
    const system = this.#systemNow().getTime();
    return new Date(Math.max(system, this.#floor));
  }

  /** True while the system clock reads earlier than the floor (no RTC, no NTP yet). */
  get behind(): boolean {
    return this.#systemNow().getTime() < this.#floor;
  }

  get floor(): Date {
    return new Date(this.#floor);
  }

  /** Raises the floor to the system time when that is later; persists it now and then. */
  remember(): void {
    const system = this.#systemNow().getTime();
    if (system <= this.#floor) return;
    this.#floor = system;
    if (system - this.#persistedAt >= PERSIST_EVERY_MS) {
      this.#store.setMeta(META_KEY, new Date(system).toISOString());
      this.#persistedAt = system;
    }
  }
}
