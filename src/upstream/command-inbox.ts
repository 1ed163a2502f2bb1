import type { CommandMessage, CommandSource } from '../downstream/index.js';
import type { Store } from '../store/index.js';

interface StoredCommand {
  id: string;
  sensor_id: string;
  payload: Buffer;
  content_format: number;
  received_at: number;
  expires_at: number;
}

export interface CommandInboxStats {
  /** Stored, not yet delivered and not expired. */
  pending: number;
  /** Taken from the broker since open (duplicates of a known id not counted). */
  received: number;
  /** Acknowledged by their sensor since open. */
  delivered: number;
  /** Deleted because they expired, since open. */
  expired: number;
  /** Given up after max_attempts registrations that did not deliver them, since open. */
  abandoned: number;
}

const INSERT =
  'INSERT OR IGNORE INTO downstream_commands (id, sensor_id, payload, content_format, received_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)';
const PENDING =
  'SELECT id, sensor_id, payload, content_format, received_at, expires_at FROM downstream_commands WHERE sensor_id = ? AND delivered_at IS NULL AND expires_at > ? ORDER BY received_at, rowid';
const MARK_DELIVERED =
  'UPDATE downstream_commands SET delivered_at = ? WHERE id = ? AND sensor_id = ? AND delivered_at IS NULL';
const EXPIRE = 'DELETE FROM downstream_commands WHERE expires_at <= ?';
const DELETE_ONE = 'DELETE FROM downstream_commands WHERE id = ? AND sensor_id = ? AND delivered_at IS NULL';
const PENDING_KEYS =
  'SELECT id, sensor_id FROM downstream_commands WHERE delivered_at IS NULL AND expires_at > ?';
const COUNT_PENDING =
  'SELECT count(*) AS n FROM downstream_commands WHERE delivered_at IS NULL AND expires_at > ?';

/** How often expired commands are deleted (they are never delivered in any case). */
const EXPIRY_SWEEP_MS = 60_000;

/**
 * Commands from the broker for sensors (table downstream_commands), the gateway's CommandSource.
 *
 * add() stores a command before the broker gets its PUBACK, so an acknowledged command survives a
 * restart. A sensor's subscriber gets its pending, unexpired commands oldest first, then new ones as
 * they arrive, until it acknowledges each with delivered(). Command ids are the publisher's and
 * scoped per sensor: an id seen before for the same sensor (a QoS 1 duplicate carrying the same
 * command-id) is not stored or delivered again while the first is kept; the same id for another
 * sensor is another command.
 *
 * No command holds the ones behind it for ever: a sensor's subscriber (one per /commands
 * registration) gets them in order and sends one at a time, so a command the sensor never
 * acknowledges (it resets it, or cannot take it) would be first again at every registration until
 * it expires. Each registration that begins with a command at the head of the sensor's queue counts
 * an attempt for it; past maxAttempts it is given up (deleted, counted, handed to onAbandoned to be
 * reported upstream) and the next one goes first.
 */
export class CommandInbox implements CommandSource {
  readonly #store: Store;
  readonly #clock: () => number;
  readonly #subscribers = new Map<string, Set<(command: CommandMessage) => void>>();
  readonly #sweeper: NodeJS.Timeout;
  readonly #maxAttempts: number;
  readonly #onAbandoned: (command: CommandMessage, attempts: number) => void;
  /** Attempts per command (sensor id, NUL, command id) that were at the head of a registration. */
  readonly #attempts = new Map<string, number>();
  #received = 0;
  #delivered = 0;
  #expired = 0;
  #abandoned = 0;

  constructor(
    store: Store,
    options: {
      clock?: () => number;
      /** Registrations a command may head without being delivered. Default: no limit. */
      maxAttempts?: number;
      onAbandoned?: (command: CommandMessage, attempts: number) => void;
    } = {},
  ) {
    this.#store = store;
    this.#clock = options.clock ?? Date.now;
    this.#maxAttempts = options.maxAttempts ?? Number.POSITIVE_INFINITY;
    this.#onAbandoned = options.onAbandoned ?? (() => undefined);
    this.#sweeper = setInterval(() => this.expire(), EXPIRY_SWEEP_MS);
    this.#sweeper.unref();
  }

