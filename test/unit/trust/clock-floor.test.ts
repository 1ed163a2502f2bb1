import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ClockSync, kernelClockSync } from '../../../src/native/clock/index.js';
import { Store } from '../../../src/store/index.js';
import { clockFloorResets, resetClockFloor } from '../../../src/trust/clock-floor.js';
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
const synced = (): ClockSync => ({ synchronized: true, method: 'adjtimex', detail: 'test: synchronised' });
const unsynced = (): ClockSync => ({ synchronized: false, method: 'adjtimex', detail: 'test: STA_UNSYNC' });
const at = (iso: string) => () => new Date(iso);

describe('ClockFloor', () => {
  it('uses the system clock when it is ahead of the floor', () => {
    const now = new Date('2027-03-01T12:00:00Z');
    const clock = new ClockFloor(freshStore(), { buildFloor, systemNow: () => now, sync: unsynced });
    expect(clock.now()).toEqual(now);
    expect(clock.behind).toBe(false);
  });

  it('uses the build-time floor on a board that boots at 1970', () => {
    const clock = new ClockFloor(freshStore(), { buildFloor, systemNow: () => new Date(0), sync: unsynced });
    expect(clock.behind).toBe(true);
    expect(clock.now()).toEqual(buildFloor);
    expect(clock.record.source).toBe('build');
  });

  it('a boot with the clock at 2099 and no NTP synchronisation leaves no trace: the next boot is judged at its own time', () => {
    const store = freshStore();
    const wrong = new ClockFloor(store, {
      buildFloor,
      systemNow: at('2099-01-01T00:00:00Z'),
      sync: unsynced,
    });
    expect(wrong.now()).toEqual(new Date('2099-01-01T00:00:00Z')); // believed for the moment…
    expect(wrong.floor).toEqual(buildFloor); // …but the floor does not move
    const next = new ClockFloor(store, { buildFloor, systemNow: at('2027-02-01T00:00:00Z'), sync: unsynced });
    expect(next.now()).toEqual(new Date('2027-02-01T00:00:00Z'));
    expect(next.floor).toEqual(buildFloor);
  });

  it('evidence: the system clock while the kernel says NTP-synchronised raises the floor, kept across restarts', () => {
    const store = freshStore();
    const seen = new Date('2027-06-01T00:00:00Z');
    const clock = new ClockFloor(store, { buildFloor, systemNow: () => seen, sync: synced });
    expect(clock.record).toMatchObject({ at: seen, source: 'ntp' });
    const afterReboot = new ClockFloor(store, { buildFloor, systemNow: () => new Date(0), sync: unsynced });
    expect(afterReboot.behind).toBe(true);
    expect(afterReboot.now()).toEqual(seen); // the 1970 boot is judged at the floor
    expect(afterReboot.record.source).toBe('ntp');
  });

  it('rechecks synchronisation as time goes on, and never lowers the floor when the clock jumps back', () => {
    let now = new Date('2027-01-01T00:00:00Z');
    let sync = unsynced;
    let monotonic = 0;
    const clock = new ClockFloor(freshStore(), {
      buildFloor,
      systemNow: () => now,
      sync: () => sync(),
      monotonicMs: () => monotonic,
    });
    expect(clock.floor).toEqual(buildFloor);
    sync = synced;
    now = new Date('2027-01-02T00:00:00Z');
    clock.now(); // within a minute of the last check: not asked again
    expect(clock.floor).toEqual(buildFloor);
    monotonic += 60_000;
    clock.now();
    expect(clock.floor).toEqual(new Date('2027-01-02T00:00:00Z'));
    now = new Date('2026-12-01T00:00:00Z'); // the clock jumps back
    clock.remember();
    expect(clock.floor).toEqual(new Date('2027-01-02T00:00:00Z'));
    expect(clock.now()).toEqual(new Date('2027-01-02T00:00:00Z'));
  });

  it.each([
    ['certificate', 'operational certificate 0A1B'],
    ['crl', 'CRL of CN=Sensor CA'],
    ['ocsp', 'OCSP response of CN=Sensor CA responder'],
  ] as const)(
    'evidence: %s raises the floor to exactly its time, persisted; older evidence is ignored',
    (source, detail) => {
      const store = freshStore();
      const clock = new ClockFloor(store, { buildFloor, systemNow: () => new Date(0), sync: unsynced });
      const evidence = new Date('2027-04-05T06:07:08Z');
      expect(clock.observe(source, evidence, detail)).toBe(true);
      expect(clock.floor).toEqual(evidence);
      expect(clock.observe(source, new Date('2027-01-01T00:00:00Z'), 'older')).toBe(false);
      const afterReboot = new ClockFloor(store, { buildFloor, systemNow: () => new Date(0), sync: unsynced });
      expect(afterReboot.record).toMatchObject({ at: evidence, source, detail });
      expect(afterReboot.now()).toEqual(evidence);
    },
  );

  it('a reset lowers the floor (never below the build time), is kept as an audit trail, and a running floor adopts it', () => {
    const store = freshStore();
    const running = new ClockFloor(store, { buildFloor, systemNow: () => new Date(0), sync: unsynced });
    running.observe('crl', new Date('2099-01-01T00:00:00Z'), 'a CRL from a CA whose clock was wrong');
    const { from, to } = resetClockFloor(store, new Date('2000-01-01T00:00:00Z'), 'root (uid 0)', {
      buildFloor,
    });
    expect(from.at).toEqual(new Date('2099-01-01T00:00:00Z'));
    expect(to.at).toEqual(buildFloor);
    expect(running.floor).toEqual(new Date('2099-01-01T00:00:00Z'));
    running.reload();
    expect(running.floor).toEqual(buildFloor);
    expect(running.record.source).toBe('reset');
    expect(running.record.detail).toMatch(/reset by root \(uid 0\) from 2099-01-01T00:00:00.000Z \(crl\)/);
    expect(clockFloorResets(store)).toEqual([
      expect.objectContaining({
        by: 'root (uid 0)',
        from: '2099-01-01T00:00:00.000Z',
        to: buildFloor.toISOString(),
      }),
    ]);
  });

  it('asks the kernel (adjtimex) whether the clock is NTP-synchronised', () => {
    const sync = kernelClockSync();
    expect(typeof sync.synchronized).toBe('boolean');
    expect(['adjtimex', 'timesyncd-flag', 'none']).toContain(sync.method);
  });
});
