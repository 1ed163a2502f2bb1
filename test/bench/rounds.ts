/**
 * Rounds that compare contenders (builds, servers) on one shared machine. Whichever ran first in a
 * round was seen to win (issue 18: the order alone swung single rounds 2×), so round r starts with
 * contender r mod n and the order rotates. Per contender: the median over rounds, and the paired
 * ratio to the reference (the first contender): the geometric mean of per-round ratios, in which
 * each round's machine load cancels out.
 */

export interface RoundRecord<F> {
  round: number;
  /** Contender names in the order they ran in this round. */
  order: string[];
  results: Record<string, F>;
}

/** The contenders in round `round`'s order: starting with contender `round` mod n, then the rest cyclically. */
export function rotated<T>(contenders: readonly T[], round: number): T[] {
  const n = contenders.length;
  if (n === 0) return [];
  const start = ((round % n) + n) % n;
  return [...contenders.slice(start), ...contenders.slice(0, start)];
}

/** Median of the finite values, null when there are none. */
export function median(values: readonly number[]): number | null {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Geometric mean of values[i] / reference[i] over the rounds where both are finite and positive; null if none. */
export function pairedRatio(values: readonly number[], reference: readonly number[]): number | null {
  let logSum = 0;
  let count = 0;
  for (let i = 0; i < Math.min(values.length, reference.length); i++) {
    const value = values[i] as number;
    const base = reference[i] as number;
    if (!(Number.isFinite(value) && Number.isFinite(base) && value > 0 && base > 0)) continue;
    logSum += Math.log(value / base);
    count++;
  }
  return count === 0 ? null : Math.exp(logSum / count);
}

/**
 * Runs `rounds` rounds of `each` over the contenders in rotating order; writes each round's order and
 * results to stderr as one JSON line as it ends. Resolves with every round's record.
 */
export async function inRotatingRounds<T, F>(
  contenders: readonly T[],
  rounds: number,
  nameOf: (contender: T) => string,
  each: (contender: T, round: number) => Promise<F>,
): Promise<RoundRecord<F>[]> {
  const records: RoundRecord<F>[] = [];
  for (let r = 0; r < rounds; r++) {
    const order = rotated(contenders, r);
    const record: RoundRecord<F> = { round: r, order: order.map(nameOf), results: {} };
    for (const contender of order) record.results[nameOf(contender)] = await each(contender, r);
    process.stderr.write(`${JSON.stringify(record)}\n`);
    records.push(record);
  }
  return records;
}

/**
 * Per contender and figure (what `pick` reads from one result; NaN when absent): the median over the
 * rounds and the paired ratio to the contender named `reference` (the baseline, usually this build).
 */
export function summarizeRounds<F>(
  records: readonly RoundRecord<F>[],
  reference: string,
  pick: (result: F) => Record<string, number>,
): Record<string, Record<string, { median: number | null; paired_ratio: number | null }>> {
  const names = [...new Set(records.flatMap((record) => Object.keys(record.results)))];
  const series = (name: string, figure: string) =>
    records.map((record) => {
      const result = record.results[name];
      return result === undefined ? Number.NaN : (pick(result)[figure] ?? Number.NaN);
    });
  const out: Record<string, Record<string, { median: number | null; paired_ratio: number | null }>> = {};
  for (const name of names) {
    const figures = [
      ...new Set(
        records.flatMap((r) =>
          r.results[name] === undefined ? [] : Object.keys(pick(r.results[name] as F)),
        ),
      ),
    ];
    out[name] = Object.fromEntries(
      figures.map((figure) => {
        const mine = series(name, figure);
        return [figure, { median: median(mine), paired_ratio: pairedRatio(mine, series(reference, figure)) }];
      }),
    );
  }
  return out;
}
