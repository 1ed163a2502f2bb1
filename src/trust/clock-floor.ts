import { BUILD_TIME_FLOOR } from '../build-info/index.js';
import { type ClockSync, kernelClockSync } from '../native/clock/index.js';
import type { Store } from '../store/index.js';

/**
 * The floor and where it came from, as JSON in gateway_meta. The key of the old format
 * ('clock_floor': the last system time seen, whatever its provenance) is not read: an unauthenticated
 * clock is exactly what bricked gateways, so the first start of this version begins from the build
 * time and the stored evidence (operational certificate, CRLs) the daemon feeds it.
 */
const META_KEY = 'clock_floor_evidence';
/** Persist an NTP-driven floor at most this often: it only has to be roughly right, each write is an fsync. */
const PERSIST_EVERY_MS = 10 * 60_000;
/** How often now() asks the kernel whether the clock is synchronised (it is on the validation path). */
const RECHECK_EVERY_MS = 60_000;
/** Set to 1 to treat the system clock as never synchronised (tests faking the clock on a synced host). */
export const ASSUME_UNSYNCHRONIZED_ENV = 'EGW_CLOCK_ASSUME_UNSYNCHRONIZED';

/** What raised (or set) the floor. */
export type ClockEvidence = 'build' | 'certificate' | 'crl' | 'ocsp' | 'ntp' | 'reset';
/** Evidence signed by a CA the gateway trusts: the only kind besides an NTP-synchronised clock. */
export type SignedEvidence = 'certificate' | 'crl' | 'ocsp';

export interface ClockFloorRecord {
  at: Date;
  source: ClockEvidence;
  /** Which certificate / CRL / responder, or who reset it and from what. */
  detail: string;
  /** System time when the record was made (for the operator; not evidence). */
  recordedAt: Date;
}

export interface ClockFloorStatus {
  floor: string;
  source: ClockEvidence;
  detail: string;
  recordedAt: string;
  buildFloor: string;
  system: string;
  synchronized: boolean;
  syncMethod: ClockSync['method'];
  syncDetail: string;
  /** The system clock reads earlier than the floor: validity is judged at the floor. */
  behind: boolean;
  /** The time validity is judged at now. */
  judgedAt: string;
}

export interface ClockFloorOptions {
  buildFloor?: Date;
  systemNow?: () => Date;
  /** Default: the kernel's word (adjtimex), see kernelClockSync. */
  sync?: () => ClockSync;
  /** Monotonic milliseconds (for the recheck interval). */
  monotonicMs?: () => number;
  /** False: only read the floor (gatewayctl), never raise it from the clock. Default true. */
  advance?: boolean;
}

function defaultSync(): ClockSync {
  if (process.env[ASSUME_UNSYNCHRONIZED_ENV] === '1') {
    return { synchronized: false, method: 'none', detail: `${ASSUME_UNSYNCHRONIZED_ENV}=1` };
  }
  return kernelClockSync();
}

/** Reads the stored record; undefined when absent or unreadable (then the build time stands). */
export function readClockFloorRecord(store: Store): ClockFloorRecord | undefined {
  const raw = store.getMeta(META_KEY);
  if (!raw) return undefined;
  try {
    const value = JSON.parse(raw) as Record<string, unknown>;
    const at = new Date(String(value.at));
    if (Number.isNaN(at.getTime())) return undefined;
    return {
      at,
      source: String(value.source) as ClockEvidence,
      detail: String(value.detail ?? ''),
      recordedAt: new Date(String(value.recordedAt)),
    };
  } catch {
    return undefined;
  }
}

function writeRecord(store: Store, record: ClockFloorRecord): void {
  store.setMeta(
    META_KEY,
    JSON.stringify({
      at: record.at.toISOString(),
      source: record.source,
      detail: record.detail,
      recordedAt: record.recordedAt.toISOString(),
    }),
  );
}

/**
 * The time certificate validity is judged at. A board without an RTC boots at 1970 until NTP answers:
 * judged by that clock, every certificate is "not yet valid" and the gateway would brick itself; one
 * whose RTC reads 2099 would find every sensor "expired". The floor is the latest time the gateway
 * has evidence for that is hard to fake — the build time, the notBefore of its issued operational
 * certificate, a verified CRL's thisUpdate, a verified OCSP producedAt, and the system clock only
 * while the kernel says NTP synchronised it — never beyond that evidence, and never the system
 * clock alone. Validity is judged at max(system clock, floor): a clock behind is lifted to the floor,
 * a clock ahead is believed for this moment but leaves no trace, so the next boot is not harmed.
 * `gatewayctl clock reset` lowers it (audited); evidence raises it again.
 */
export class ClockFloor {
  readonly #store: Store;
  readonly #systemNow: () => Date;
  readonly #sync: () => ClockSync;
  readonly #monotonicMs: () => number;
  readonly #buildFloor: Date;
  readonly #advance: boolean;
  #record!: ClockFloorRecord;
  #persistedAt = Number.NEGATIVE_INFINITY;
  #checkedAt = Number.NEGATIVE_INFINITY;

  constructor(store: Store, options: ClockFloorOptions = {}) {
    this.#store = store;
    this.#systemNow = options.systemNow ?? (() => new Date());
    this.#sync = options.sync ?? defaultSync;
    this.#monotonicMs = options.monotonicMs ?? (() => performance.now());
    this.#buildFloor = options.buildFloor ?? BUILD_TIME_FLOOR;
    this.#advance = options.advance ?? true;
    this.reload();
    this.remember();
  }

