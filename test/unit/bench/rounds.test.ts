import { describe, expect, it } from 'vitest';
import { inRotatingRounds, median, pairedRatio, rotated, summarizeRounds } from '../../bench/rounds.js';

describe('bench rounds', () => {
  it('starts round r with contender r mod n, the rest in cyclic order', () => {
    const contenders = ['base', 'ours', 'libcoap'];
    expect([0, 1, 2, 3, 4].map((r) => rotated(contenders, r))).toEqual([
      ['base', 'ours', 'libcoap'],
      ['ours', 'libcoap', 'base'],
      ['libcoap', 'base', 'ours'],
      ['base', 'ours', 'libcoap'],
      ['ours', 'libcoap', 'base'],
    ]);
  });

  it('gives every contender every position once in n rounds', async () => {
    const contenders = ['a', 'b', 'c', 'd'];
    const firsts: string[] = [];
    const records = await inRotatingRounds(
      contenders,
      4,
      (c) => c,
      async (c, r) => {
        if (firsts.length === r) firsts.push(c);
        return { value: 1 };
      },
    );
    expect(firsts).toEqual(['a', 'b', 'c', 'd']);
    expect(records.map((record) => record.order[0])).toEqual(['a', 'b', 'c', 'd']);
    for (const position of [0, 1, 2, 3])
      expect(new Set(records.map((record) => record.order[position]))).toEqual(new Set(contenders));
  });

  it('reports the median and the geometric mean of per-round ratios to the reference', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
    // Round loads differ 4×; the paired ratio sees 2× and 0.5×, which cancel.
    expect(pairedRatio([200, 200], [100, 400])).toBeCloseTo(1, 12);
    expect(pairedRatio([110, 440], [100, 400])).toBeCloseTo(1.1, 12);
    const records = [
      { round: 0, order: ['base', 'ours'], results: { base: { rate: 100 }, ours: { rate: 150 } } },
      { round: 1, order: ['ours', 'base'], results: { ours: { rate: 300 }, base: { rate: 200 } } },
    ];
    const summary = summarizeRounds(records, 'base', (result) => result);
    expect(summary.base?.rate).toEqual({ median: 150, paired_ratio: 1 });
    expect(summary.ours?.rate?.median).toBe(225);
    expect(summary.ours?.rate?.paired_ratio).toBeCloseTo(1.5, 12);
  });
});
