import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  outboxMessage as message,
  type OutboxUnderTest,
  openOutboxUnderTest,
  removeOutboxUnderTest,
} from '../../helpers/outbox-fixture.js';

/**
 * Outbox.open's onCommitted: the publisher hears of committed rows before their fsync has ended (it
 * may forward them while the disk syncs), while enqueue() still answers only after it. Each
 * fdatasync of the -wal file is held here until the test lets it end.
 */
const syncs = vi.hoisted(() => ({ held: [] as (() => void)[] }));
vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  return {
    ...actual,
    fdatasync: (fd: number, callback: (error: Error | null) => void) =>
      syncs.held.push(() => actual.fdatasync(fd, callback)),
  };
});

let fixture: OutboxUnderTest;
let outbox: OutboxUnderTest['outbox'];
let commits: number;

beforeEach(() => {
  syncs.held.length = 0;
  commits = 0;
  fixture = openOutboxUnderTest('egw-outbox-hook-', {}, { onCommitted: () => commits++ });
  outbox = fixture.outbox;
});

afterEach(() => {
  for (const release of syncs.held.splice(0)) release();
  removeOutboxUnderTest(fixture);
});

describe('outbox: onCommitted', () => {
  it('hears of a commit of rows while its fsync is held, with the rows already in peek(); the caller hears after the sync', async () => {
    let answered = false;
    const answer = outbox.enqueue(message(1)).then((outcome) => {
      answered = true;
      return outcome;
    });
    const seen: string[] = [];
    expect(commits).toBe(0);
    outbox.flush();
    expect(commits).toBe(1);
    // What the publisher does when woken: reads what was committed.
    for (const row of outbox.peek(10)) seen.push(row.payload.toString());
    expect(seen).toEqual(['{"n":1}']);
    expect(syncs.held).toHaveLength(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(answered).toBe(false);
    syncs.held.shift()?.();
    await expect(answer).resolves.toMatchObject({ full: false });
  });

  it('is not called for a commit of removals alone', async () => {
    outbox.enqueue(message(1));
    outbox.flush();
    expect(commits).toBe(1);
    const [row] = outbox.peek(10);
    outbox.remove([row?.id as number]);
    outbox.flush();
    expect(commits).toBe(1);
    expect(outbox.stats()).toMatchObject({ removed: 1, rows: 0 });
  });
});
