import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type OutboxUnderTest,
  openOutboxUnderTest,
  outboxMessage,
  removeOutboxUnderTest,
} from '../../helpers/outbox-fixture.js';

/**
 * When the outbox commits: a message that finds it idle is committed at the end of the event-loop
 * turn it arrived in (with whatever else that turn brought), not after commit_interval_ms; a message
 * arriving within commit_interval_ms of the last commit waits for the interval (group commit under
 * load). A long interval here makes "waits" unmistakable.
 */
let fixture: OutboxUnderTest;
let outbox: OutboxUnderTest['outbox'];

beforeEach(() => {
  fixture = openOutboxUnderTest('egw-outbox-trigger-', { commit_interval_ms: 60_000 });
  outbox = fixture.outbox;
});

afterEach(() => {
  outbox.close();
  removeOutboxUnderTest(fixture);
});

const message = (n: number) => outboxMessage(n, `sensor-${n % 4}`, 't');

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
