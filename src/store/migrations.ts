/**
 * Numbered schema migrations, applied in order, each in its own transaction.
 * Never edit a migration that has shipped: add the next number instead.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'gateway metadata',
    sql: `
      CREATE TABLE gateway_meta (
        key        TEXT PRIMARY KEY NOT NULL,
        value      TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: 'identity lifecycle and trust bundles',
    sql: `
      -- The gateway's own state machine (one row): factory -> enrolling -> operational -> renewing.
      CREATE TABLE identity_state (
        id              INTEGER PRIMARY KEY CHECK (id = 1),
        state           TEXT NOT NULL CHECK (state IN ('factory', 'enrolling', 'operational', 'renewing')),
        since           INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER,
        last_error      TEXT
      ) STRICT;
      -- Operational certificates: at most one active (committed) and one pending (not yet proven).
      CREATE TABLE identity_certificates (
        id            INTEGER PRIMARY KEY,
        status        TEXT NOT NULL CHECK (status IN ('pending', 'active', 'retired', 'rolled_back')),
        chain_pem     TEXT NOT NULL,
        subject       TEXT NOT NULL,
        issuer        TEXT NOT NULL,
        serial        TEXT NOT NULL,
        not_before    INTEGER NOT NULL,
        not_after     INTEGER NOT NULL,
        obtained_by   TEXT NOT NULL CHECK (obtained_by IN ('simpleenroll', 'simplereenroll')),
        -- The key the certificate is for: NULL = the factory identity key, else a rotated key ('a'/'b').
        key_ref       TEXT,
        created_at    INTEGER NOT NULL,
        committed_at  INTEGER,
        ended_at      INTEGER,
        end_reason    TEXT
      ) STRICT;
      CREATE UNIQUE INDEX identity_one_active ON identity_certificates (status) WHERE status = 'active';
      CREATE UNIQUE INDEX identity_one_pending ON identity_certificates (status) WHERE status = 'pending';
      -- Trust bundles (upstream CA certificates from EST /cacerts, sensor anchors later): one row per cert.
      CREATE TABLE trust_certificates (
        bundle      TEXT NOT NULL,
        sha256      TEXT NOT NULL,
        der         BLOB NOT NULL,
        subject     TEXT NOT NULL,
        source      TEXT NOT NULL,
        fetched_at  INTEGER NOT NULL,
        PRIMARY KEY (bundle, sha256)
      ) STRICT;
    `,
  },
];
