import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, type Migration } from './migrations.js';
import { StoreError } from './store-error.js';
import { WalSync } from './wal-sync.js';

const CORRUPTION_CODES = new Set(['SQLITE_NOTADB', 'SQLITE_CORRUPT']);
const GET_META = 'SELECT value FROM gateway_meta WHERE key = ?';
const SET_META = `INSERT INTO gateway_meta (key, value, updated_at) VALUES (?, ?, ?)
  ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`;

/**
 * The gateway's state database (SQLite, WAL). One instance per process; it owns the connection.
 *
 * Opening never destroys anything: a corrupt file, a file from a newer schema or an unwritable
 * location is a StoreError naming the path and what to do, and the file is left as it was.
 */
export class Store {
  readonly path: string;
  readonly schemaVersion: number;
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();
  readonly #walSync: WalSync;
  readonly #synchronousNormal: Database.Statement;
  readonly #synchronousFull: Database.Statement;

  private constructor(path: string, db: Database.Database, schemaVersion: number) {
    this.path = path;
    this.#db = db;
    this.schemaVersion = schemaVersion;
    this.#walSync = new WalSync(path);
    this.#synchronousNormal = db.prepare('PRAGMA synchronous = NORMAL');
    this.#synchronousFull = db.prepare('PRAGMA synchronous = FULL');
  }

