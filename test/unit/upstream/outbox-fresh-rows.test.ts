import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../../src/store/index.js';
import {
  Outbox,
  type OutboxAccepted,
  type OutboxMessage,
  type OutboxRefusal,
  type OutboxRow,
  type OutboxSettings,
} from '../../../src/upstream/index.js';

/**
 * What the outbox does without reading back what it wrote: rows just committed are handed out from
 * memory, acknowledged ids are deleted in ranges. Seen from outside: the same rows, order and counts
 * as the table has, and the table holding exactly what was not acknowledged.
 */

const SETTINGS: OutboxSettings = {
  max_rows: 1_000_000,
  max_bytes: 256 * 1024 * 1024,
  when_full: 'refuse',
  refuse_max_age_s: 30,
  commit_interval_ms: 5,
  commit_batch: 256,
  per_sensor_share: 1,
};

const dirs: string[] = [];
const stores: Store[] = [];

function freshStore(): Store {
  const dir = mkdtempSync(join(tmpdir(), 'egw-outbox-fresh-'));
  dirs.push(dir);
  const store = Store.open(join(dir, 'state.db'));
  stores.push(store);
  return store;
}

afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function message(sensorId: string, n: number): OutboxMessage {
  return {
    sensorId,
    topic: `devices/${sensorId}/telemetry`,
    payload: Buffer.from(JSON.stringify({ n })),
    contentFormat: 50,
    properties: { 'sensor-id': sensorId },
  };
}

/** The ids in the table, read over a second connection (what a restart would find). */
function idsOnDisk(path: string): number[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT id FROM upstream_outbox ORDER BY id').pluck().all() as number[];
  } finally {
    db.close();
  }
}

async function enqueueAll(outbox: Outbox, messages: OutboxMessage[]): Promise<number[]> {
  const answers = await Promise.all(messages.map((m) => outbox.enqueue(m)));
  return answers.map((answer) => (answer as OutboxAccepted).id);
}

const label = (row: OutboxRow) =>
  `${row.sensorId}:${(JSON.parse(row.payload.toString()) as { n: number }).n}`;

describe('Outbox range delete', () => {
  it('deletes exactly the acknowledged ids, in runs and alone, and keeps every other row', async () => {
    const store = freshStore();
    const outbox = Outbox.open(store, SETTINGS);
    const ids = await enqueueAll(
      outbox,
      Array.from({ length: 12 }, (_, n) => message(`s${n % 3}`, n)),
    );
    expect(outbox.peek(100).map((row) => row.id)).toEqual(ids);
    // PUBACKs out of id order (several sensors in flight): runs 0-2 and 6-8, single ids 4 and 11.
    const acknowledged = [ids[2], ids[0], ids[4], ids[1], ids[8], ids[6], ids[7], ids[11]] as number[];
    outbox.remove(acknowledged);
    outbox.flush();
    const kept = ids.filter((id) => !acknowledged.includes(id));
    expect(idsOnDisk(store.path)).toEqual(kept);
    expect(outbox.stats()).toMatchObject({ rows: kept.length, removed: acknowledged.length });
    expect(outbox.peek(100, 0).map((row) => row.id)).toEqual(kept);
  });

  it('a late acknowledgement of a row dropped meanwhile deletes the other rows and nothing else', async () => {
    const store = freshStore();
    const outbox = Outbox.open(store, { ...SETTINGS, max_rows: 4, when_full: 'drop-oldest' });
    const first = await enqueueAll(outbox, [message('s1', 0), message('s1', 1), message('s1', 2)]);
    outbox.peek(10);
    // Two more: the oldest row is dropped in the same commit that brings them.
    const later = await enqueueAll(outbox, [message('s1', 3), message('s1', 4)]);
    expect(outbox.stats()).toMatchObject({ rows: 4, dropped: 1 });
    // Its PUBACK and those of the next two come after.
    outbox.remove(first);
    outbox.flush();
    expect(idsOnDisk(store.path)).toEqual(later);
    expect(outbox.stats()).toMatchObject({ rows: 2, removed: 2 });
  });

  it('a row that left the table some other way is not counted as removed; the rest of its run goes', async () => {
    const store = freshStore();
    const outbox = Outbox.open(store, SETTINGS);
    const ids = await enqueueAll(
      outbox,
      [0, 1, 2, 3].map((n) => message('s1', n)),
    );
    outbox.peek(10);
    const db = new Database(store.path);
    try {
      db.prepare('DELETE FROM upstream_outbox WHERE id = ?').run(ids[1] as number);
    } finally {
      db.close();
    }
    outbox.remove(ids.slice(0, 3));
    outbox.flush();
    expect(idsOnDisk(store.path)).toEqual([ids[3]]);
    expect(outbox.stats()).toMatchObject({ removed: 2, rows: 1 });
  });
});

