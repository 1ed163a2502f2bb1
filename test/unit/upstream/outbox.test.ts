import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../../src/store/index.js';
import {
  Outbox,
  type OutboxAccepted,
  OutboxError,
  type OutboxMessage,
  type OutboxSettings,
} from '../../../src/upstream/index.js';

const DEFAULTS: OutboxSettings = {
  max_rows: 1_000_000,
  max_bytes: 256 * 1024 * 1024,
  when_full: 'refuse',
  refuse_max_age_s: 30,
  commit_interval_ms: 5,
  commit_batch: 256,
  // One sensor may fill the outbox in these tests unless they say otherwise.
  per_sensor_share: 1,
};

const dirs: string[] = [];
const stores: Store[] = [];

function freshStore(): Store {
  const dir = mkdtempSync(join(tmpdir(), 'egw-outbox-'));
  dirs.push(dir);
  return openStore(join(dir, 'state.db'));
}

function openStore(path: string): Store {
  const store = Store.open(path);
  stores.push(store);
  return store;
}

afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function message(sensorId: string, n: number, payloadBytes = 16): OutboxMessage {
  const payload = Buffer.alloc(payloadBytes, 0x20);
  payload.write(JSON.stringify({ n }).slice(0, payloadBytes));
  return {
    sensorId,
    topic: `devices/${sensorId}/telemetry`,
    payload,
    contentFormat: 50,
    properties: { 'sensor-id': sensorId },
  };
}

/** What the message counts against max_bytes (payload, topic, properties JSON). */
function bytesOf(m: OutboxMessage): number {
  return m.payload.byteLength + Buffer.byteLength(m.topic) + Buffer.byteLength(JSON.stringify(m.properties));
}

function rowsOnDisk(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM upstream_outbox').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('Outbox group commit', () => {
  it('commits N concurrent enqueues in one transaction, and each resolves only after it committed', async () => {
    const store = freshStore();
    const outbox = Outbox.open(store, DEFAULTS);
    const pending = Array.from({ length: 100 }, (_, n) => outbox.enqueue(message('s1', n)));
    // Nothing is in the table (seen from another connection) before the batch commits.
    expect(rowsOnDisk(store.path)).toBe(0);
    expect(outbox.stats()).toMatchObject({ waiting: 100, transactions: 0, rows: 0 });
    const answers = (await Promise.all(pending)) as OutboxAccepted[];
    expect(rowsOnDisk(store.path)).toBe(100);
    expect(outbox.stats()).toMatchObject({ waiting: 0, transactions: 1, committed: 100, rows: 100 });
    const ids = answers.map((answer) => answer.id);
    expect(answers.every((answer) => answer.full === false)).toBe(true);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(100);
  });

  it('commits as soon as commit_batch messages wait', async () => {
    const outbox = Outbox.open(freshStore(), { ...DEFAULTS, commit_batch: 10 });
    await Promise.all(Array.from({ length: 100 }, (_, n) => outbox.enqueue(message('s1', n))));
    expect(outbox.stats()).toMatchObject({ transactions: 10, committed: 100 });
  });

  it('with commit_interval_ms 0 still batches what arrives in the same turn of the event loop', async () => {
    const outbox = Outbox.open(freshStore(), { ...DEFAULTS, commit_interval_ms: 0 });
    await Promise.all(Array.from({ length: 50 }, (_, n) => outbox.enqueue(message('s1', n))));
    await Promise.all(Array.from({ length: 50 }, (_, n) => outbox.enqueue(message('s1', 50 + n))));
    expect(outbox.stats()).toMatchObject({ transactions: 2, committed: 100, rows: 100 });
  });

  it('folds removals into the next commit, taking them off the counts and peek() at once', async () => {
    const outbox = Outbox.open(freshStore(), DEFAULTS);
    await Promise.all(Array.from({ length: 5 }, (_, n) => outbox.enqueue(message('s1', n))));
    const [first, second] = outbox.peek(2);
    outbox.remove([first?.id as number, second?.id as number]);
    expect(outbox.peek(10).map((row) => row.id)).not.toContain(first?.id);
    // Out of the counts at once, out of the table with the next commit.
    expect(outbox.stats()).toMatchObject({ rows: 3, bytes: 3 * bytesOf(message('s1', 0)), transactions: 1 });
    const third = outbox.enqueue(message('s1', 5));
    await third;
    // One transaction held the insert and both deletes.
    expect(outbox.stats()).toMatchObject({ transactions: 2, rows: 4, removed: 2 });
    expect(outbox.stats().bytes).toBe(4 * bytesOf(message('s1', 0)));
  });
  it('removes ids it never handed out as well, correcting the counts when it commits', async () => {
    const outbox = Outbox.open(freshStore(), DEFAULTS);
    const answers = (await Promise.all(
      Array.from({ length: 5 }, (_, n) => outbox.enqueue(message('s1', n))),
    )) as OutboxAccepted[];
    outbox.remove([answers[0]?.id as number, answers[1]?.id as number, 999_999]);
    outbox.flush();
    expect(outbox.stats()).toMatchObject({ rows: 3, bytes: 3 * bytesOf(message('s1', 0)), removed: 2 });
  });
});

