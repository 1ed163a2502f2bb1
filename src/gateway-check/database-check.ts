import { existsSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Verdict } from '../verdicts/index.js';

/** Below this much free space the outbox and WAL soon cannot grow: fail. */
const FREE_FAIL_BYTES = 64 * 1024 * 1024;
/** Below this fraction free: warn. */
const FREE_WARN_FRACTION = 0.1;

/**
 * PRAGMA quick_check on a read-only connection (safe beside the running daemon: SQLite's WAL lets a
 * reader look while it writes). True in `sound` when check may open the database for the other checks.
 */
export function databaseCheck(path: string): { verdict: Verdict; sound: boolean } {
  const name = 'state database integrity';
  if (!existsSync(path)) {
    return {
      verdict: {
        name,
        status: 'warn',
        detail: `${path} does not exist yet`,
        fix: 'start the daemon once (systemctl start edge-gatewayd): it creates the database; or fix store.path',
      },
      sound: false,
    };
  }
  const fix =
    'stop the daemon (systemctl stop edge-gatewayd), move the file aside for analysis and start again: it creates a new database (queued telemetry and the stored CRLs are lost; the identity certificate is re-obtained over EST)';
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    const rows = db.pragma('quick_check') as { quick_check: string }[];
    const problems = rows.map((row) => row.quick_check).filter((text) => text !== 'ok');
    if (problems.length > 0) {
      return {
        verdict: {
          name,
          status: 'fail',
          detail: `${path}: quick_check found ${problems.slice(0, 3).join('; ')}`,
          fix,
        },
        sound: false,
      };
    }
    return { verdict: { name, status: 'pass', detail: `${path}: quick_check ok` }, sound: true };
  } catch (error) {
    return {
      verdict: {
        name,
        status: 'fail',
        detail: `${path}: ${error instanceof Error ? error.message : String(error)}`,
        fix,
      },
      sound: false,
    };
  } finally {
    db?.close();
  }
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
