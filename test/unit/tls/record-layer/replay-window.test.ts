import { describe, expect, it } from 'vitest';
import { ReplayWindow } from '../../../../src/tls/dtls/record-layer/index.js';

function accept(window: ReplayWindow, sequence: number): boolean {
  if (!window.isFresh(sequence)) return false;
  window.mark(sequence);
  return true;
}

describe('ReplayWindow', () => {
  it('accepts each number once, in any order within the window', () => {
    const window = new ReplayWindow();
    expect([0, 2, 1, 2, 0, 5, 3, 4, 5].map((n) => accept(window, n))).toEqual([
      true,
      true,
      true,
      false,
      false,
      true,
      true,
      true,
      false,
    ]);
  });

  it('refuses numbers older than 64 behind the highest, keeps track across both halves of the bitmap', () => {
    const window = new ReplayWindow();
    expect(accept(window, 100)).toBe(true);
    expect(accept(window, 100 - 63)).toBe(true); // oldest still in the window
    expect(accept(window, 100 - 64)).toBe(false); // just outside
    expect(accept(window, 100 - 40)).toBe(true); // upper half of the bitmap
    expect(accept(window, 100 - 40)).toBe(false);
    expect(accept(window, 120)).toBe(true); // shift by 20: 60 is now 60 behind
    expect(accept(window, 60)).toBe(false);
    expect(accept(window, 61)).toBe(true);
    expect(accept(window, 120 + 33)).toBe(true); // shift by 33 moves bits between halves
    expect(accept(window, 120)).toBe(false);
    expect(accept(window, 121)).toBe(true);
    expect(accept(window, 1000)).toBe(true); // a jump clears everything
    expect(accept(window, 999)).toBe(true);
    expect(accept(window, 153)).toBe(false);
  });

  it('does not move on isFresh alone (only authenticated records are marked)', () => {
    const window = new ReplayWindow();
    accept(window, 10);
    expect(window.isFresh(1_000_000)).toBe(true);
    expect(accept(window, 9)).toBe(true);
  });

  it('handles 48-bit sequence numbers', () => {
    const window = new ReplayWindow();
    const top = 2 ** 48 - 1;
    expect(accept(window, top - 1)).toBe(true);
    expect(accept(window, top)).toBe(true);
    expect(accept(window, top - 1)).toBe(false);
  });
});