  /**
   * Stores a command and hands it to the sensor's subscribers. Returns false when its id is already
   * stored for that sensor (a redelivery). Throws when the database write fails: the caller must not acknowledge it.
   */
  add(command: CommandMessage): boolean {
    const { changes } = this.#store
      .prepare(INSERT)
      .run(
        command.id,
        command.sensorId,
        Buffer.from(command.payload),
        command.contentFormat,
        command.receivedAt.getTime(),
        command.expiresAt.getTime(),
      );
    if (changes === 0) return false;
    this.#received++;
    if (command.expiresAt.getTime() > this.#clock())
      for (const deliver of this.#subscribers.get(command.sensorId) ?? []) safely(deliver, command);
    return true;
  }

  subscribe(sensorId: string, deliver: (command: CommandMessage) => void): () => void {
    let subscribers = this.#subscribers.get(sensorId);
    if (!subscribers) {
      subscribers = new Set();
      this.#subscribers.set(sensorId, subscribers);
    }
    // A function of its own, so one deliver callback may be subscribed twice and unsubscribed once.
    const entry = (command: CommandMessage) => deliver(command);
    subscribers.add(entry);
    // Pending ones first, synchronously: anything arriving later comes through the set.
    for (const command of this.#headed(sensorId)) safely(entry, command);
    return () => {
      subscribers.delete(entry);
      if (subscribers.size === 0 && this.#subscribers.get(sensorId) === subscribers)
        this.#subscribers.delete(sensorId);
    };
  }

  delivered(sensorId: string, commandId: string): void {
    const { changes } = this.#store.prepare(MARK_DELIVERED).run(this.#clock(), commandId, sensorId);
    this.#delivered += changes;
    this.#attempts.delete(attemptKey(sensorId, commandId));
  }

  /** The sensor's pending commands for a new registration, after counting (and enforcing) the head's attempts. */
  #headed(sensorId: string): CommandMessage[] {
    const pending = this.pending(sensorId);
    while (pending.length > 0) {
      const head = pending[0] as CommandMessage;
      const key = attemptKey(sensorId, head.id);
      const attempts = (this.#attempts.get(key) ?? 0) + 1;
      if (attempts <= this.#maxAttempts) {
        this.#attempts.set(key, attempts);
        break;
      }
      this.#attempts.delete(key);
      pending.shift();
      const { changes } = this.#store.prepare(DELETE_ONE).run(head.id, sensorId);
      if (changes === 0) continue;
      this.#abandoned++;
      try {
        this.#onAbandoned(head, attempts - 1);
      } catch {
        // Reporting is best effort: the command is given up either way.
      }
    }
    return pending;
  }

  /** The sensor's undelivered, unexpired commands, oldest first. */
  pending(sensorId: string): CommandMessage[] {
    return this.#store
      .prepare<[string, number], StoredCommand>(PENDING)
      .all(sensorId, this.#clock())
      .map(commandOf);
  }

  /** Deletes expired commands (delivered or not); returns how many. */
  expire(): number {
    const { changes } = this.#store.prepare(EXPIRE).run(this.#clock());
    this.#expired += changes;
    if (this.#attempts.size > 0) {
      // Forget the attempts of commands no longer pending (expired, or gone another way).
      const pending = new Set(
        this.#store
          .prepare<[number], { id: string; sensor_id: string }>(PENDING_KEYS)
          .all(this.#clock())
          .map((row) => attemptKey(row.sensor_id, row.id)),
      );
      for (const key of this.#attempts.keys()) if (!pending.has(key)) this.#attempts.delete(key);
    }
    return changes;
  }

  stats(): CommandInboxStats {
    const pending = this.#store.prepare<[number], { n: number }>(COUNT_PENDING).get(this.#clock())?.n ?? 0;
    return {
      pending,
      received: this.#received,
      delivered: this.#delivered,
      expired: this.#expired,
      abandoned: this.#abandoned,
    };
  }

  close(): void {
    clearInterval(this.#sweeper);
    this.#subscribers.clear();
  }
}

function attemptKey(sensorId: string, commandId: string): string {
  return `${sensorId}\u0000${commandId}`;
}

function commandOf(row: StoredCommand): CommandMessage {
  return {
    id: row.id,
    sensorId: row.sensor_id,
    contentFormat: row.content_format,
    payload: row.payload,
    receivedAt: new Date(row.received_at),
    expiresAt: new Date(row.expires_at),
  };
}

/** A subscriber's failure is its own: it must not stop delivery to others or the MQTT acknowledgement. */
function safely(deliver: (command: CommandMessage) => void, command: CommandMessage): void {
  try {
    deliver(command);
  } catch {
    // The command stays pending (not delivered()): the sensor gets it again on its next subscribe.
  }
}
