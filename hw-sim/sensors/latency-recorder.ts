/** p50/p99/max of a set of latencies, milliseconds (null when nothing was measured). */
export interface LatencySummary {
  count: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
}

/**
 * Every latency sample kept (8 bytes each: a 10-minute run at 1000 messages/s is ~5 MB), so the
 * fleet's percentiles are exact over all sensors rather than averages of per-sensor percentiles.
 */
export class LatencyRecorder {
  #samples = new Float64Array(64);
  #count = 0;

  record(milliseconds: number): void {
    if (this.#count === this.#samples.length) {
      const grown = new Float64Array(this.#samples.length * 2);
      grown.set(this.#samples);
      this.#samples = grown;
    }
    this.#samples[this.#count++] = milliseconds;
  }

  get count(): number {
    return this.#count;
  }

  /** The samples recorded so far (a copy). */
  samples(): Float64Array {
    return this.#samples.slice(0, this.#count);
  }

  summary(): LatencySummary {
    return LatencyRecorder.summarize(this.samples());
  }

  /** Nearest-rank percentiles of `samples` (sorted in place), rounded to 0.01 ms. */
  static summarize(samples: Float64Array): LatencySummary {
    if (samples.length === 0) return { count: 0, p50: null, p99: null, max: null };
    samples.sort();
    const rank = (p: number) => samples[Math.max(0, Math.ceil(p * samples.length) - 1)] as number;
    const round = (value: number) => Math.round(value * 100) / 100;
    return {
      count: samples.length,
      p50: round(rank(0.5)),
      p99: round(rank(0.99)),
      max: round(samples[samples.length - 1] as number),
    };
  }

  /** The summary over several recorders' samples together. */
  static combined(recorders: Iterable<LatencyRecorder>): LatencySummary {
    const all: Float64Array[] = [];
    let total = 0;
    for (const recorder of recorders) {
      const samples = recorder.samples();
      all.push(samples);
      total += samples.length;
    }
    const merged = new Float64Array(total);
    let offset = 0;
    for (const samples of all) {
      merged.set(samples, offset);
      offset += samples.length;
    }
    return LatencyRecorder.summarize(merged);
  }
}
