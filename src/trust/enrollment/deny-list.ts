import type { Store } from '../../store/index.js';
import type { SensorIdentity } from '../sensor-identity.js';
import { TrustError } from '../trust-error.js';
import { type DenyKind, normalizeDenyValue } from './deny-target.js';

export interface DenyEntry {
  kind: DenyKind;
  value: string;
  reason: string;
  createdAt: Date;
}

interface Row {
  kind: DenyKind;
  value: string;
  reason: string;
  created_at: number;
}

/**
 * The local deny list (sensor_deny_list): sensor certificates refused whatever their path and
 * enrollment say, by SHA-256 or by serial. match() runs inside DTLS handshakes, so the entries are
 * also held in memory; reload() re-reads them after another process (gatewayctl) changed the table.
 */
export class DenyList {
  readonly #store: Store;
  #bySha256 = new Map<string, DenyEntry>();
  #bySerial = new Map<string, DenyEntry>();

  constructor(store: Store) {
    this.#store = store;
    this.reload();
  }

  /** Adds an entry, or updates its reason when it exists (a reason left out keeps the old one). */
  add(
    kind: DenyKind,
    value: string,
    options: { reason?: string } = {},
    at = new Date(),
  ): { entry: DenyEntry; created: boolean } {
    const normalized = normalizeDenyValue(kind, value);
    const existing = this.#read(kind, normalized);
    const entry: DenyEntry = existing
      ? { ...existing, reason: options.reason ?? existing.reason }
      : { kind, value: normalized, reason: options.reason ?? '', createdAt: at };
    this.#store
      .prepare<[string, string, string, number]>(
        `INSERT INTO sensor_deny_list (kind, value, reason, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (kind, value) DO UPDATE SET reason = excluded.reason`,
      )
      .run(entry.kind, entry.value, entry.reason, entry.createdAt.getTime());
    this.#map(kind).set(normalized, entry);
    return { entry, created: existing === undefined };
  }

  /** Removes an entry and answers it; EGW_TRUST_NOT_FOUND when there is none. */
  remove(kind: DenyKind, value: string): DenyEntry {
    const normalized = normalizeDenyValue(kind, value);
    const existing = this.#read(kind, normalized);
    if (!existing) {
      throw new TrustError(
        'EGW_TRUST_NOT_FOUND',
        `the deny list has no ${kind === 'sha256' ? 'thumbprint' : 'serial'} ${normalized}`,
        { hint: '`gatewayctl sensors blocked` lists the entries' },
      );
    }
    this.#store
      .prepare<[string, string]>('DELETE FROM sensor_deny_list WHERE kind = ? AND value = ?')
      .run(kind, normalized);
    this.#map(kind).delete(normalized);
    return existing;
  }

  /** Every entry, oldest first (read from the database, so it shows other processes' changes). */
  list(): DenyEntry[] {
    return this.#store
      .prepare<[], Row>(
        'SELECT kind, value, reason, created_at FROM sensor_deny_list ORDER BY created_at, kind, value',
      )
      .all()
      .map(fromRow);
  }

  /** The entry that refuses this sensor, if any: its thumbprint first, then its serial. O(1), in memory. */
  match(identity: SensorIdentity): DenyEntry | undefined {
    return this.#bySha256.get(identity.sha256) ?? this.#bySerial.get(identity.certificateSerial);
  }

  /** Re-reads the table (after gatewayctl changed it in another process). */
  reload(): void {
    const bySha256 = new Map<string, DenyEntry>();
    const bySerial = new Map<string, DenyEntry>();
    for (const entry of this.list()) (entry.kind === 'sha256' ? bySha256 : bySerial).set(entry.value, entry);
    this.#bySha256 = bySha256;
    this.#bySerial = bySerial;
  }

  #map(kind: DenyKind): Map<string, DenyEntry> {
    return kind === 'sha256' ? this.#bySha256 : this.#bySerial;
  }

  #read(kind: DenyKind, value: string): DenyEntry | undefined {
    const row = this.#store
      .prepare<[string, string], Row>(
        'SELECT kind, value, reason, created_at FROM sensor_deny_list WHERE kind = ? AND value = ?',
      )
      .get(kind, value);
    return row ? fromRow(row) : undefined;
  }
}

function fromRow(row: Row): DenyEntry {
  return { kind: row.kind, value: row.value, reason: row.reason, createdAt: new Date(row.created_at) };
}