  /** Opens (creating when absent) and migrates the database at `path`. */
  static open(path: string, migrations: readonly Migration[] = MIGRATIONS): Store {
    return Store.#connect(
      path,
      () => {
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        return new Database(path, { timeout: 5_000 });
      },
      (db) => {
        db.pragma('journal_mode = WAL');
        // FULL: a certificate swap or an acknowledged telemetry message must survive power loss.
        db.pragma('synchronous = FULL');
        db.pragma('foreign_keys = ON');
        return migrate(db, path, migrations);
      },
    );
  }

  /**
   * Opens an existing database for reading only (gatewayctl check, beside the daemon or without
   * it): never creates, migrates or writes it. schemaVersion says what it holds, which may be older
   * than this release (the daemon migrates at its start); a newer one is refused as open() refuses it.
   * One exception, SQLite's own (https://www.sqlite.org/wal.html, read-only databases): a WAL
   * database whose -wal/-shm are absent gets them created empty, and a reader cannot checkpoint, so
   * they stay. SQLite gives them the .db's owner (when root) and its mode (less the umask), so the
   * daemon's user can still open them; not `immutable`, which is unsafe while the daemon writes.
   */
  static openReadOnly(path: string, migrations: readonly Migration[] = MIGRATIONS): Store {
    return Store.#connect(
      path,
      () => new Database(path, { readonly: true, fileMustExist: true, timeout: 5_000 }),
      (db) => {
        const version = storedSchemaVersion(db);
        const latest = migrations.reduce((max, m) => Math.max(max, m.version), 0);
        if (version > latest) throw newerSchema(path, version, latest);
        return version;
      },
    );
  }

  /**
   * The connection `connect` makes, its integrity checked, then `setUp` (returns the schema
   * version); any failure closes it and is a StoreError naming the path and what to do.
   */
  static #connect(
    path: string,
    connect: () => Database.Database,
    setUp: (db: Database.Database) => number,
  ): Store {
    let db: Database.Database;
    try {
      db = connect();
    } catch (cause) {
      throw unopenable(path, cause);
    }
    try {
      checkIntegrity(db, path);
      return new Store(path, db, setUp(db));
    } catch (cause) {
      db.close();
      if (cause instanceof StoreError) throw cause;
      const code = (cause as { code?: string }).code ?? '';
      if (CORRUPTION_CODES.has(code)) throw corrupt(path, String((cause as Error).message), cause);
      throw unopenable(path, cause);
    }
  }

  /** Opened with openReadOnly: readers must not write (not even an INSERT OR IGNORE). */
  get readOnly(): boolean {
    return this.#db.readonly;
  }

  // Prepared on first use, not at open: a read-only open of a schema-0 database (0 bytes, or its
  // first migration rolled back) has no gateway_meta, and must still say which version it holds.
  getMeta(key: string): string | undefined {
    return this.prepare<[string], { value: string }>(GET_META).get(key)?.value;
  }

  setMeta(key: string, value: string, now: Date = new Date()): void {
    this.prepare<[string, string, string]>(SET_META).run(key, value, now.toISOString());
  }

  /**
   * A prepared statement on the state database, for the modules that keep their own tables here
   * (identity, trust, outbox). Statements are cached by their text: preparing is the expensive part,
   * so callers may ask for the same SQL on every call.
   */
  prepare<Params extends unknown[] = unknown[], Row = unknown>(sql: string): Database.Statement<Params, Row> {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement as unknown as Database.Statement<Params, Row>;
  }

  /** Runs `work` in one transaction (BEGIN IMMEDIATE): all of it is durable, or none of it. */
  transaction<T>(work: () => T): T {
    return this.#db.transaction(work).immediate();
  }

  /**
   * Runs `work` in one transaction whose commit does not wait for the disk (synchronous = NORMAL for
   * it alone: the WAL frames are written, not fsynced), and returns with `synced`, a promise that
   * resolves once they are on disk (WalSync: an fdatasync of the -wal file on the thread pool, shared
   * with the commits made meanwhile), as synchronous = FULL would have made them before returning.
   * Until then the commit survives kill -9 but not power loss: whoever is promised durability waits
   * for `synced`. For the outbox's group commit, whose 5–8 ms fsync stopped the event loop.
   * `sync` false: no fsync of its own (a later one, or a FULL commit, covers it).
   */
  transactionSyncedLater<T>(work: () => T, sync = true): { result: T; synced: Promise<void> | undefined } {
    this.#synchronousNormal.run();
    let result: T;
    try {
      result = this.#db.transaction(work).immediate();
    } finally {
      this.#synchronousFull.run();
    }
    return { result, synced: sync ? this.#walSync.sync() : undefined };
  }

  /** The connection settings that durability depends on, read back from SQLite (for diagnostics). */
  settings(): { journalMode: string; synchronous: string; foreignKeys: boolean } {
    const synchronous = ['off', 'normal', 'full', 'extra'][
      Number(this.#db.pragma('synchronous', { simple: true }))
    ];
    return {
      journalMode: String(this.#db.pragma('journal_mode', { simple: true })),
      synchronous: synchronous ?? 'unknown',
      foreignKeys: this.#db.pragma('foreign_keys', { simple: true }) === 1,
    };
  }

  close(): void {
    this.#walSync.close();
    if (this.#db.open) this.#db.close();
  }
}

function checkIntegrity(db: Database.Database, path: string): void {
  const rows = db.pragma('quick_check') as { quick_check: string }[];
  const findings = rows.map((row) => row.quick_check).filter((line) => line !== 'ok');
  if (findings.length > 0) throw corrupt(path, findings.slice(0, 3).join('; '));
}

function hasMigrationsTable(db: Database.Database): boolean {
  return (
    db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'").get() !==
    undefined
  );
}

/** The schema version the database holds (0: none yet), read without changing anything. */
function storedSchemaVersion(db: Database.Database): number {
  if (!hasMigrationsTable(db)) return 0;
  return (db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
}

function newerSchema(path: string, current: number, latest: number): StoreError {
  return new StoreError(
    'EGW_STORE_SCHEMA_NEWER',
    path,
    `state database ${path} has schema version ${current}, newer than this edge-gatewayd understands (up to ${latest}); it was left unchanged`,
    {
      hint: 'run the edge-gatewayd version that wrote it (or newer), or restore a backup made for this version',
    },
  );
}

function migrate(db: Database.Database, path: string, migrations: readonly Migration[]): number {
  const latest = migrations.reduce((max, m) => Math.max(max, m.version), 0);
  const hasTable = hasMigrationsTable(db);
  const current = storedSchemaVersion(db);
  if (current > latest) throw newerSchema(path, current, latest);
  if (!hasTable) {
    db.exec(`CREATE TABLE schema_migrations (
      version    INTEGER PRIMARY KEY NOT NULL,
      name       TEXT NOT NULL,
      applied_at TEXT NOT NULL
    ) STRICT`);
  }
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const pending = [...migrations].sort((a, b) => a.version - b.version).filter((m) => m.version > current);
  // All pending migrations in one transaction: an upgrade that skips versions (4 -> 6) either reaches
  // the new schema or leaves the database exactly as the previous version wrote it, so that version
  // (a rollback of the package) still opens it. One per transaction would strand it half-way (at 5),
  // newer than the old version understands and short of what the new one needs.
  if (pending.length === 0) return current;
  const progress: { running?: Migration } = {};
  try {
    db.transaction(() => {
      for (const migration of pending) {
        progress.running = migration;
        db.exec(migration.sql);
        record.run(migration.version, migration.name, new Date().toISOString());
      }
    }).immediate();
  } catch (cause) {
    const { running } = progress;
    const failed = running ? `migration ${running.version} (${running.name})` : 'starting the migrations';
    throw new StoreError(
      'EGW_STORE_MIGRATION_FAILED',
      path,
      `${failed} failed on ${path}: ${(cause as Error).message}; the database was rolled back and stays at schema version ${current}` +
        (pending.length > 1
          ? ` (none of migrations ${pending.map((m) => m.version).join(', ')} applied)`
          : ''),
      {
        hint: 'the previous edge-gatewayd version can still use it: reinstall that version, and report this with the log',
        cause,
      },
    );
  }
  return latest;
}

function corrupt(path: string, detail: string, cause?: unknown): StoreError {
  return new StoreError(
    'EGW_STORE_CORRUPT',
    path,
    `state database ${path} is corrupt or not a SQLite database (${detail})`,
    {
      hint: `move the file aside (it is not recreated automatically), restore a backup, or re-provision the gateway; the file was not modified`,
      cause,
    },
  );
}

function unopenable(path: string, cause: unknown): StoreError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new StoreError('EGW_STORE_UNOPENABLE', path, `cannot open state database ${path}: ${reason}`, {
    hint: `check that ${dirname(path)} exists and is writable by the edge-gatewayd user (StateDirectory= in the unit creates it)`,
    cause,
  });
}