  /** Re-reads the stored floor (after `gatewayctl clock reset`): it may go down. */
  reload(): ClockFloorRecord {
    const stored = readClockFloorRecord(this.#store);
    this.#record =
      stored && stored.at.getTime() > this.#buildFloor.getTime()
        ? stored
        : {
            at: this.#buildFloor,
            source: stored?.source === 'reset' ? 'reset' : 'build',
            detail: stored?.source === 'reset' ? stored.detail : 'the build time of this release',
            recordedAt: stored?.recordedAt ?? this.#buildFloor,
          };
    this.#persistedAt = Number.NEGATIVE_INFINITY;
    return this.#record;
  }

  /** The system clock, or the floor while the clock is behind it. */
  now(): Date {
    if (this.#monotonicMs() - this.#checkedAt >= RECHECK_EVERY_MS) this.remember();
    return new Date(Math.max(this.#systemNow().getTime(), this.#record.at.getTime()));
  }

  /** True while the system clock reads earlier than the floor (no RTC, no NTP yet). */
  get behind(): boolean {
    return this.#systemNow().getTime() < this.#record.at.getTime();
  }

  get floor(): Date {
    return new Date(this.#record.at);
  }

  get record(): ClockFloorRecord {
    return { ...this.#record };
  }

  /**
   * Raises the floor to the system time when that is later and the kernel says the clock is
   * NTP-synchronised; an unsynchronised clock (an RTC at 2099, a board at 1970) never moves it.
   */
  remember(): void {
    this.#checkedAt = this.#monotonicMs();
    if (!this.#advance) return;
    const system = this.#systemNow();
    if (system.getTime() <= this.#record.at.getTime()) return;
    const sync = this.#sync();
    if (!sync.synchronized) return;
    this.#record = { at: system, source: 'ntp', detail: sync.detail, recordedAt: system };
    const elapsed = this.#checkedAt - this.#persistedAt;
    if (elapsed >= PERSIST_EVERY_MS) {
      writeRecord(this.#store, this.#record);
      this.#persistedAt = this.#checkedAt;
    }
  }

  /**
   * Signed evidence of the time: the notBefore of the operational certificate the gateway was
   * issued, the thisUpdate of a CRL whose signature verified, the producedAt of a verified OCSP
   * response. Raises the floor to exactly `at` when that is later (persisted at once); true if it did.
   */
  observe(source: SignedEvidence, at: Date, detail: string): boolean {
    if (Number.isNaN(at.getTime()) || at.getTime() <= this.#record.at.getTime()) return false;
    this.#record = { at: new Date(at), source, detail, recordedAt: this.#systemNow() };
    writeRecord(this.#store, this.#record);
    this.#persistedAt = this.#monotonicMs();
    return true;
  }

  status(): ClockFloorStatus {
    const sync = this.#sync();
    const system = this.#systemNow();
    return {
      floor: this.#record.at.toISOString(),
      source: this.#record.source,
      detail: this.#record.detail,
      recordedAt: this.#record.recordedAt.toISOString(),
      buildFloor: this.#buildFloor.toISOString(),
      system: system.toISOString(),
      synchronized: sync.synchronized,
      syncMethod: sync.method,
      syncDetail: sync.detail,
      behind: system.getTime() < this.#record.at.getTime(),
      judgedAt: new Date(Math.max(system.getTime(), this.#record.at.getTime())).toISOString(),
    };
  }
}

/**
 * `gatewayctl clock reset`: sets the stored floor to `to` (never below the build time) and returns
 * the previous one. Raising it is refused by the caller: only evidence raises the floor.
 */
export function resetClockFloor(
  store: Store,
  to: Date,
  by: string,
  options: { buildFloor?: Date; now?: Date } = {},
): { from: ClockFloorRecord; to: ClockFloorRecord } {
  const buildFloor = options.buildFloor ?? BUILD_TIME_FLOOR;
  const from = new ClockFloor(store, { buildFloor, advance: false }).record;
  const at = new Date(Math.max(to.getTime(), buildFloor.getTime()));
  const record: ClockFloorRecord = {
    at,
    source: 'reset',
    detail: `reset by ${by} from ${from.at.toISOString()} (${from.source})`,
    recordedAt: options.now ?? new Date(),
  };
  writeRecord(store, record);
  const history = clockFloorResets(store);
  history.push({
    at: record.recordedAt.toISOString(),
    by,
    from: from.at.toISOString(),
    fromSource: from.source,
    to: at.toISOString(),
  });
  store.setMeta(RESETS_KEY, JSON.stringify(history.slice(-RESETS_KEPT)));
  return { from, to: record };
}

const RESETS_KEY = 'clock_floor_resets';
const RESETS_KEPT = 20;

export interface ClockFloorReset {
  at: string;
  by: string;
  from: string;
  fromSource: string;
  to: string;
}

/** The last resets (audit trail kept in the state database; the daemon also logs each). */
export function clockFloorResets(store: Store): ClockFloorReset[] {
  try {
    const value = JSON.parse(store.getMeta(RESETS_KEY) ?? '[]') as unknown;
    return Array.isArray(value) ? (value as ClockFloorReset[]) : [];
  } catch {
    return [];
  }
}
