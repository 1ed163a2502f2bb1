import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../../src/store/index.js';
import { Outbox, type OutboxAccepted, type OutboxSettings } from '../../../src/upstream/index.js';

const SETTINGS: OutboxSettings = {
  max_rows: 10_000,
  max_bytes: 16 * 1024 * 1024,
  when_full: 'refuse',
  refuse_max_age_s: 30,
  commit_interval_ms: 1000, // the test flushes itself
  commit_batch: 10_000,
  per_sensor_share: 1,
};

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('outbox: rows inserted many per statement', () => {
  it('gives each caller the id of its own row, in arrival order, across statements of 64 rows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egw-outbox-ids-'));
    dirs.push(dir);
    const path = join(dir, 'state.db');
    const store = Store.open(path);
    const outbox = Outbox.open(store, SETTINGS);
    // 150 = 64 + 64 + 22: three statements in one transaction; three sensors interleaved.
    const answers = Array.from({ length: 150 }, (_, n) =>
      outbox.enqueue({
        sensorId: `sensor-${n % 3}`,
        topic: `t/sensor-${n % 3}`,
        payload: Buffer.from(`{"n":${n}}`),
        contentFormat: n % 2 === 0 ? 50 : 60,
        properties: { 'sensor-id': `sensor-${n % 3}`, n: String(n) },
      }),
    );
    outbox.flush();
    const ids = (await Promise.all(answers)).map((answer) => (answer as OutboxAccepted).id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(150);
    outbox.close();
    store.close();
    // Read back from the table (not from the rows kept in memory): each id holds its caller's message.
    const reopened = Store.open(path);
    try {
      const rows = Outbox.open(reopened, SETTINGS).peek(1000);
      const byId = new Map(rows.map((row) => [row.id, row]));
      for (const [n, id] of ids.entries()) {
        const row = byId.get(id);
        expect(row?.payload.toString()).toBe(`{"n":${n}}`);
        expect(row?.sensorId).toBe(`sensor-${n % 3}`);
        expect(row?.contentFormat).toBe(n % 2 === 0 ? 50 : 60);
        expect(row?.properties).toEqual({ 'sensor-id': `sensor-${n % 3}`, n: String(n) });
      }
      expect(rows).toHaveLength(150);
    } finally {
      reopened.close();
    }
  });
});
