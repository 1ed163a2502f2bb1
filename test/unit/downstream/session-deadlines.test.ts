import { describe, expect, it } from 'vitest';
import {
  type DeadlineRecheck,
  MAX_TIMER_DELAY_MS,
  SessionDeadlines,
  type Timers,
} from '../../../src/downstream/session-deadlines.js';

/** Timers under the test's hand: what is armed, and firing the one due. */
class FakeTimers implements Timers {
  readonly armed = new Map<number, { callback: () => void; ms: number }>();
  sets = 0;
  #next = 1;

  set(callback: () => void, ms: number): unknown {
    this.sets++;
    const id = this.#next++;
    this.armed.set(id, { callback, ms });
    return id;
  }

  clear(handle: unknown): void {
    this.armed.delete(handle as number);
  }

  /** The one armed timer's delay. */
  get delay(): number {
    expect(this.armed.size).toBe(1);
    return [...this.armed.values()][0]?.ms as number;
  }

  fire(): void {
    const [first] = [...this.armed.entries()];
    if (!first) throw new Error('no timer is armed');
    this.armed.delete(first[0]);
    first[1].callback();
  }
}

const DAY = 86_400_000;

function setup(verdicts: Map<string, () => DeadlineRecheck> = new Map()) {
  let now = Date.parse('2030-01-01T00:00:00Z');
  const timers = new FakeTimers();
  const closed: string[] = [];
  const logged: object[] = [];
  const deadlines = new SessionDeadlines<string>({
    now: () => new Date(now),
    recheck: (session) =>
      verdicts.get(session)?.() ?? { ok: false, reason: 'expired', detail: `${session} expired` },
    close: (session) => closed.push(session),
    describe: (session) => ({ sensor: session }),
    log: { info: (fields) => logged.push(fields) },
    timers,
  });
  const at = (ms: number) => ({ at: new Date(now + ms), cause: 'certificate-expiry', detail: 'notAfter' });
  return {
    deadlines,
    timers,
    closed,
    logged,
    at,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('SessionDeadlines', () => {
  it('many sessions share one timer, armed to the earliest deadline, and close in deadline order', () => {
    const { deadlines, timers, closed, at, advance } = setup();
    // In an order where later sessions often have earlier deadlines (the timer moves forward).
    const offset = (i: number) => ((i * 7919 + 500) % 1000) * 1000;
    for (let i = 0; i < 1000; i++) deadlines.arm(`s${i}`, `s${i}`, at(offset(i) + 5000));
    expect(timers.armed.size).toBe(1);
    expect(timers.delay).toBe(5000);
    expect(deadlines.status().tracked).toBe(1000);
    advance(5000);
    timers.fire();
    expect(closed).toHaveLength(1);
    expect(offset(Number(closed[0]?.slice(1)))).toBe(0);
    expect(timers.armed.size).toBe(1);
    advance(1_000_000);
    timers.fire();
    expect(closed).toHaveLength(1000);
    const order = closed.map((name) => offset(Number(name.slice(1))));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(timers.armed.size).toBe(0);
    expect(deadlines.status()).toMatchObject({ tracked: 0, closed: 1000, closedBy: { expired: 1000 } });
  });

  it('an ended session takes its deadline with it; the timer moves to the next one', () => {
    const { deadlines, timers, at } = setup();
    deadlines.arm('a', 'a', at(1000));
    deadlines.arm('b', 'b', at(3000));
    expect(timers.delay).toBe(1000);
    deadlines.disarm('a');
    expect(timers.delay).toBe(3000);
    deadlines.disarm('b');
    expect(timers.armed.size).toBe(0);
  });

  it('a session still accepted at its deadline (a newer CRL) is armed again, not closed', () => {
    const verdicts = new Map<string, () => DeadlineRecheck>();
    const { deadlines, timers, closed, at, advance } = setup(verdicts);
    deadlines.arm('a', 'a', at(1000));
    verdicts.set('a', () => ({ ok: true, deadline: at(DAY) }));
    advance(1000);
    timers.fire();
    expect(closed).toEqual([]);
    expect(deadlines.status()).toMatchObject({ tracked: 1, rearmed: 1, closed: 0 });
    expect(timers.delay).toBe(DAY);
  });

  it('waits beyond setTimeout range (~24.8 days) in several timers', () => {
    const { deadlines, timers, closed, at, advance } = setup();
    deadlines.arm('a', 'a', at(30 * DAY));
    expect(timers.delay).toBe(MAX_TIMER_DELAY_MS);
    advance(MAX_TIMER_DELAY_MS);
    timers.fire();
    expect(closed).toEqual([]);
    expect(timers.delay).toBe(30 * DAY - MAX_TIMER_DELAY_MS);
    advance(30 * DAY - MAX_TIMER_DELAY_MS);
    timers.fire();
    expect(closed).toEqual(['a']);
  });

  it('a timer firing before the clock reached the deadline waits the rest', () => {
    const { deadlines, timers, closed, at, advance } = setup();
    deadlines.arm('a', 'a', at(1000));
    advance(400);
    timers.fire();
    expect(closed).toEqual([]);
    expect(timers.delay).toBe(600);
  });

  it('logs one line per close with the sensor, the reason and the deadline', () => {
    const { deadlines, timers, logged, at, advance } = setup();
    const deadline = at(1000);
    deadlines.arm('a', 'sensor-a', deadline);
    advance(1000);
    timers.fire();
    expect(logged).toEqual([
      {
        sensor: 'sensor-a',
        reason: 'expired',
        cause: 'certificate-expiry',
        deadline: deadline.at.toISOString(),
        detail: 'sensor-a expired',
      },
    ]);
  });
});
