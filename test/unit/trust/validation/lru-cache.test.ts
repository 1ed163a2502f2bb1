import { describe, expect, it } from 'vitest';
import { LruCache } from '../../../../src/trust/validation/index.js';

describe('LruCache', () => {
  it('holds at most its capacity, forgetting the oldest unused entry first', () => {
    const cache = new LruCache<string, number>(3);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    expect(cache.get('a')).toBe(1); // used: survives the next eviction
    cache.set('d', 4);
    expect(cache.size).toBe(3);
    expect(cache.get('b')).toBeUndefined();
    expect([cache.get('a'), cache.get('c'), cache.get('d')]).toEqual([1, 3, 4]);
  });

  it('replaces the value of a key it has', () => {
    const cache = new LruCache<string, number>(2);
    cache.set('a', 1);
    cache.set('a', 2);
    expect(cache.size).toBe(1);
    expect(cache.get('a')).toBe(2);
    expect([...cache.values()]).toEqual([2]);
  });

  it('evicts even when everything was used recently', () => {
    const cache = new LruCache<number, number>(2);
    cache.set(1, 1);
    cache.set(2, 2);
    cache.get(1);
    cache.get(2);
    cache.set(3, 3);
    expect(cache.size).toBe(2);
    expect([cache.get(1), cache.get(2), cache.get(3)]).toEqual([undefined, 2, 3]);
  });

  it('wants a positive integer capacity', () => {
    expect(() => new LruCache(0)).toThrow(RangeError);
    expect(() => new LruCache(1.5)).toThrow(RangeError);
  });
});