describe('Outbox rows handed out from memory', () => {
  it('are the committed rows, in arrival order across commits, and the table has the same after a reset', async () => {
    const outbox = Outbox.open(freshStore(), SETTINGS);
    const sent: string[] = [];
    const batch = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => {
        const n = from + i;
        sent.push(`s${n % 3}:${n}`);
        return message(`s${n % 3}`, n);
      });
    await enqueueAll(outbox, batch(0, 10));
    const firstSeven = outbox.peek(7);
    await enqueueAll(outbox, batch(10, 25));
    const rest: OutboxRow[] = [];
    for (let cursor = firstSeven.at(-1)?.id ?? 0; ; ) {
      const rows = outbox.peek(4, cursor);
      if (rows.length === 0) break;
      rest.push(...rows);
      cursor = rows.at(-1)?.id ?? cursor;
    }
    const handedOut = [...firstSeven, ...rest];
    expect(handedOut.map(label)).toEqual(sent);
    // A new broker session starts from the head: the same rows, now from the table.
    const again = outbox.peek(100, 0);
    expect(again.map(label)).toEqual(sent);
    expect(again.map((row) => row.id)).toEqual(handedOut.map((row) => row.id));
    expect(again[5]).toEqual({ ...handedOut[5], createdAt: handedOut[5]?.createdAt });
  });

  it('after a reset read from the table, rows still in memory are not handed out twice', async () => {
    const outbox = Outbox.open(freshStore(), SETTINGS);
    await enqueueAll(
      outbox,
      [0, 1, 2, 3, 4].map((n) => message('s1', n)),
    );
    outbox.peek(2);
    // The session ended: the publisher reads from the head, past what is still in memory.
    const fromHead = outbox.peek(100, 0);
    expect(fromHead.map(label)).toEqual(['s1:0', 's1:1', 's1:2', 's1:3', 's1:4']);
    await enqueueAll(
      outbox,
      [5, 6].map((n) => message('s1', n)),
    );
    expect(outbox.peek(100, fromHead.at(-1)?.id).map(label)).toEqual(['s1:5', 's1:6']);
  });

  it('drop-oldest: rows dropped while still in memory are never handed out', async () => {
    const outbox = Outbox.open(freshStore(), { ...SETTINGS, max_rows: 5, when_full: 'drop-oldest' });
    const first = await enqueueAll(
      outbox,
      [0, 1, 2, 3].map((n) => message('s1', n)),
    );
    // Not handed out yet; the next commit drops the two oldest of them.
    const second = await enqueueAll(
      outbox,
      [4, 5, 6].map((n) => message('s1', n)),
    );
    expect(outbox.stats()).toMatchObject({ rows: 5, dropped: 2 });
    expect(outbox.peek(10).map((row) => row.id)).toEqual([...first.slice(2), ...second]);
  });

  it('refuse: a full backlog answers with a retry, and what the broker took from memory is room at once', async () => {
    const outbox = Outbox.open(freshStore(), { ...SETTINGS, max_rows: 4 });
    await enqueueAll(
      outbox,
      [0, 1, 2, 3].map((n) => message('s1', n)),
    );
    const refused = (await outbox.enqueue(message('s2', 0))) as OutboxRefusal;
    // Nothing drained yet: the longest retry (→ 5.03 with Max-Age 30).
    expect(refused).toMatchObject({ full: true, reason: 'outbox-full', retryAfterSeconds: 30 });
    const forwarded = outbox.peek(2);
    outbox.remove(forwarded.map((row) => row.id));
    // Room before the removals' commit: they left the counts when the broker acknowledged them.
    const accepted = outbox.enqueue(message('s2', 1));
    expect(outbox.stats()).toMatchObject({ rows: 2, waiting: 1 });
    expect(await accepted).toMatchObject({ full: false });
    expect(outbox.stats()).toMatchObject({ rows: 3, removed: 2, refused: 1 });
  });
});
