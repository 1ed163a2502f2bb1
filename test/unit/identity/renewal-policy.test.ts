import { describe, expect, it } from 'vitest';
import { type RenewalPolicy, renewalTime, retryDelayMs } from '../../../src/identity/index.js';

const DAY = 86_400_000;
const policy: RenewalPolicy = {
  lifetimeFraction: 0.8,
  daysBeforeExpiry: 30,
  jitterFraction: 0.02,
  retryInitialMs: 5000,
  retryMaxMs: 3_600_000,
  rebootstrapWhenExpired: true,
};
const start = new Date('2027-01-01T00:00:00Z');
const atOffset = (ms: number) => new Date(start.getTime() + ms);

describe('renewalTime', () => {
  it('takes 80 % of the lifetime for a one-year certificate (earlier than 30 days before expiry)', () => {
    expect(renewalTime(start, atOffset(365 * DAY), policy, () => 0)).toEqual(atOffset(0.8 * 365 * DAY));
  });

  it('takes 30 days before expiry when that comes first (100-day certificate)', () => {
    expect(renewalTime(start, atOffset(100 * DAY), policy, () => 0)).toEqual(atOffset(70 * DAY));
  });

  it('never renews before half the lifetime (30-day certificate, 30 days before expiry)', () => {
    expect(renewalTime(start, atOffset(30 * DAY), policy, () => 0)).toEqual(atOffset(15 * DAY));
    expect(renewalTime(start, atOffset(60_000), policy, () => 1)).toEqual(atOffset(30_000));
  });

  it('moves earlier by at most jitterFraction of the lifetime', () => {
    const early = renewalTime(start, atOffset(365 * DAY), policy, () => 1);
    expect(early).toEqual(atOffset(0.8 * 365 * DAY - 0.02 * 365 * DAY));
  });
});

describe('retryDelayMs', () => {
  it('doubles its ceiling per attempt up to the maximum, with full jitter', () => {
    expect(retryDelayMs(1, policy, () => 1)).toBe(5000);
    expect(retryDelayMs(2, policy, () => 1)).toBe(10_000);
    expect(retryDelayMs(4, policy, () => 1)).toBe(40_000);
    expect(retryDelayMs(30, policy, () => 1)).toBe(3_600_000);
    expect(retryDelayMs(4, policy, () => 0.5)).toBe(20_000);
  });

  it('is never zero', () => {
    expect(retryDelayMs(1, policy, () => 0)).toBe(500);
  });
});
