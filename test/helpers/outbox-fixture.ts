import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../src/store/index.js';
import { Outbox, type OutboxSettings } from '../../src/upstream/index.js';

/** Outbox settings for unit tests that flush() themselves (the interval is long enough not to). */
export const OUTBOX_TEST_SETTINGS: OutboxSettings = {
  max_rows: 1000,
  max_bytes: 1024 * 1024,
  when_full: 'refuse',
  refuse_max_age_s: 30,
  commit_interval_ms: 1000, // the tests flush() themselves
  commit_batch: 256,
  per_sensor_share: 1,
};

/** An outbox on a fresh state database in its own temporary folder. */
export interface OutboxUnderTest {
  dir: string;
  store: Store;
  outbox: Outbox;
}

/** Opens an outbox on a new store in a folder named after `prefix`; settings over OUTBOX_TEST_SETTINGS. */
export function openOutboxUnderTest(
  prefix: string,
  settings: Partial<OutboxSettings> = {},
  options: Parameters<typeof Outbox.open>[2] = {},
): OutboxUnderTest {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const store = Store.open(join(dir, 'state.db'));
  return { dir, store, outbox: Outbox.open(store, { ...OUTBOX_TEST_SETTINGS, ...settings }, options) };
}

/** Closes the store (which syncs what is written) and removes the folder. */
export function removeOutboxUnderTest({ dir, store }: OutboxUnderTest): void {
  store.close();
  rmSync(dir, { recursive: true, force: true });
}

/** Message `n` of `sensorId`, on its topic unless `topic` says otherwise. */
export function outboxMessage(n: number, sensorId = 'sensor-1', topic = `t/${sensorId}`) {
  return { sensorId, topic, payload: Buffer.from(`{"n":${n}}`), contentFormat: 50 };
}