describe('Outbox order', () => {
  it('peek() returns messages of all sensors in global arrival order, from a cursor', async () => {
    const outbox = Outbox.open(freshStore(), DEFAULTS);
    const sent: string[] = [];
    const pending = [];
    for (let n = 0; n < 30; n++) {
      const sensor = `s${n % 3}`;
      sent.push(`${sensor}:${n}`);
      pending.push(outbox.enqueue(message(sensor, n)));
    }
    await Promise.all(pending);
    const label = (row: { sensorId: string; payload: Buffer }) =>
      `${row.sensorId}:${(JSON.parse(row.payload.toString().trim()) as { n: number }).n}`;
    const all = outbox.peek(100);
    expect(all.map(label)).toEqual(sent);
    const firstTen = outbox.peek(10);
    const next = outbox.peek(10, firstTen.at(-1)?.id);
    expect([...firstTen, ...next].map(label)).toEqual(sent.slice(0, 20));
    expect(all[0]).toMatchObject({
      topic: 'devices/s0/telemetry',
      contentFormat: 50,
      properties: { 'sensor-id': 's0' },
    });
    expect(all[0]?.createdAt).toBeInstanceOf(Date);
  });
});

describe('Outbox bounds', () => {
  it('refuse: answers OutboxFull past max_rows, with the maximum retry when nothing drains', async () => {
    const outbox = Outbox.open(freshStore(), { ...DEFAULTS, max_rows: 5, refuse_max_age_s: 17 });
    const answers = await Promise.all(Array.from({ length: 7 }, (_, n) => outbox.enqueue(message('s1', n))));
    expect(answers.filter((answer) => !answer.full)).toHaveLength(5);
    expect(answers.slice(5)).toEqual([
      { full: true, reason: 'outbox-full', retryAfterSeconds: 17 },
      { full: true, reason: 'outbox-full', retryAfterSeconds: 17 },
    ]);
    expect(outbox.stats()).toMatchObject({ rows: 5, refused: 2, dropped: 0 });
  });

  it('refuse: room made by removals is room again, and the retry follows the drain rate', async () => {
    const outbox = Outbox.open(freshStore(), { ...DEFAULTS, max_rows: 5, refuse_max_age_s: 30 });
    await Promise.all(Array.from({ length: 5 }, (_, n) => outbox.enqueue(message('s1', n))));
    outbox.remove(outbox.peek(3).map((row) => row.id));
    outbox.flush();
    expect(outbox.stats().rows).toBe(2);
    const answers = await Promise.all(Array.from({ length: 4 }, (_, n) => outbox.enqueue(message('s1', n))));
    expect(answers.slice(0, 3).every((answer) => !answer.full)).toBe(true);
    const refusal = answers[3];
    expect(refusal?.full).toBe(true);
    // 3 rows drained in the last 10 s: about 4 s per row, never more than refuse_max_age_s.
    const retry = refusal?.full ? refusal.retryAfterSeconds : 0;
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThan(30);
  });

  it('refuse: by bytes as well as rows', async () => {
    const one = bytesOf(message('s1', 0, 500));
    const outbox = Outbox.open(freshStore(), { ...DEFAULTS, max_bytes: Math.max(1024, 3 * one) });
    const answers = await Promise.all(
      Array.from({ length: 5 }, (_, n) => outbox.enqueue(message('s1', n, 500))),
    );
    const accepted = Math.floor(Math.max(1024, 3 * one) / one);
    expect(answers.filter((answer) => !answer.full)).toHaveLength(accepted);
    expect(outbox.stats()).toMatchObject({ rows: accepted, bytes: accepted * one, refused: 5 - accepted });
  });

  it('drop-oldest: deletes the oldest rows past max_rows and counts them', async () => {
    const outbox = Outbox.open(freshStore(), { ...DEFAULTS, max_rows: 5, when_full: 'drop-oldest' });
    const answers = (await Promise.all(
      Array.from({ length: 8 }, (_, n) => outbox.enqueue(message(`s${n % 2}`, n))),
    )) as OutboxAccepted[];
    expect(answers.every((answer) => answer.full === false)).toBe(true);
    expect(outbox.stats()).toMatchObject({ rows: 5, dropped: 3, refused: 0 });
    expect(outbox.peek(10).map((row) => row.id)).toEqual(answers.slice(3).map((answer) => answer.id));
    // Later batches keep the bound.
    await outbox.enqueue(message('s0', 8));
    expect(outbox.stats()).toMatchObject({ rows: 5, dropped: 4 });
    expect(outbox.stats().bytes).toBe(outbox.peek(10).reduce((sum, row) => sum + row.bytes, 0));
  });

  it('drop-oldest: by bytes', async () => {
    const one = bytesOf(message('s1', 0, 400));
    const maxBytes = 1024;
    const outbox = Outbox.open(freshStore(), { ...DEFAULTS, max_bytes: maxBytes, when_full: 'drop-oldest' });
    await Promise.all(Array.from({ length: 6 }, (_, n) => outbox.enqueue(message('s1', n, 400))));
    const kept = Math.floor(maxBytes / one);
    expect(outbox.stats()).toMatchObject({ rows: kept, bytes: kept * one, dropped: 6 - kept });
  });

  it('drop-oldest: a late removal of a dropped row changes nothing', async () => {
    const outbox = Outbox.open(freshStore(), { ...DEFAULTS, max_rows: 2, when_full: 'drop-oldest' });
    const first = (await outbox.enqueue(message('s1', 0))) as OutboxAccepted;
    await Promise.all([outbox.enqueue(message('s1', 1)), outbox.enqueue(message('s1', 2))]);
    outbox.remove([first.id]); // its PUBACK came after it was dropped
    outbox.flush();
    expect(outbox.stats()).toMatchObject({ rows: 2, dropped: 1, removed: 0 });
  });

  it('rejects a message larger than max_bytes on its own with EGW_OUTBOX_MESSAGE_TOO_LARGE', async () => {
    const outbox = Outbox.open(freshStore(), { ...DEFAULTS, max_bytes: 1024 });
    const error = await outbox.enqueue(message('s1', 0, 2000)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutboxError);
    expect(error).toMatchObject({ code: 'EGW_OUTBOX_MESSAGE_TOO_LARGE' });
    expect((error as OutboxError).hint).toContain('max_bytes');
  });
});

