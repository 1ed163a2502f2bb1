import { describe, expect, it } from 'vitest';
import { contentFormatOf, contentTypeOf, ReconnectBackoff } from '../../../src/upstream/index.js';

describe('ReconnectBackoff', () => {
  it('grows the ceiling exponentially up to the maximum (random at its top)', () => {
    const backoff = new ReconnectBackoff(100, 1000, () => 1);
    expect(Array.from({ length: 6 }, () => backoff.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoff.attempt).toBe(6);
    backoff.reset();
    expect(backoff.next()).toBe(100);
  });

  it('full jitter: a uniform pick below the ceiling, never under the initial delay', () => {
    const picks = [0, 0.5, 0.25, 0.9];
    const backoff = new ReconnectBackoff(100, 10_000, () => picks.shift() ?? 0);
    expect(backoff.next()).toBe(100); // 0 × 100, floored at 100
    expect(backoff.next()).toBe(100); // 0.5 × 200
    expect(backoff.next()).toBe(100); // 0.25 × 400
    expect(backoff.next()).toBe(720); // 0.9 × 800
  });
});

describe('content formats', () => {
  it('maps CoAP Content-Formats to MQTT content types and back', () => {
    expect(contentTypeOf(50)).toBe('application/json');
    expect(contentTypeOf(60)).toBe('application/cbor');
    expect(contentFormatOf('application/json', undefined)).toBe(50);
    expect(contentFormatOf('application/cbor', undefined)).toBe(60);
    expect(contentFormatOf('text/plain; charset=utf-8', undefined)).toBe(0);
    expect(contentFormatOf(undefined, true)).toBe(0);
    expect(contentFormatOf('application/x-unknown', false)).toBe(42);
  });
});
