/**
 * Time ends sessions: every live sensor session has a deadline (the trust module's `validUntil`: the
 * earliest notAfter on its validated path, or when its revocation information stops being
 * acceptable under the CRL policy). One timer, armed to the earliest deadline of all sessions (a
 * min-heap), re-judges the due sessions then — at the trust module's notion of now (the clock
 * floor) — and closes those now refused; one still accepted (a refreshed CRL arrived meanwhile) is
 * armed again to its new deadline. A deadline further away than setTimeout can wait (~24.8 days) is
 * reached in several waits.
 */

/** setTimeout's largest delay (2^31 - 1 ms); a longer wait is re-armed when it ends. */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;

/** When a session must be judged again, and why (the trust module's ValidUntil). */
export interface SessionDeadline {
  at: Date;
  cause: string;
  detail: string;
}

/** What judging a session again at its deadline says. */
export type DeadlineRecheck =
  | { ok: true; deadline?: SessionDeadline | undefined }
  | { ok: false; reason: string; detail: string };

export interface SessionDeadlinesStatus {
  /** Live sessions with a deadline. */
  tracked: number;
  /** When the one timer next fires (ISO), null when no session has a deadline. */
  nextDeadline: string | null;
  /** Sessions closed because a deadline passed, in all and by the trust module's refusal reason. */
  closed: number;
  closedBy: Record<string, number>;
  /** Deadlines reached where the session was still accepted (e.g. a newer CRL had arrived): re-armed. */
  rearmed: number;
}

interface Log {
  info(fields: object, message: string): void;
}

export interface Timers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const NODE_TIMERS: Timers = {
  set: (callback, ms) => {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return timer;
  },
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface SessionDeadlinesOptions<S> {
  /** The time validity is judged at: the trust module's (clock floor) now, injected. */
  now: () => Date;
  /** Judges the session again (at or after its deadline). */
  recheck: (session: S) => DeadlineRecheck;
  /** Ends the session (close_notify). */
  close: (session: S) => void;
  /** How the session is named in the log (sensor, peer address). */
  describe: (session: S) => object;
  log: Log;
  /** Default: Node's setTimeout/clearTimeout (unref'd). */
  timers?: Timers;
}

interface Entry<S> {
  key: string;
  session: S;
  at: number;
  deadline: SessionDeadline;
}

export class SessionDeadlines<S> {
  readonly #options: SessionDeadlinesOptions<S>;
  readonly #timers: Timers;
  /** Min-heap by `at`; entries no longer in #current are stale and skipped when they surface. */
  #heap: Entry<S>[] = [];
  readonly #current = new Map<string, Entry<S>>();
  /** What each accepted verdict said, by the attributes object the verifier handed the DTLS server. */
  readonly #noted = new WeakMap<object, SessionDeadline>();
  #timer: unknown;
  #timerAt: number | undefined;
  #closed = 0;
  readonly #closedBy: Record<string, number> = {};
  #rearmed = 0;
  #stopped = false;

  constructor(options: SessionDeadlinesOptions<S>) {
    this.#options = options;
    this.#timers = options.timers ?? NODE_TIMERS;
  }

  /** Remembers the deadline of an accepted verdict, keyed by the attributes it gave the session. */
  note(attributes: unknown, deadline: SessionDeadline | undefined): void {
    if (typeof attributes !== 'object' || attributes === null) return;
    if (deadline) this.#noted.set(attributes, deadline);
    else this.#noted.delete(attributes);
  }

  /** The deadline noted for `attributes` (see note). */
  noted(attributes: unknown): SessionDeadline | undefined {
    return typeof attributes === 'object' && attributes !== null ? this.#noted.get(attributes) : undefined;
  }

