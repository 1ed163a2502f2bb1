/**
 * A failed attempt the driver retries (after idling and re-waking the part) before it reports
 * anything: a NACK, a corrupted frame, a lost wake, or a transient status byte.
 */
export type TransientKind = 'nack' | 'timeout' | 'crc' | 'status' | 'no-wake';

export class TransientFault extends Error {
  constructor(
    readonly kind: TransientKind,
    readonly detail: string,
    readonly status?: number,
  ) {
    super(detail);
    this.name = 'TransientFault';
  }
}
