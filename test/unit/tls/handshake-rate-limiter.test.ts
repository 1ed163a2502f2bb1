import { describe, expect, it } from 'vitest';
import { HandshakeRateLimiter } from '../../../src/tls/dtls/handshake-rate-limiter.js';

function limiter(now: { t: number }, maxTracked = 100) {
  return new HandshakeRateLimiter(
    { ratePerSecond: 2, burst: 3 },
    { ratePerSecond: 100, burst: 10 },
    maxTracked,
    () => now.t,
  );
}

describe('HandshakeRateLimiter', () => {
  it('lets a burst through per address, then refills at the rate', () => {
    const now = { t: 0 };
    const buckets = limiter(now);
    expect([1, 2, 3, 4].map(() => buckets.take('192.0.2.1').ok)).toEqual([true, true, true, false]);
    expect(buckets.take('192.0.2.2').ok).toBe(true); // another address has its own bucket
    now.t = 500; // half a second: one token at 2/s
    expect(buckets.take('192.0.2.1').ok).toBe(true);
    expect(buckets.take('192.0.2.1')).toEqual({ ok: false, refusedBy: 'perAddress' });
  });

  it('caps all addresses together with the global bucket', () => {
    const now = { t: 0 };
    const buckets = limiter(now);
    const results = Array.from({ length: 20 }, (_, i) => buckets.take(`198.51.100.${i}`));
    expect(results.filter((result) => result.ok)).toHaveLength(10);
    expect(results.at(-1)).toEqual({ ok: false, refusedBy: 'global' });
  });

  it('charges a signature made without a token, into debt that later handshakes pay back', () => {
    const now = { t: 0 };
    const buckets = limiter(now);
    for (let i = 0; i < 8; i++) buckets.charge('192.0.2.1'); // from 3 down to -3 at most
    expect(buckets.take('192.0.2.1').ok).toBe(false);
    now.t = 1_500; // +3 tokens at 2/s: back to 0
    expect(buckets.take('192.0.2.1').ok).toBe(false);
    now.t = 2_000;
    expect(buckets.take('192.0.2.1').ok).toBe(true);
  });

  it('keeps its address table bounded, dropping the least recently seen', () => {
    const now = { t: 0 };
    const buckets = limiter(now, 3);
    for (const address of ['a', 'b', 'c', 'd']) buckets.take(address);
    expect(buckets.trackedAddresses).toBe(3);
  });

  it('prunes buckets that have refilled', () => {
    const now = { t: 0 };
    const buckets = limiter(now);
    buckets.take('a');
    buckets.take('b');
    now.t = 10_000;
    buckets.prune();
    expect(buckets.trackedAddresses).toBe(0);
  });
});
