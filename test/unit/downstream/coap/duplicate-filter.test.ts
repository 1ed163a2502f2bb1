import { describe, expect, it } from 'vitest';
import { DuplicateFilter } from '../../../../src/downstream/coap/duplicate-filter.js';

function filter(maxPerPeer = 100) {
  let now = 0;
  return {
    filter: new DuplicateFilter({ lifetimeMs: 1000, maxPerPeer, now: () => now }),
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('DuplicateFilter', () => {
  it('flags a message id seen from the same session within its lifetime', () => {
    const { filter: seen, advance } = filter();
    expect(seen.isDuplicate('a:1', 7)).toBe(false);
    expect(seen.isDuplicate('a:1', 7)).toBe(true);
    expect(seen.isDuplicate('a:2', 7)).toBe(false);
    expect(seen.isDuplicate('a:1', 8)).toBe(false);
    advance(999);
    expect(seen.isDuplicate('a:1', 7)).toBe(true);
    advance(1);
    expect(seen.isDuplicate('a:1', 7)).toBe(false);
  });

  it('forgets a session that ended: a rebooted sensor may reuse its message ids', () => {
    const { filter: seen } = filter();
    seen.isDuplicate('a:1', 7);
    seen.forgetPeer('a:1');
    expect(seen.isDuplicate('a:1', 7)).toBe(false);
  });

  it('keeps at most maxPerPeer ids per session, the oldest going first', () => {
    const { filter: seen } = filter(3);
    for (const id of [1, 2, 3, 4]) expect(seen.isDuplicate('a:1', id)).toBe(false);
    expect(seen.isDuplicate('a:1', 4)).toBe(true);
    expect(seen.isDuplicate('a:1', 3)).toBe(true);
    expect(seen.isDuplicate('a:1', 1)).toBe(false);
  });
});
