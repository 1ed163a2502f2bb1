import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, type Migration, Store, StoreError } from '../../../src/store/index.js';

const opened: Store[] = [];
const freshPath = () => join(mkdtempSync(join(tmpdir(), 'egw-store-')), 'state.db');
const open = (path: string, migrations?: readonly Migration[]) => {
  const store = Store.open(path, migrations);
  opened.push(store);
  return store;
};
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const latest = Math.max(...MIGRATIONS.map((m) => m.version));

function openError(path: string, migrations?: readonly Migration[]): StoreError {
  try {
    open(path, migrations);
  } catch (error) {
    expect(error).toBeInstanceOf(StoreError);
    return error as StoreError;
  }
  throw new Error('expected Store.open to fail');
}

afterEach(() => {
  for (const store of opened.splice(0)) store.close();
});

describe('Store.open', () => {
  it('migrates an empty database to the latest schema, in WAL mode with foreign keys on', () => {
    const path = freshPath();
    const store = open(path);
    expect(store.schemaVersion).toBe(latest);
    store.close();
    const db = new Database(path, { readonly: true });
    const applied = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
    expect(applied).toEqual(MIGRATIONS.map(({ version, name }) => ({ version, name })));
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('runs its connection in WAL mode, synchronous=FULL, with foreign keys enforced', () => {
    expect(open(freshPath()).settings()).toEqual({
      journalMode: 'wal',
      synchronous: 'full',
      foreignKeys: true,
    });
  });

  it('is idempotent: reopening applies nothing twice and keeps data', () => {
    const path = freshPath();
    const first = open(path);
    first.setMeta('clock_floor', '2026-11-23T00:00:00.000Z');
    first.close();
    const second = open(path);
    expect(second.schemaVersion).toBe(latest);
    expect(second.getMeta('clock_floor')).toBe('2026-11-23T00:00:00.000Z');
    expect(second.getMeta('absent')).toBeUndefined();
  });

  it('applies only the new migrations to an older database', () => {
    const path = freshPath();
    open(path).close();
    const next: Migration = {
      version: latest + 1,
      name: 'probe table',
      sql: 'CREATE TABLE probe (x INTEGER) STRICT;',
    };
    const store = open(path, [...MIGRATIONS, next]);
    expect(store.schemaVersion).toBe(latest + 1);
  });

  it('refuses a database written by a newer schema and leaves it byte-for-byte unchanged', () => {
    const path = freshPath();
    const future: Migration = {
      version: latest + 5,
      name: 'from the future',
      sql: 'CREATE TABLE future (x);',
    };
    open(path, [...MIGRATIONS, future]).close();
    const before = sha256(path);
    const error = openError(path);
    expect(error.code).toBe('EGW_STORE_SCHEMA_NEWER');
    expect(error.message).toBe(
      `state database ${path} has schema version ${latest + 5}, newer than this edge-gatewayd understands (up to ${latest}); it was left unchanged`,
    );
    expect(error.hint).toMatch(/restore a backup/);
    expect(sha256(path)).toBe(before);
  });

  it('refuses a file that is not a database, names the path, and does not touch it', () => {
    const path = freshPath();
    writeFileSync(path, Buffer.alloc(8192, 0x5a));
    const before = sha256(path);
    const error = openError(path);
    expect(error.code).toBe('EGW_STORE_CORRUPT');
    expect(error.message).toContain(`state database ${path} is corrupt or not a SQLite database`);
    expect(error.hint).toMatch(/not recreated automatically/);
    expect(sha256(path)).toBe(before);
  });

  it('refuses a database whose pages are damaged', () => {
    const path = freshPath();
    const store = open(path);
    for (let i = 0; i < 200; i++) store.setMeta(`key-${i}`, 'x'.repeat(200));
    store.close();
    // Checkpointed into the main file by close(); now overwrite a b-tree page with garbage.
    const bytes = readFileSync(path);
    expect(bytes.length).toBeGreaterThan(4096 * 4);
    bytes.fill(0xa5, 4096 * 2, 4096 * 3);
    writeFileSync(path, bytes);
    expect(openError(path).code).toBe('EGW_STORE_CORRUPT');
  });

  it('reports a location it cannot create the database in', () => {
    const dir = mkdtempSync(join(tmpdir(), 'egw-store-'));
    writeFileSync(join(dir, 'not-a-dir'), '');
    const path = join(dir, 'not-a-dir', 'state.db');
    const error = openError(path);
    expect(error.code).toBe('EGW_STORE_UNOPENABLE');
    expect(error.message).toMatch(new RegExp(`^cannot open state database ${path}: `));
    expect(error.hint).toContain('writable by the edge-gatewayd user');
  });

  it('rolls a failed migration back and leaves the schema version where it was', () => {
    const path = freshPath();
    open(path).close();
    const broken: Migration = {
      version: latest + 1,
      name: 'half broken',
      sql: 'CREATE TABLE fine (x INTEGER); THIS IS NOT SQL;',
    };
    const error = openError(path, [...MIGRATIONS, broken]);
    expect(error.code).toBe('EGW_STORE_MIGRATION_FAILED');
    expect(error.message).toContain(`migration ${latest + 1} (half broken) failed on ${path}`);
    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT name FROM sqlite_schema WHERE name = 'fine'").get()).toBeUndefined();
    expect(db.prepare('SELECT max(version) AS v FROM schema_migrations').get()).toEqual({ v: latest });
    db.close();
  });

  it('applies an upgrade of several migrations all or nothing: a failure in the last leaves the previous version a database it opens', () => {
    const path = freshPath();
    const before = open(path);
    before.setMeta('kept', 'yes');
    before.close();
    const fine: Migration = { version: latest + 1, name: 'fine', sql: 'CREATE TABLE fine (x INTEGER);' };
    const broken: Migration = { version: latest + 2, name: 'broken', sql: 'INSERT INTO missing VALUES (1);' };
    const error = openError(path, [...MIGRATIONS, fine, broken]);
    expect(error.code).toBe('EGW_STORE_MIGRATION_FAILED');
    expect(error.message).toContain(`migration ${latest + 2} (broken) failed on ${path}`);
    expect(error.message).toContain(
      `stays at schema version ${latest} (none of migrations ${latest + 1}, ${latest + 2} applied)`,
    );
    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT name FROM sqlite_schema WHERE name = 'fine'").get()).toBeUndefined();
    expect(db.prepare('SELECT max(version) AS v FROM schema_migrations').get()).toEqual({ v: latest });
    db.close();
    // The version before the upgrade (a rollback of the package) still opens it, data intact.
    const rolledBack = open(path);
    expect(rolledBack.schemaVersion).toBe(latest);
    expect(rolledBack.getMeta('kept')).toBe('yes');
  });
});

describe('Store.prepare', () => {
  it('prepares each SQL text once and hands the same statement back', () => {
    const store = open(freshPath());
    const first = store.prepare('SELECT value FROM gateway_meta WHERE key = ?');
    expect(store.prepare('SELECT value FROM gateway_meta WHERE key = ?')).toBe(first);
    store.setMeta('k', 'v');
    expect(first.get('k')).toEqual({ value: 'v' });
    expect(store.transaction(() => store.prepare("UPDATE gateway_meta SET value = 'w'").run().changes)).toBe(
      1,
    );
  });
});

describe('Store.openReadOnly', () => {
  it('a database of schema version 0 (a 0-byte file) opens and says version 0, unchanged', () => {
    const path = freshPath();
    writeFileSync(path, '');
    const store = Store.openReadOnly(path);
    opened.push(store);
    expect(store.schemaVersion).toBe(0);
    expect(store.readOnly).toBe(true);
    store.close();
    expect(readFileSync(path).length).toBe(0);
  });
});
