import { afterEach, describe, expect, it } from 'vitest';
import { Outbox } from '../../../src/upstream/index.js';
import {
  OUTBOX_TEST_SETTINGS,
  type OutboxUnderTest,
  openOutboxUnderTest,
  outboxMessage,
  removeOutboxUnderTest,
} from '../../helpers/outbox-fixture.js';

/**
 * Rows read back from the table (a backlog after an outage or a restart) share one properties object
 * per sensor, as rows handed out from memory do: the publisher builds a PUBLISH template per
 * properties object, so a new object per row meant a new template per message.
 */

const opened: OutboxUnderTest[] = [];
afterEach(() => {
  for (const under of opened.splice(0)) removeOutboxUnderTest(under);
});

describe('Outbox rows read from the table', () => {
  it('share one frozen properties object per distinct properties, with the stored values', async () => {
    const under = openOutboxUnderTest('egw-outbox-props-');
    opened.push(under);
    const props = (sensorId: string) => ({ 'sensor-id': sensorId, 'certificate-sha256': 'ab'.repeat(32) });
    const pending = [0, 1, 2, 3, 4, 5].map((n) => {
      const sensorId = n % 2 === 0 ? 'sensor-a' : 'sensor-b';
      // A new (equal) object per message: what a daemon restarted since finds is only the JSON.
      return under.outbox.enqueue({ ...outboxMessage(n, sensorId), properties: props(sensorId) });
    });
    under.outbox.flush();
    await Promise.all(pending);
    // Another outbox on the same database: nothing in memory, every row comes from the table.
    const reopened = Outbox.open(under.store, OUTBOX_TEST_SETTINGS);
    const rows = reopened.peek(10);
    expect(rows.map((row) => row.sensorId)).toEqual([
      'sensor-a',
      'sensor-b',
      'sensor-a',
      'sensor-b',
      'sensor-a',
      'sensor-b',
    ]);
    const [a0, b0, a1, b1, a2, b2] = rows.map((row) => row.properties);
    expect(a1).toBe(a0);
    expect(a2).toBe(a0);
    expect(b1).toBe(b0);
    expect(b2).toBe(b0);
    expect(b0).not.toBe(a0);
    expect(a0).toEqual(props('sensor-a'));
    expect(b0).toEqual(props('sensor-b'));
    expect(Object.isFrozen(a0)).toBe(true);
  });

  it('does not keep a long serialization (a command refusal with its correlation data): each row parses its own', async () => {
    const under = openOutboxUnderTest('egw-outbox-props-long-');
    opened.push(under);
    const long = { 'sensor-id': 'sensor-a', 'correlation-data': 'cd'.repeat(2048) };
    const pending = [0, 1].map((n) =>
      under.outbox.enqueue({ ...outboxMessage(n, 'sensor-a'), properties: { ...long } }),
    );
    under.outbox.flush();
    await Promise.all(pending);
    const [first, second] = Outbox.open(under.store, OUTBOX_TEST_SETTINGS)
      .peek(10)
      .map((row) => row.properties);
    expect(first).toEqual(long);
    expect(second).toEqual(long);
    expect(second).not.toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
  });
});
