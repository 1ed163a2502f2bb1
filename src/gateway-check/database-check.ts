import { accessSync, constants, existsSync, statfsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { MIGRATIONS, type Migration, Store, StoreError } from '../store/index.js';
import type { Verdict } from '../verdicts/index.js';

/** Below this much free space the outbox and WAL soon cannot grow: fail. */
const FREE_FAIL_BYTES = 64 * 1024 * 1024;
/** Below this fraction free: warn. */
const FREE_WARN_FRACTION = 0.1;

/** What the database check found, and the store the other checks may read (open only when sound). */
export interface StateDatabase {
  verdict: Verdict;
  /** Opened read-only: check never creates, migrates or writes the state database (SQLite may add an empty -wal/-shm: Store.openReadOnly). */
  store: Store | undefined;
  /** Why the checks that read the database say n/a, when it is not open. */
  unreadable: string | undefined;
}

const PERMISSION_CODES = new Set(['EACCES', 'EPERM', 'SQLITE_CANTOPEN', 'SQLITE_PERM', 'SQLITE_AUTH']);

/**
 * PRAGMA quick_check on a read-only connection (safe beside the running daemon: SQLite's WAL lets a
 * reader look while it writes), which the other checks then read from. A missing database is not
 * created and an older schema not migrated: that is the daemon's job, at its start.
 */
export function databaseCheck(path: string, migrations: readonly Migration[] = MIGRATIONS): StateDatabase {
  const name = 'state database integrity';
  const unreadable = 'the state database could not be read (see its check)';
  // Only ENOENT is "missing": existsSync says false on EACCES too (a non-root operator and the
  // unit's StateDirectoryMode=0700), which would tell them the running daemon has never run.
  const statError = statFailure(path);
  if (statError && statError.code !== 'ENOENT')
    return { verdict: unopenedVerdict(name, path, statError), store: undefined, unreadable };
  if (statError) {
    return {
      verdict: {
        name,
        status: 'warn',
        detail: `no state database yet at ${path}: the daemon has not run (it creates it at its first start)`,
        fix: 'start it: systemctl start edge-gatewayd; if it has run before, store.path in the config points elsewhere than its database',
      },
      store: undefined,
      unreadable: 'no state database yet: the daemon has not run',
    };
  }
  let store: Store;
  try {
    accessSync(path, constants.R_OK);
    store = Store.openReadOnly(path, migrations);
  } catch (error) {
    return { verdict: unopenedVerdict(name, path, error), store: undefined, unreadable };
  }
  const latest = migrations.reduce((max, m) => Math.max(max, m.version), 0);
  if (store.schemaVersion < latest) {
    store.close();
    return {
      verdict: {
        name,
        status: 'warn',
        detail: `${path}: quick_check ok; schema version ${store.schemaVersion}, older than this release's ${latest} (check reads it as it is and never migrates it)`,
        fix: 'restart the daemon (systemctl restart edge-gatewayd): it migrates the database at its start',
      },
      store: undefined,
      unreadable: `the state database has an older schema (version ${store.schemaVersion}): the daemon migrates it at its start`,
    };
  }
  return {
    verdict: { name, status: 'pass', detail: `${path}: quick_check ok` },
    store,
    unreadable: undefined,
  };
}

function statFailure(path: string): NodeJS.ErrnoException | undefined {
  try {
    statSync(path);
    return undefined;
  } catch (error) {
    return error as NodeJS.ErrnoException;
  }
}

function unopenedVerdict(name: string, path: string, error: unknown): Verdict {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof StoreError && error.code === 'EGW_STORE_SCHEMA_NEWER') {
    return {
      name,
      status: 'fail',
      detail: message,
      fix: error.hint ?? 'run the edge-gatewayd that wrote it',
    };
  }
  if (error instanceof StoreError && error.code === 'EGW_STORE_CORRUPT') {
    return {
      name,
      status: 'fail',
      detail: message,
      fix: 'stop the daemon (systemctl stop edge-gatewayd), move the file aside for analysis and start again: it creates a new database (queued telemetry and the stored CRLs are lost; the identity certificate is re-obtained over EST)',
    };
  }
  // Not a damaged file: the user running check may not read it (the service user owns it, 0600).
  const codes = [error, (error as { cause?: unknown }).cause].map(
    (each) => (each as { code?: string })?.code,
  );
  if (codes.some((code) => code !== undefined && PERMISSION_CODES.has(code))) {
    return {
      name,
      status: 'fail',
      detail: `${path}: cannot read it (${message}); not a sign of damage`,
      fix: `permissions: run check as root or as the service user (sudo -u edge-gatewayd gatewayctl check); if the daemon cannot read it either, give it back to that user: chown edge-gatewayd: ${path}* && chmod 0600 ${path}`,
    };
  }
  return {
    name,
    status: 'fail',
    detail: message,
    fix: `${path} could not be opened: see the message; gatewayctl clock and the daemon's log (journalctl -u edge-gatewayd) show whether the daemon opens it`,
  };
}

/** Free space on the file system holding the state database (the outbox lives there). */
export function diskCheck(path: string): Verdict {
  const name = 'free disk (state)';
  const dir = existsSync(path) ? dirname(path) : nearestExisting(dirname(path));
  const stats = statfsSync(dir);
  const free = stats.bavail * stats.bsize;
  const total = stats.blocks * stats.bsize;
  const detail = `${mib(free)} MiB free of ${mib(total)} MiB at ${dir}`;
  const fix =
    'free space on that file system (old logs: journalctl --vacuum-size=…), or give store.path a larger one; a full disk stops the outbox storing telemetry';
  if (free < FREE_FAIL_BYTES) return { name, status: 'fail', detail, fix };
  if (total > 0 && free / total < FREE_WARN_FRACTION)
    return { name, status: 'warn', detail: `${detail} (under ${FREE_WARN_FRACTION * 100} %)`, fix };
  return { name, status: 'pass', detail };
}

function nearestExisting(dir: string): string {
  let at = dir;
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  return at;
}

const mib = (bytes: number): number => Math.floor(bytes / 1048576);