describe('Outbox per-sensor share', () => {
  const accepted = (answers: unknown[]) =>
    answers.filter((answer) => !(answer as { full: boolean }).full).length;

  it('refuse: a sensor flooding stops at its share; another sensor’s messages are still accepted', async () => {
    // 10 rows, 30 % each: a sensor may hold 3.
    const outbox = Outbox.open(freshStore(), { ...DEFAULTS, max_rows: 10, per_sensor_share: 0.3 });
    const flood = await Promise.all(Array.from({ length: 12 }, (_, n) => outbox.enqueue(message('s1', n))));
    expect(accepted(flood)).toBe(3);
    expect(flood.slice(3)).toEqual(
      Array.from({ length: 9 }, () => ({ full: true, reason: 'sensor-share', retryAfterSeconds: 30 })),
    );
    const other = await Promise.all(Array.from({ length: 3 }, (_, n) => outbox.enqueue(message('s2', n))));
    expect(accepted(other)).toBe(3);
    expect(outbox.stats()).toMatchObject({
      rows: 6,
      sensors: 2,
      perSensorShare: 0.3,
      refused: 9,
      refusedOverShare: 9,
    });
  });

  it('refuse: by bytes as well as rows, and what the broker took is room again for that sensor', async () => {
    const one = bytesOf(message('s1', 0, 400));
    // A quarter of 8 messages' bytes: 2 of them per sensor (rows are no limit here).
    const outbox = Outbox.open(freshStore(), { ...DEFAULTS, max_bytes: 8 * one, per_sensor_share: 0.25 });
    const flood = await Promise.all(
      Array.from({ length: 4 }, (_, n) => outbox.enqueue(message('s1', n, 400))),
    );
    expect(accepted(flood)).toBe(2);
    expect(flood[2]).toMatchObject({ full: true, reason: 'sensor-share' });
    expect(await outbox.enqueue(message('s2', 0, 400))).toMatchObject({ full: false });
    outbox.remove(outbox.peek(1).map((row) => row.id)); // s1's oldest was published
    expect(await outbox.enqueue(message('s1', 4, 400))).toMatchObject({ full: false });
    expect(await outbox.enqueue(message('s1', 5, 400))).toMatchObject({ full: true, reason: 'sensor-share' });
  });

  it('the shares are read back when the outbox is opened again', async () => {
    const store = freshStore();
    const path = store.path;
    const settings = { ...DEFAULTS, max_rows: 10, per_sensor_share: 0.2 };
    const outbox = Outbox.open(store, settings);
    await Promise.all([0, 1].map((n) => outbox.enqueue(message('s1', n))));
    outbox.close();
    store.close();
    const reopened = Outbox.open(openStore(path), settings);
    expect(reopened.stats()).toMatchObject({ rows: 2, sensors: 1 });
    expect(await reopened.enqueue(message('s1', 2))).toMatchObject({ full: true, reason: 'sensor-share' });
    expect(await reopened.enqueue(message('s2', 0))).toMatchObject({ full: false });
  });

  it('drop-oldest: a sensor over its share drops its own oldest rows, not the other sensors’', async () => {
    const outbox = Outbox.open(freshStore(), {
      ...DEFAULTS,
      max_rows: 10,
      per_sensor_share: 0.3,
      when_full: 'drop-oldest',
    });
    await Promise.all(Array.from({ length: 2 }, (_, n) => outbox.enqueue(message('s2', n))));
    const flood = (await Promise.all(
      Array.from({ length: 8 }, (_, n) => outbox.enqueue(message('s1', n))),
    )) as OutboxAccepted[];
    const kept = outbox.peek(20);
    expect(kept.filter((row) => row.sensorId === 's2')).toHaveLength(2);
    // s1 keeps its 3 newest.
    expect(kept.filter((row) => row.sensorId === 's1').map((row) => row.id)).toEqual(
      flood.slice(5).map((answer) => answer.id),
    );
    expect(outbox.stats()).toMatchObject({ rows: 5, dropped: 5, droppedOverShare: 5, refused: 0 });
    expect(outbox.stats().bytes).toBe(kept.reduce((sum, row) => sum + row.bytes, 0));
  });
});

