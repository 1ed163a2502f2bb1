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
  {
    version: 3,
    name: 'offline trust: revocation cache, sensor enrollments, deny list',
    sql: `
      -- Anchors (trusted as such) and intermediates (only to build paths) in one table.
      ALTER TABLE trust_certificates ADD COLUMN role TEXT NOT NULL DEFAULT 'anchor'
        CHECK (role IN ('anchor', 'intermediate'));
      -- The newest accepted CRL per issuer (issuer = SHA-256 of the issuer Name's DER, hex).
      CREATE TABLE trust_crls (
        id                 INTEGER PRIMARY KEY,
        issuer_name_sha256 TEXT NOT NULL UNIQUE,
        issuer             TEXT NOT NULL,
        -- SHA-256 of the CA certificate whose key signed it (hex).
        signer_sha256      TEXT NOT NULL,
        crl_number         TEXT,
        this_update        INTEGER NOT NULL,
        next_update        INTEGER,
        entries            INTEGER NOT NULL,
        der_sha256         TEXT NOT NULL,
        source             TEXT NOT NULL,
        distribution_point TEXT,
        fetched_at         INTEGER NOT NULL
      ) STRICT;
      -- Revoked serials (the serial's DER INTEGER content bytes) of each CRL.
      CREATE TABLE trust_crl_entries (
        crl_id     INTEGER NOT NULL,
        serial     BLOB NOT NULL,
        revoked_at INTEGER NOT NULL,
        reason     INTEGER,
        PRIMARY KEY (crl_id, serial)
      ) STRICT, WITHOUT ROWID;
      -- CA registration with proof of possession: pending until a certificate CN=nonce signed by the
      -- CA's key is shown (then the CA joins the 'sensors' bundle and gets a group enrollment).
      CREATE TABLE sensor_ca_registrations (
        ca_sha256        TEXT PRIMARY KEY NOT NULL,
        der              BLOB NOT NULL,
        subject          TEXT NOT NULL,
        nonce            TEXT NOT NULL,
        nonce_expires_at INTEGER NOT NULL,
        created_at       INTEGER NOT NULL
      ) STRICT;
      -- Enrollments: 'individual' (leaf certificate SHA-256) or 'group' (CA certificate SHA-256 with
      -- attribute constraints as JSON: {"deviceTypes": [...], "cnPattern": "..."}).
      CREATE TABLE sensor_enrollments (
        kind        TEXT NOT NULL CHECK (kind IN ('individual', 'group')),
        sha256      TEXT NOT NULL,
        label       TEXT NOT NULL DEFAULT '',
        constraints TEXT NOT NULL DEFAULT '{}',
        enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        PRIMARY KEY (kind, sha256)
      ) STRICT;
      -- Local deny list: a leaf SHA-256 or a certificate serial (hex, lower case, no leading zeros).
      CREATE TABLE sensor_deny_list (
        kind       TEXT NOT NULL CHECK (kind IN ('sha256', 'serial')),
        value      TEXT NOT NULL,
        reason     TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        PRIMARY KEY (kind, value)
      ) STRICT;
    `,
  },
  {
    version: 4,
    name: 'upstream outbox and downstream commands',
    sql: `
      -- Telemetry acknowledged to sensors and not yet acknowledged by the broker (PUBACK), in arrival
      -- order. AUTOINCREMENT: ids never come back, so a late PUBACK cannot remove a newer row that
      -- reused the id of one dropped meanwhile (drop-oldest).
      CREATE TABLE upstream_outbox (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        sensor_id      TEXT NOT NULL,
        topic          TEXT NOT NULL,
        payload        BLOB NOT NULL,
        content_format INTEGER NOT NULL,
        -- MQTT 5 user properties fixed when the message was accepted (JSON object of strings).
        properties     TEXT NOT NULL DEFAULT '{}',
        -- What the row counts against upstream.outbox.max_bytes (payload, topic and properties).
        bytes          INTEGER NOT NULL,
        -- Unix milliseconds.
        created_at     INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX upstream_outbox_sensor ON upstream_outbox (sensor_id, id);
      -- Commands from the broker for sensors, kept until delivered and expired (times: Unix milliseconds).
      CREATE TABLE downstream_commands (
        id             TEXT PRIMARY KEY NOT NULL,
        sensor_id      TEXT NOT NULL,
        payload        BLOB NOT NULL,
        content_format INTEGER NOT NULL,
        received_at    INTEGER NOT NULL,
        expires_at     INTEGER NOT NULL,
        delivered_at   INTEGER
      ) STRICT;
      CREATE INDEX downstream_commands_pending ON downstream_commands (sensor_id, received_at)
        WHERE delivered_at IS NULL;
      CREATE INDEX downstream_commands_expiry ON downstream_commands (expires_at);
    `,
  },
  {
    version: 5,
    name: 'sensor names bound to their enrollment; command ids scoped per sensor',
    sql: `
      -- The upstream name of a sensor (topic, command inbox key) belongs to the first enrollment that
      -- presented it: 'individual:<leaf SHA-256>' or 'group:<CA SHA-256>'. name_key is the name in
      -- lower case, so names differing only in case collide. Released by the operator only.
      CREATE TABLE sensor_names (
        name_key   TEXT PRIMARY KEY NOT NULL,
        name       TEXT NOT NULL,
        enrollment TEXT NOT NULL,
        label      TEXT NOT NULL DEFAULT '',
        subject    TEXT NOT NULL DEFAULT '',
        bound_at   INTEGER NOT NULL
      ) STRICT;
      -- A command id is the publisher's, unique per sensor only: (sensor_id, id), rows kept.
      CREATE TABLE downstream_commands_v5 (
        id             TEXT NOT NULL,
        sensor_id      TEXT NOT NULL,
        payload        BLOB NOT NULL,
        content_format INTEGER NOT NULL,
        received_at    INTEGER NOT NULL,
        expires_at     INTEGER NOT NULL,
        delivered_at   INTEGER,
        PRIMARY KEY (sensor_id, id)
      ) STRICT;
      INSERT INTO downstream_commands_v5
        (rowid, id, sensor_id, payload, content_format, received_at, expires_at, delivered_at)
        SELECT rowid, id, sensor_id, payload, content_format, received_at, expires_at, delivered_at
        FROM downstream_commands;
      DROP TABLE downstream_commands;
      ALTER TABLE downstream_commands_v5 RENAME TO downstream_commands;
      CREATE INDEX downstream_commands_pending ON downstream_commands (sensor_id, received_at)
        WHERE delivered_at IS NULL;
      CREATE INDEX downstream_commands_expiry ON downstream_commands (expires_at);
    `,
  },
  {
    version: 6,
    name: 'CRLs keyed by the signing CA (name and key), not its name; CA certificates learned from sensor chains',
    sql: `
      -- One CRL per issuing CA: signer_key = SHA-256 of the CA certificate's subject Name DER and its
      -- SubjectPublicKeyInfo DER (hex). Rows kept: their signer_key is NULL here and set by the CRL
      -- cache from signer_sha256 (the certificate that verified the CRL) when it next loads.
      CREATE TABLE trust_crls_v6 (
        id                 INTEGER PRIMARY KEY,
        signer_key         TEXT UNIQUE,
        issuer_name_sha256 TEXT NOT NULL,
        issuer             TEXT NOT NULL,
        signer_sha256      TEXT NOT NULL,
        signer_ski         TEXT,
        crl_number         TEXT,
        this_update        INTEGER NOT NULL,
        next_update        INTEGER,
        entries            INTEGER NOT NULL,
        der_sha256         TEXT NOT NULL,
        source             TEXT NOT NULL,
        distribution_point TEXT,
        fetched_at         INTEGER NOT NULL
      ) STRICT;
      INSERT INTO trust_crls_v6 (id, signer_key, issuer_name_sha256, issuer, signer_sha256, signer_ski, crl_number,
          this_update, next_update, entries, der_sha256, source, distribution_point, fetched_at)
        SELECT id, NULL, issuer_name_sha256, issuer, signer_sha256, NULL, crl_number,
          this_update, next_update, entries, der_sha256, source, distribution_point, fetched_at
        FROM trust_crls;
      DROP TABLE trust_crls;
      ALTER TABLE trust_crls_v6 RENAME TO trust_crls;
      -- Intermediate CAs seen on validated sensor paths (so an operator can import their CRLs).
      CREATE TABLE trust_seen_intermediates (
        sha256        TEXT PRIMARY KEY NOT NULL,
        der           BLOB NOT NULL,
        subject       TEXT NOT NULL,
        anchor_sha256 TEXT NOT NULL,
        first_seen    INTEGER NOT NULL,
        last_seen     INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 7,
    name: 'CRL signer keys over the CA name in RFC 5280 section 7.1 form, not its DER',
    sql: `
      -- signerKeyOf now hashes the subject Name's comparison form: the CRL cache re-keys these rows
      -- from signer_sha256 when it next loads, as it did the rows of migration 6.
      UPDATE trust_crls SET signer_key = NULL;
    `,
  },
  {
    version: 8,
    name: 'identity request owed to the EST server (same CSR across 202 and restarts)',
    sql: `
      -- The enrolment/re-enrolment the gateway owes (one row): kept until a certificate is installed,
      -- so a 202 is followed by the SAME request (key and CSR) after Retry-After, also after a restart,
      -- and a failed or pending operator renewal is retried on the backoff. key_ref: NULL = factory key.
      CREATE TABLE identity_request (
        id              INTEGER PRIMARY KEY CHECK (id = 1),
        operation       TEXT NOT NULL CHECK (operation IN ('simpleenroll', 'simplereenroll')),
        origin          TEXT NOT NULL CHECK (origin IN ('automatic', 'operator')),
        created_at      INTEGER NOT NULL,
        key_ref         TEXT,
        -- The CSR as sent and its key's SubjectPublicKeyInfo; NULL until built, and again after the
        -- server refused the request itself (the next attempt builds a new one).
        csr_der         BLOB,
        public_key      BLOB,
        csr_created_at  INTEGER,
        sent            INTEGER NOT NULL DEFAULT 0,
        last_status     INTEGER,
        last_answer     TEXT,
        last_answer_at  INTEGER
      ) STRICT;
    `,
  },
  {
    version: 9,
    name: 'DTLS session ticket keys, wrapped',
    sql: `
      -- RFC 5077 ticket keys (at most two: issuing, decrypt-only), so sessions resume after a restart.
      -- The secrets are never stored in clear: wrapped = IV(12) | AES-256-GCM(hmac key | aes key) |
      -- tag(16) under a key the service holds (a systemd credential), AAD = name | created_at.
      -- wrapped_by names that key; a row the wrapping key cannot open is dropped at start.
      CREATE TABLE dtls_ticket_keys (
        name        BLOB PRIMARY KEY NOT NULL,
        created_at  INTEGER NOT NULL,
        wrapped_by  TEXT NOT NULL,
        wrapped     BLOB NOT NULL
      ) STRICT;
    `,
  },
];
