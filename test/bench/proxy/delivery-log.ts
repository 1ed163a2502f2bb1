import type { TelemetrySubscriber } from '../../../hw-sim/broker/index.js';
import { LatencyRecorder, type LatencySummary } from '../../../hw-sim/sensors/index.js';

/**
 * What the subscriber received during one step: each reading's `ts` (when the sender made it,
 * Date.now() of this machine) and when it arrived, kept in growable arrays (16 bytes a message).
 */
export class DeliveryLog {
  #generatedAt = new Float64Array(1 << 16);
  #receivedAt = new Float64Array(1 << 16);
  #count = 0;

  constructor(subscriber: TelemetrySubscriber) {
    subscriber.on('telemetry', (reading, receivedAt) => this.#record(reading.ts, receivedAt));
  }

  /** Forgets what was received so far (a new step starts). */
  reset(): void {
    this.#count = 0;
  }

  /** Messages that arrived within [from, to] (ms since the epoch). */
  deliveredBetween(from: number, to: number): number {
    let delivered = 0;
    for (let i = 0; i < this.#count; i++) {
      const at = this.#receivedAt[i] as number;
      if (at >= from && at <= to) delivered++;
    }
    return delivered;
  }

  /** Sender-made to subscriber-received latency of the messages made within [from, to]. */
  latencyOfGeneratedBetween(from: number, to: number): LatencySummary {
    const recorder = new LatencyRecorder();
    for (let i = 0; i < this.#count; i++) {
      const generatedAt = this.#generatedAt[i] as number;
      if (generatedAt >= from && generatedAt <= to)
        recorder.record((this.#receivedAt[i] as number) - generatedAt);
    }
    return recorder.summary();
  }

  #record(generatedAt: number, receivedAt: number): void {
    if (this.#count === this.#generatedAt.length) {
      this.#generatedAt = grow(this.#generatedAt);
      this.#receivedAt = grow(this.#receivedAt);
    }
    this.#generatedAt[this.#count] = generatedAt;
    this.#receivedAt[this.#count] = receivedAt;
    this.#count++;
  }
}

function grow(array: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  const grown = new Float64Array(array.length * 2);
  grown.set(array);
  return grown;
}

/** Per-sensor stream checks at the subscriber for the senders whose names start with `prefix`. */
export function streamIntegrity(
  subscriber: TelemetrySubscriber,
  prefix: string,
): { senders: number; distinct: number; duplicates: number; out_of_order: number; seq_gaps: number } {
  const totals = { senders: 0, distinct: 0, duplicates: 0, out_of_order: 0, seq_gaps: 0 };
  for (const name of subscriber.sensors()) {
    if (!name.startsWith(prefix)) continue;
    const stream = subscriber.stream(name);
    if (!stream) continue;
    const distinct = subscriber.distinct(name).size;
    let highest = 0;
    for (const seq of stream.seqs) if (seq > highest) highest = seq;
    totals.senders++;
    totals.distinct += distinct;
    totals.duplicates += stream.duplicates;
    totals.out_of_order += stream.outOfOrder;
    // Sequence numbers are only consumed by messages actually generated: a gap is a message that
    // was made and never arrived (lost, or still queued when the senders stopped).
    totals.seq_gaps += highest - distinct;
  }
  return totals;
}