describe('Outbox across restarts', () => {
  it('a reopened outbox has every committed row, its counts and its order', async () => {
    const store = freshStore();
    const path = store.path;
    const outbox = Outbox.open(store, DEFAULTS);
    await Promise.all(Array.from({ length: 20 }, (_, n) => outbox.enqueue(message(`s${n % 4}`, n))));
    outbox.remove(outbox.peek(5).map((row) => row.id));
    outbox.close();
    const before = outbox.stats();
    const rows = outbox.peek(100);
    store.close();

    const reopened = Outbox.open(openStore(path), DEFAULTS);
    expect(reopened.stats()).toMatchObject({ rows: 15, bytes: before.bytes, transactions: 0 });
    expect(reopened.peek(100)).toEqual(rows);
    // Ids keep growing after a restart (AUTOINCREMENT): never one a late PUBACK could hit.
    const next = (await reopened.enqueue(message('s1', 99))) as OutboxAccepted;
    expect(next.id).toBeGreaterThan(rows.at(-1)?.id as number);
  });

  it('close() commits what waits and refuses what comes after with EGW_OUTBOX_CLOSED', async () => {
    const store = freshStore();
    const outbox = Outbox.open(store, { ...DEFAULTS, commit_interval_ms: 1000 });
    const waiting = outbox.enqueue(message('s1', 0));
    outbox.close();
    await expect(waiting).resolves.toMatchObject({ full: false });
    expect(rowsOnDisk(store.path)).toBe(1);
    await expect(outbox.enqueue(message('s1', 1))).rejects.toMatchObject({ code: 'EGW_OUTBOX_CLOSED' });
  });
});
