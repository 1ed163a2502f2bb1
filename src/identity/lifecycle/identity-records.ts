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

/**
 * The enrolment or re-enrolment the gateway owes the EST server (migration 8), from the first attempt
 * until a certificate is installed: a 202 is followed by the same request, across restarts.
 */
export interface EnrollmentRequestRecord {
  operation: 'simpleenroll' | 'simplereenroll';
  /** 'operator': gatewayctl identity enroll / renew --now asked for it. */
  origin: 'automatic' | 'operator';
  createdAt: Date;
  /** The key the CSR is for: undefined = the factory key, else a rotated key's slot. */
  keyRef: string | undefined;
  /** The CSR as sent and its key's SPKI; undefined until built, or after the server refused it. */
  csrDer: Uint8Array | undefined;
  publicKey: Uint8Array | undefined;
  /** When this CSR was first built: a request pending longer than the limit is abandoned. */
  csrCreatedAt: Date | undefined;
  /** How many times it was sent. */
  sent: number;
  /** The server's last answer: HTTP status (undefined: no answer, e.g. unreachable) and short text. */
  lastStatus: number | undefined;
  lastAnswer: string | undefined;
  lastAnswerAt: Date | undefined;
}

interface RequestRow {
  operation: EnrollmentRequestRecord['operation'];
  origin: EnrollmentRequestRecord['origin'];
  created_at: number;
  key_ref: string | null;
  csr_der: Uint8Array | null;
  public_key: Uint8Array | null;
  csr_created_at: number | null;
  sent: number;
  last_status: number | null;
  last_answer: string | null;
  last_answer_at: number | null;
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
    // A read-only store (gatewayctl check reads the certificates) must not be written, not even this row.
    if (store.readOnly) return;
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

  /** The request the gateway owes, if any. */
  request(): EnrollmentRequestRecord | undefined {
    const row = this.#store.prepare<[], RequestRow>('SELECT * FROM identity_request WHERE id = 1').get();
    if (!row) return undefined;
    const bytes = (value: Uint8Array | null) => (value === null ? undefined : new Uint8Array(value));
    const date = (value: number | null) => (value === null ? undefined : new Date(value));
    return {
      operation: row.operation,
      origin: row.origin,
      createdAt: new Date(row.created_at),
      keyRef: row.key_ref ?? undefined,
      csrDer: bytes(row.csr_der),
      publicKey: bytes(row.public_key),
      csrCreatedAt: date(row.csr_created_at),
      sent: row.sent,
      lastStatus: row.last_status ?? undefined,
      lastAnswer: row.last_answer ?? undefined,
      lastAnswerAt: date(row.last_answer_at),
    };
  }

  /** Starts owing `operation` (replacing any other request). */
  openRequest(
    operation: EnrollmentRequestRecord['operation'],
    origin: EnrollmentRequestRecord['origin'],
  ): void {
    this.#store
      .prepare<[string, string, number]>(
        'INSERT OR REPLACE INTO identity_request (id, operation, origin, created_at) VALUES (1, ?, ?, ?)',
      )
      .run(operation, origin, Date.now());
  }

  /**
   * The CSR built for the request, stored before it is sent (so a restart sends the same one).
   * `sameRequest`: a re-signed CSR for the same pending key (a channel-bound one): it stays pending
   * since the first.
   */
  setRequestCsr(
    keyRef: string | undefined,
    csrDer: Uint8Array,
    publicKey: Uint8Array,
    sameRequest = false,
  ): void {
    if (sameRequest) {
      this.#store
        .prepare<[Uint8Array]>('UPDATE identity_request SET csr_der = ? WHERE id = 1')
        .run(Buffer.from(csrDer));
      return;
    }
    this.#store
      .prepare<[string | null, Uint8Array, Uint8Array, number]>(
        'UPDATE identity_request SET key_ref = ?, csr_der = ?, public_key = ?, csr_created_at = ?, sent = 0 WHERE id = 1',
      )
      .run(keyRef ?? null, Buffer.from(csrDer), Buffer.from(publicKey), Date.now());
  }

  /** Forgets the CSR (refused by the server, or abandoned): the next attempt builds a new one. */
  dropRequestCsr(): void {
    this.#store
      .prepare(
        'UPDATE identity_request SET key_ref = NULL, csr_der = NULL, public_key = NULL, csr_created_at = NULL, sent = 0 WHERE id = 1',
      )
      .run();
  }

  /** Records the server's answer to one sending of the request. */
  noteRequestAnswer(status: number | undefined, text: string, sent: boolean): void {
    this.#store
      .prepare<[number, number | null, string, number]>(
        'UPDATE identity_request SET sent = sent + ?, last_status = ?, last_answer = ?, last_answer_at = ? WHERE id = 1',
      )
      .run(sent ? 1 : 0, status ?? null, text.slice(0, 300), Date.now());
  }

  /** The request is settled otherwise (e.g. the operator enrols instead). */
  closeRequest(): void {
    this.#store.prepare('DELETE FROM identity_request WHERE id = 1').run();
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
      // The server answered this CSR: it is not sent again (a failed proof makes a new request).
      this.#store
        .prepare(
          'UPDATE identity_request SET key_ref = NULL, csr_der = NULL, public_key = NULL, csr_created_at = NULL, sent = 0 WHERE id = 1',
        )
        .run();
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
      this.#store.prepare('DELETE FROM identity_request WHERE id = 1').run();
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