  /** Sets (or replaces, or with no deadline removes) the deadline of the session `key`. */
  arm(key: string, session: S, deadline: SessionDeadline | undefined): void {
    if (this.#stopped) return;
    const previous = this.#current.get(key);
    if (!deadline) {
      if (previous) this.disarm(key);
      return;
    }
    const at = deadline.at.getTime();
    if (previous && previous.at === at) {
      previous.session = session;
      previous.deadline = deadline;
      return;
    }
    const entry: Entry<S> = { key, session, at, deadline };
    this.#current.set(key, entry);
    this.#push(entry);
    this.#compact();
    this.#schedule();
  }

  /** The session ended: its deadline goes. */
  disarm(key: string): void {
    if (!this.#current.delete(key)) return;
    this.#compact();
    this.#schedule();
  }

  /** Judges the due sessions now (the timer does; also after the clock jumped forward). */
  check(): void {
    if (this.#stopped) return;
    const now = this.#options.now().getTime();
    for (;;) {
      const entry = this.#peek();
      if (!entry || entry.at > now) break;
      this.#pop();
      this.#current.delete(entry.key);
      const verdict = this.#recheck(entry);
      if (verdict.ok) {
        this.#rearmed++;
        // Still accepted at its deadline: a newer CRL (or OCSP answer) has moved it.
        const next = verdict.deadline;
        if (next && next.at.getTime() > now) {
          const rearmed: Entry<S> = {
            key: entry.key,
            session: entry.session,
            at: next.at.getTime(),
            deadline: next,
          };
          this.#current.set(entry.key, rearmed);
          this.#push(rearmed);
        }
        continue;
      }
      this.#closed++;
      this.#closedBy[verdict.reason] = (this.#closedBy[verdict.reason] ?? 0) + 1;
      this.#options.log.info(
        {
          ...this.#options.describe(entry.session),
          reason: verdict.reason,
          cause: entry.deadline.cause,
          deadline: entry.deadline.at.toISOString(),
          detail: verdict.detail,
        },
        `sensor session closed at its deadline: ${verdict.reason}`,
      );
      this.#options.close(entry.session);
    }
    this.#schedule();
  }

  status(): SessionDeadlinesStatus {
    const next = this.#peek();
    return {
      tracked: this.#current.size,
      nextDeadline: next ? new Date(next.at).toISOString() : null,
      closed: this.#closed,
      closedBy: { ...this.#closedBy },
      rearmed: this.#rearmed,
    };
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#timers.clear(this.#timer);
    this.#timer = undefined;
    this.#timerAt = undefined;
    this.#current.clear();
    this.#heap = [];
  }

  #recheck(entry: Entry<S>): DeadlineRecheck {
    try {
      return this.#options.recheck(entry.session);
    } catch (error) {
      return {
        ok: false,
        reason: 'recheck-failed',
        detail: error instanceof Error ? error.message : String(error),
      };
    }
  }

  /** One timer, to the earliest live deadline (re-armed when setTimeout cannot wait that long). */
  #schedule(): void {
    if (this.#stopped) return;
    const next = this.#peek();
    if (next && this.#timer !== undefined && this.#timerAt === next.at) return;
    if (this.#timer !== undefined) this.#timers.clear(this.#timer);
    this.#timer = undefined;
    this.#timerAt = undefined;
    if (!next) return;
    const delay = Math.min(Math.max(next.at - this.#options.now().getTime(), 0), MAX_TIMER_DELAY_MS);
    this.#timerAt = next.at;
    this.#timer = this.#timers.set(() => {
      this.#timer = undefined;
      this.#timerAt = undefined;
      this.check();
    }, delay);
  }

  /** The earliest entry still current, dropping stale ones on the way. */
  #peek(): Entry<S> | undefined {
    for (;;) {
      const top = this.#heap[0];
      if (!top || this.#current.get(top.key) === top) return top;
      this.#pop();
    }
  }

  /** Stale entries are dropped in bulk when they outnumber live ones, so the heap stays O(sessions). */
  #compact(): void {
    if (this.#heap.length <= 2 * this.#current.size + 64) return;
    this.#heap = [];
    for (const entry of this.#current.values()) this.#push(entry);
  }

  #push(entry: Entry<S>): void {
    const heap = this.#heap;
    heap.push(entry);
    let child = heap.length - 1;
    while (child > 0) {
      const parent = (child - 1) >> 1;
      if ((heap[parent] as Entry<S>).at <= entry.at) break;
      heap[child] = heap[parent] as Entry<S>;
      child = parent;
    }
    heap[child] = entry;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (!last || heap.length === 0) return;
    let parent = 0;
    for (;;) {
      let child = 2 * parent + 1;
      if (child >= heap.length) break;
      const right = child + 1;
      if (right < heap.length && (heap[right] as Entry<S>).at < (heap[child] as Entry<S>).at) child = right;
      if ((heap[child] as Entry<S>).at >= last.at) break;
      heap[parent] = heap[child] as Entry<S>;
      parent = child;
    }
    heap[parent] = last;
  }
}
