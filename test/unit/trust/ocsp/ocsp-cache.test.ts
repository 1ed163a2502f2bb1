/** The in-memory answer cache: held between thisUpdate (less the skew) and nextUpdate, newest wins. */
import { describe, expect, it } from 'vitest';
import type { OcspStatus } from '../../../../src/trust/ocsp/index.js';
import { OcspCache } from '../../../../src/trust/ocsp/ocsp-cache.js';

const minute = 60_000;
const t0 = new Date('2030-01-01T00:00:00Z');
const at = (minutes: number) => new Date(t0.getTime() + minutes * minute);
const answer = (status: OcspStatus['status'], from: number, to: number | undefined): OcspStatus => ({
  status,
  thisUpdate: at(from),
  nextUpdate: to === undefined ? undefined : at(to),
});

describe('OcspCache', () => {
  it('answers from thisUpdate less the skew until nextUpdate, then no more', () => {
    const cache = new OcspCache(10);
    cache.put('k', answer('good', 0, 10));
    expect(cache.get('k', at(-2), 5 * minute)?.status).toBe('good');
    expect(cache.get('k', at(-6), 5 * minute)).toBeUndefined();
    expect(cache.get('k', at(10), 5 * minute)?.status).toBe('good');
    expect(cache.get('k', new Date(at(10).getTime() + 1), 5 * minute)).toBeUndefined();
    expect(cache.get('other', at(1), 5 * minute)).toBeUndefined();
  });

  it('does not keep an answer without nextUpdate', () => {
    const cache = new OcspCache(10);
    cache.put('k', answer('good', 0, undefined));
    expect(cache.get('k', at(0), 0)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('a newer answer replaces an older one, an older one arriving late does not', () => {
    const cache = new OcspCache(10);
    cache.put('k', answer('good', 0, 10));
    cache.put('k', answer('revoked', 5, 15));
    cache.put('k', answer('good', 1, 11));
    expect(cache.get('k', at(6), 0)?.status).toBe('revoked');
  });

  it('stays within its capacity', () => {
    const cache = new OcspCache(2);
    for (const key of ['a', 'b', 'c']) cache.put(key, answer('good', 0, 10));
    expect(cache.size).toBe(2);
  });
});
