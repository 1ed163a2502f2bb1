import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OutboxError } from '../../../src/upstream/index.js';
import {
  outboxMessage as message,
  type OutboxUnderTest,
  openOutboxUnderTest,
  removeOutboxUnderTest,
} from '../../helpers/outbox-fixture.js';

/**
 * The outbox commits without an fsync and syncs the WAL on the thread pool (Store.transactionSyncedLater):
 * these hold each fdatasync of the -wal file until the test lets it end, to see that nobody hears
 * "accepted" before the sync that covers their commit has ended.
 */
const syncs = vi.hoisted(() => ({ held: [] as ((error: Error | null) => void)[] }));
vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  return {
    ...actual,
    fdatasync: (fd: number, callback: (error: Error | null) => void) =>
      syncs.held.push((error) => (error ? callback(error) : actual.fdatasync(fd, callback))),
  };
});

let fixture: OutboxUnderTest;
let store: OutboxUnderTest['store'];
let outbox: OutboxUnderTest['outbox'];

beforeEach(() => {
  syncs.held.length = 0;
  fixture = openOutboxUnderTest('egw-outbox-sync-');
  ({ store, outbox } = fixture);
});

afterEach(() => {
  // Whatever a test left held ends now (close() syncs what is left itself).
  for (const release of syncs.held.splice(0)) release(null);
  removeOutboxUnderTest(fixture);
});

/** Whether `promise` has settled after the pending I/O callbacks and microtasks have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

/** Lets the oldest held fdatasync run (or fail with `error`) and waits until it has ended. */
async function release(error: Error | null = null): Promise<void> {
  const next = syncs.held.shift();
  if (!next) throw new Error('no fdatasync is held');
  const before = outbox.stats().syncing;
  next(error);
  await vi.waitFor(() => expect(outbox.stats().syncing).toBeLessThan(before));
}

describe('outbox: the answer waits for the WAL on disk', () => {
  it('commits at once but answers only once the fdatasync covering the commit has ended', async () => {
    const answer = outbox.enqueue(message(1));
    outbox.flush();
    // Committed (the publisher may take it) and visible in the table, not yet acknowledged.
    expect(outbox.stats()).toMatchObject({ committed: 1, rows: 1, syncing: 1 });
    expect(outbox.peek(10).map((row) => row.payload.toString())).toEqual(['{"n":1}']);
    expect(syncs.held).toHaveLength(1);
    expect(await settled(answer)).toBe(false);
    await release();
    await expect(answer).resolves.toMatchObject({ full: false });
    expect(outbox.stats().syncing).toBe(0);
  });

  it('a commit made while a sync is in flight waits for the next one (which covers it), not this one', async () => {
    const first = outbox.enqueue(message(1));
    outbox.flush();
    const second = outbox.enqueue(message(2));
    outbox.flush();
    // One fdatasync so far: the second commit came after it began, so it must not count for it.
    expect(syncs.held).toHaveLength(1);
    await release();
    await expect(first).resolves.toMatchObject({ full: false });
    expect(await settled(second)).toBe(false);
    expect(syncs.held).toHaveLength(1); // the second commit's own sync, started when the first ended
    await release();
    const ids = [(await first) as { id: number }, (await second) as { id: number }].map((a) => a.id);
    expect(ids[1]).toBeGreaterThan(ids[0] as number);
  });

  it('a failed sync is no acknowledgement: the callers hear EGW_OUTBOX_WRITE_FAILED', async () => {
    const answer = outbox.enqueue(message(1));
    outbox.flush();
    const outcome = answer.then(
      () => undefined,
      (cause: unknown) => cause,
    );
    const failure = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    await release(failure);
    const error = await outcome;
    expect(error).toBeInstanceOf(OutboxError);
    expect((error as OutboxError).code).toBe('EGW_OUTBOX_WRITE_FAILED');
    expect((error as Error).message).toContain('EIO');
    expect(outbox.stats().syncing).toBe(0);
  });

  it('closing the store syncs what waits and answers it', async () => {
    const answer = outbox.enqueue(message(1));
    outbox.close();
    expect(await settled(answer)).toBe(false);
    store.close(); // fdatasyncSync of what is written, then the callers hear
    await expect(answer).resolves.toMatchObject({ full: false });
  });
});
