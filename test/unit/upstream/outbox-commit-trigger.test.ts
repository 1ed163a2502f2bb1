import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../../../src/store/index.js';
import { Outbox, type OutboxSettings } from '../../../src/upstream/index.js';

/**
 * When the outbox commits: a message that finds it idle is committed at the end of the event-loop
 * turn it arrived in (with whatever else that turn brought), not after commit_interval_ms; a message
 * arriving within commit_interval_ms of the last commit waits for the interval (group commit under
 * load). A long interval here makes "waits" unmistakable.
 */
const SETTINGS: OutboxSettings = {
  max_rows: 1000,
  max_bytes: 1024 * 1024,
  when_full: 'refuse',
  refuse_max_age_s: 30,
  commit_interval_ms: 60_000,
  commit_batch: 256,
  per_sensor_share: 1,
};

let dir: string;
let store: Store;
let outbox: Outbox;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'egw-outbox-trigger-'));
  store = Store.open(join(dir, 'state.db'));
  outbox = Outbox.open(store, SETTINGS);
});

afterEach(() => {
  outbox.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

function message(n: number) {
  return { sensorId: `sensor-${n % 4}`, topic: 't', payload: Buffer.from(`{"n":${n}}`), contentFormat: 50 };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('outbox: the commit trigger', () => {
  it('an idle outbox commits what one turn brought at the end of that turn, in one transaction', async () => {
    const answers = Array.from({ length: 20 }, (_, n) => outbox.enqueue(message(n)));
    expect(outbox.stats()).toMatchObject({ waiting: 20, committed: 0 });
    await nextTurn();
    expect(outbox.stats()).toMatchObject({ waiting: 0, committed: 20, transactions: 1 });
    // Answered once the fsync has ended, long before the 60 s interval.
    await expect(Promise.all(answers)).resolves.toHaveLength(20);
  });

  it('a message within commit_interval_ms of the last commit waits for the interval (group commit)', async () => {
    await outbox.enqueue(message(1));
    expect(outbox.stats()).toMatchObject({ committed: 1, transactions: 1 });
    const second = outbox.enqueue(message(2));
    const third = outbox.enqueue(message(3));
    await nextTurn();
    await nextTurn();
    expect(outbox.stats()).toMatchObject({ waiting: 2, committed: 1, transactions: 1 });
    outbox.flush();
    await Promise.all([second, third]);
    expect(outbox.stats()).toMatchObject({ waiting: 0, committed: 3, transactions: 2 });
  });
});
