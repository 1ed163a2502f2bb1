import { pemBlocks, readableName, X509Certificate } from '../../pki/index.js';
import type { Store } from '../../store/index.js';

export type IdentityState = 'factory' | 'enrolling' | 'operational' | 'renewing';

export interface IdentityStateRecord {
  state: IdentityState;
  since: Date;
  attempts: number;
  nextAttemptAt: Date | undefined;
  lastError: string | undefined;
}

export interface CertificateRecord {
  id: number;
  status: 'pending' | 'active' | 'retired' | 'rolled_back';
  /** Leaf first, then the intermediates and the root as built from /cacerts. */
  chain: X509Certificate[];
  subject: string;
  issuer: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  obtainedBy: 'simpleenroll' | 'simplereenroll';
  /** The key it certifies: undefined = the factory identity key, else a rotated key's reference. */
  keyRef: string | undefined;
  createdAt: Date;
  committedAt: Date | undefined;
}

interface StateRow {
  state: IdentityState;
  since: number;
  attempts: number;
  next_attempt_at: number | null;
  last_error: string | null;
}

interface CertificateRow {
  id: number;
  status: CertificateRecord['status'];
  chain_pem: string;
  subject: string;
  issuer: string;
  serial: string;
  not_before: number;
  not_after: number;
  obtained_by: CertificateRecord['obtainedBy'];
  key_ref: string | null;
  created_at: number;
  committed_at: number | null;
}

/**
 * The identity lifecycle's tables (migration 2): the state row and the operational certificates.
 * Every transition is one SQLite transaction, so a power cut leaves either the old or the new state.
 */
export class IdentityRecords {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
    this.#store
      .prepare<[number]>("INSERT OR IGNORE INTO identity_state (id, state, since) VALUES (1, 'factory', ?)")
      .run(Date.now());
  }

  state(): IdentityStateRecord {
    const row = this.#store
      .prepare<[], StateRow>('SELECT * FROM identity_state WHERE id = 1')
      .get() as StateRow;
    return {
      state: row.state,
      since: new Date(row.since),
      attempts: row.attempts,
      nextAttemptAt: row.next_attempt_at === null ? undefined : new Date(row.next_attempt_at),
      lastError: row.last_error ?? undefined,
    };
  }

  /** Moves to `state` (a new `since` only when it changes). */
  setState(
    state: IdentityState,
    details: { attempts?: number; nextAttemptAt?: Date | undefined; lastError?: string | undefined } = {},
  ): void {
    const current = this.state();
    this.#store
      .prepare<[string, number, number, number | null, string | null]>(
        'UPDATE identity_state SET state = ?, since = ?, attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = 1',
      )
      .run(
        state,
        current.state === state ? current.since.getTime() : Date.now(),
        details.attempts ?? 0,
        details.nextAttemptAt?.getTime() ?? null,
        details.lastError ?? null,
      );
  }

  active(): CertificateRecord | undefined {
    return this.#one('active');
  }

  pending(): CertificateRecord | undefined {
    return this.#one('pending');
  }

  /** The most recent retired certificate (what `rollback` can return to). */
  previous(): CertificateRecord | undefined {
    return this.#one('retired');
  }

  /** Stores a new certificate as pending; it becomes active only through commitPending. */
  installPending(
    chain: X509Certificate[],
    obtainedBy: CertificateRecord['obtainedBy'],
    keyRef?: string,
  ): CertificateRecord {
    const leaf = chain[0] as X509Certificate;
    this.#store.transaction(() => {
      this.#store.prepare("DELETE FROM identity_certificates WHERE status = 'pending'").run();
      this.#store
        .prepare(
          `INSERT INTO identity_certificates
             (status, chain_pem, subject, issuer, serial, not_before, not_after, obtained_by, key_ref, created_at)
           VALUES ('pending', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          chain.map((certificate) => certificate.toString('pem')).join('\n'),
          readableName(leaf.subject),
          readableName(leaf.issuer),
          leaf.serialNumber,
          leaf.notBefore.getTime(),
          leaf.notAfter.getTime(),
          obtainedBy,
          keyRef ?? null,
          Date.now(),
        );
    });
    return this.pending() as CertificateRecord;
  }

  /** Pending → active (the old active → retired) and state operational, in one transaction. */
  commitPending(): CertificateRecord {
    const now = Date.now();
    this.#store.transaction(() => {
      this.#store
        .prepare(
          "UPDATE identity_certificates SET status = 'retired', ended_at = ?, end_reason = 'replaced' WHERE status = 'active'",
        )
        .run(now);
      const changed = this.#store
        .prepare(
          "UPDATE identity_certificates SET status = 'active', committed_at = ? WHERE status = 'pending'",
        )
        .run(now).changes;
      if (changed !== 1) throw new Error('no pending certificate to commit');
      this.setState('operational');
    });
    return this.active() as CertificateRecord;
  }

  /** Drops the pending certificate; the state returns to what the active certificate supports. */
  rollbackPending(reason: string, nextAttemptAt?: Date, attempts = 0): void {
    this.#store.transaction(() => {
      this.#store
        .prepare(
          "UPDATE identity_certificates SET status = 'rolled_back', ended_at = ?, end_reason = ? WHERE status = 'pending'",
        )
        .run(Date.now(), reason);
      this.setState(this.active() ? 'operational' : 'factory', {
        attempts,
        nextAttemptAt,
        lastError: reason,
      });
    });
  }

  /** Active → retired and the previous retired one → active (operator rollback). */
  reactivatePrevious(): CertificateRecord {
    const previous = this.previous();
    if (!previous) throw new Error('no previous certificate');
    const now = Date.now();
    this.#store.transaction(() => {
      this.#store
        .prepare(
          "UPDATE identity_certificates SET status = 'rolled_back', ended_at = ?, end_reason = 'operator rollback' WHERE status = 'active'",
        )
        .run(now);
      this.#store
        .prepare(
          "UPDATE identity_certificates SET status = 'active', committed_at = ?, ended_at = NULL WHERE id = ?",
        )
        .run(now, previous.id);
      this.setState('operational');
    });
    return this.active() as CertificateRecord;
  }

  #one(status: CertificateRecord['status']): CertificateRecord | undefined {
    const row = this.#store
      .prepare<[string], CertificateRow>(
        'SELECT * FROM identity_certificates WHERE status = ? ORDER BY id DESC LIMIT 1',
      )
      .get(status);
    if (!row) return undefined;
    return {
      id: row.id,
      status: row.status,
      chain: pemBlocks(row.chain_pem, 'CERTIFICATE').map((der) => new X509Certificate(der)),
      subject: row.subject,
      issuer: row.issuer,
      serial: row.serial,
      notBefore: new Date(row.not_before),
      notAfter: new Date(row.not_after),
      obtainedBy: row.obtained_by,
      keyRef: row.key_ref ?? undefined,
      createdAt: new Date(row.created_at),
      committedAt: row.committed_at === null ? undefined : new Date(row.committed_at),
    };
  }
}
