import { describe, expect, it } from 'vitest';
import { DeliveredTelemetry } from '../../../../src/downstream/coap/delivered-telemetry.js';

const key = (messageId: number, text: string) => DeliveredTelemetry.keyOf(messageId, Buffer.from(text));

describe('DeliveredTelemetry', () => {
  it('knows a stored message by sensor, message id and body, for its lifetime only', () => {
    let now = 1_000;
    const delivered = new DeliveredTelemetry({ lifetimeMs: 100, now: () => now });
    delivered.remember('s1', key(7, 'a'));
    expect(delivered.has('s1', key(7, 'a'))).toBe(true);
    expect(delivered.has('s1', key(7, 'b'))).toBe(false); // same id, another body: a new message
    expect(delivered.has('s1', key(8, 'a'))).toBe(false);
    expect(delivered.has('s2', key(7, 'a'))).toBe(false);
    now += 100;
    expect(delivered.has('s1', key(7, 'a'))).toBe(false);
  });

  it('a new message that reuses an id takes the old one’s place', () => {
    const delivered = new DeliveredTelemetry({ lifetimeMs: 100, now: () => 0 });
    delivered.remember('s1', key(7, 'a'));
    delivered.remember('s1', key(7, 'b'));
    expect(delivered.has('s1', key(7, 'b'))).toBe(true);
    expect(delivered.has('s1', key(7, 'a'))).toBe(false);
    expect(delivered.entries).toBe(1);
  });

  it('keeps at most 8 per sensor (the newest) and forgets sensors whose messages expired', () => {
    let now = 0;
    const delivered = new DeliveredTelemetry({ lifetimeMs: 1_000, now: () => now });
    for (let id = 1; id <= 20; id++) delivered.remember('busy', key(id, `m${id}`));
    expect(delivered.entries).toBe(8);
    expect(delivered.has('busy', key(12, 'm12'))).toBe(false);
    expect(delivered.has('busy', key(13, 'm13'))).toBe(true);
    delivered.remember('quiet', key(1, 'x'));
    now = 2_000;
    delivered.prune();
    expect(delivered.entries).toBe(0);
  });
});
