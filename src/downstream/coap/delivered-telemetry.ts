import { hash } from 'node:crypto';

/** Messages remembered per sensor: a sensor retransmits only its latest message (NSTART = 1). */
const PER_SENSOR = 8;

/** A message as DeliveredTelemetry knows it: its CoAP message id and a hash of its body. */
export interface DeliveredKey {
  messageId: number;
  digest: string;
}

interface Entry {
  digest: string;
  /** When it stops counting. */
  until: number;
}

/**
 * The telemetry each sensor had stored recently, by CoAP message id and a hash of the body, so that
 * a retransmission arriving over a *new* DTLS session (the sensor reconnected before it saw our
 * 2.04) is answered 2.04 again instead of being stored twice. The session's own deduplication
 * cannot see it, and it forgets ids when a session ends because a rebooted sensor may start its
 * message ids over: here the body must match too, so a new message that happens to reuse an id is
 * stored, not mistaken for the old one. Entries count for EXCHANGE_LIFETIME.
 */
export class DeliveredTelemetry {
  readonly #lifetimeMs: number;
  readonly #now: () => number;
  /**
   * Sensor (certificate SHA-256) → message id → its body's hash and expiry. Keyed by the number, not
   * by an "id:hash" string: a fresh string per message had to be hashed for every lookup (has() and
   * the key's hash were ~4 % of the daemon's busy time under telemetry load). A new message reusing an
   * id replaces the entry: a sensor retransmits only its latest message.
   */
  readonly #bySensor = new Map<string, Map<number, Entry>>();
  #entries = 0;

  constructor(options: { lifetimeMs: number; now?: () => number }) {
    this.#lifetimeMs = options.lifetimeMs;
    this.#now = options.now ?? Date.now;
  }

  /** What identifies a message here (made once per message; the one-shot hash(), no Hash object). */
  static keyOf(messageId: number, body: Uint8Array): DeliveredKey {
    return { messageId, digest: hash('sha256', body, 'base64') };
  }

  /** True when `sensor` had the message with this key (keyOf) stored within the lifetime. */
  has(sensor: string, key: DeliveredKey): boolean {
    const entry = this.#bySensor.get(sensor)?.get(key.messageId);
    return entry !== undefined && entry.digest === key.digest && entry.until > this.#now();
  }

  /** Remembers a message the sink made durable, by its key (keyOf). */
  remember(sensor: string, key: DeliveredKey): void {
    const now = this.#now();
    let messages = this.#bySensor.get(sensor);
    if (!messages) {
      messages = new Map();
      this.#bySensor.set(sensor, messages);
    }
    if (messages.delete(key.messageId)) this.#entries--;
    // Insertion order is expiry order: expired ones and those beyond PER_SENSOR go first.
    for (const [old, entry] of messages) {
      if (entry.until > now && messages.size < PER_SENSOR) break;
      messages.delete(old);
      this.#entries--;
    }
    messages.set(key.messageId, { digest: key.digest, until: now + this.#lifetimeMs });
    this.#entries++;
  }

  /** Drops sensors whose messages all expired (called now and then: sensors come and go). */
  prune(): void {
    const now = this.#now();
    for (const [sensor, messages] of this.#bySensor) {
      let newest = 0;
      for (const entry of messages.values()) newest = Math.max(newest, entry.until);
      if (newest <= now) {
        this.#entries -= messages.size;
        this.#bySensor.delete(sensor);
      }
    }
  }

  get entries(): number {
    return this.#entries;
  }
}
