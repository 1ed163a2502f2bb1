import type { OutboxSettings } from './outbox-types.js';

/**
 * Rows and bytes each sensor holds in the outbox, against its share: per_sensor_share of max_rows
 * and of max_bytes (at least one row, and at least one message of the largest size that fits). A
 * sensor with nothing stored is not kept.
 */
export class SensorShares {
  readonly #maxRows: number;
  readonly #maxBytes: number;
  readonly #held = new Map<string, { rows: number; bytes: number }>();

  constructor(settings: Pick<OutboxSettings, 'max_rows' | 'max_bytes' | 'per_sensor_share'>) {
    this.#maxRows = Math.max(1, Math.floor(settings.max_rows * settings.per_sensor_share));
    this.#maxBytes = Math.max(1, Math.floor(settings.max_bytes * settings.per_sensor_share));
  }

  /** Sensors holding rows. */
  get sensors(): number {
    return this.#held.size;
  }

  /** Counts `rows` and `bytes` to the sensor (negative: taken off). */
  add(sensorId: string, rows: number, bytes: number): void {
    const held = this.#held.get(sensorId);
    if (!held) {
      if (rows > 0) this.#held.set(sensorId, { rows, bytes });
      return;
    }
    held.rows += rows;
    held.bytes += bytes;
    if (held.rows <= 0) this.#held.delete(sensorId);
  }

  /**
   * By how much the sensor would be over its share with `rows` more rows of `bytes` (either may be
   * 0 or less: within). A first message is never over on bytes alone: max_bytes bounds its size.
   */
  over(sensorId: string, bytes: number, rows = 1): { rows: number; bytes: number } {
    const held = this.#held.get(sensorId) ?? { rows: 0, bytes: 0 };
    return {
      rows: held.rows + rows - this.#maxRows,
      bytes: held.rows === 0 ? 0 : held.bytes + bytes - this.#maxBytes,
    };
  }

  clear(): void {
    this.#held.clear();
  }
}
