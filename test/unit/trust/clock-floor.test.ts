import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../../src/store/index.js';
import { ClockFloor } from '../../../src/trust/index.js';

const stores: Store[] = [];
function freshStore(): Store {
  const store = Store.open(join(mkdtempSync(join(tmpdir(), 'egw-clock-')), 'state.db'));
  stores.push(store);
  return store;
}
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
});

const buildFloor = new Date('2026-11-01T00:00:00Z');

describe('ClockFloor', () => {
  it('uses the system clock when it is ahead of the floor', () => {
    const now = new Date('2027-03-01T12:00:00Z');
    const clock = new ClockFloor(freshStore(), { buildFloor, systemNow: () => now });
    expect(clock.now()).toEqual(now);
    expect(clock.behind).toBe(false);
  });

  it('uses the build-time floor on a board that boots at 1970', () => {
    const clock = new ClockFloor(freshStore(), { buildFloor, systemNow: () => new Date(0) });
    expect(clock.behind).toBe(true);
    expect(clock.now()).toEqual(buildFloor);
  });

  it('remembers the last good time across restarts (persisted in the state database)', () => {
    const store = freshStore();
    const seen = new Date('2027-06-01T00:00:00Z');
    new ClockFloor(store, { buildFloor, systemNow: () => seen });
    const afterReboot = new ClockFloor(store, { buildFloor, systemNow: () => new Date(0) });
    expect(afterReboot.behind).toBe(true);
    expect(afterReboot.now()).toEqual(seen);
  });

  it('raises the floor as time goes on and never lowers it', () => {
    let now = new Date('2027-01-01T00:00:00Z');
    const clock = new ClockFloor(freshStore(), { buildFloor, systemNow: () => now });
    now = new Date('2027-01-02T00:00:00Z');
    clock.remember();
    now = new Date('2026-12-01T00:00:00Z'); // the clock jumps back
    clock.remember();
    expect(clock.floor).toEqual(new Date('2027-01-02T00:00:00Z'));
    expect(clock.now()).toEqual(new Date('2027-01-02T00:00:00Z'));
  });
});
