import { ConfigError } from '../config/index.js';
import { OpenSslVersionError } from '../native/openssl/index.js';
import { StoreError } from '../store/index.js';

/** sysexits(3) EX_CONFIG: the configuration (or the runtime) is wrong; the unit does not restart it. */
export const EXIT_CONFIG = 78;
/** sysexits(3) EX_DATAERR: the state database cannot be used as it is; the unit does not restart it. */
export const EXIT_STATE_DATABASE = 65;
/** Anything else: systemd restarts the daemon (Restart=on-failure). */
export const EXIT_FAILURE = 1;

/** SQLite results that can pass (a lock held elsewhere, a full disk, an I/O hiccup): worth a restart. */
const TRANSIENT_SQLITE = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|NOMEM|CANTOPEN|READONLY|PROTOCOL)/;

/**
 * The exit status for an error that stopped the daemon. Errors that restarting cannot fix get a
 * status listed in the unit's RestartPreventExitStatus=, so the unit ends up failed with the reason
 * in the journal instead of looping: a bad config value found at start-up (a file it names cannot be
 * read), node's OpenSSL not being one the TLS bindings were written for (EGW_OPENSSL_UNSUPPORTED),
 * a corrupt state database or one from a newer version, and a migration that fails on its SQL.
 */
export function exitStatusFor(error: unknown): number {
  if (error instanceof ConfigError || error instanceof OpenSslVersionError) return EXIT_CONFIG;
  if (!(error instanceof StoreError)) return EXIT_FAILURE;
  switch (error.code) {
    case 'EGW_STORE_CORRUPT':
    case 'EGW_STORE_SCHEMA_NEWER':
      return EXIT_STATE_DATABASE;
    case 'EGW_STORE_MIGRATION_FAILED': {
      const code = String((error.cause as { code?: unknown } | undefined)?.code ?? '');
      return TRANSIENT_SQLITE.test(code) ? EXIT_FAILURE : EXIT_STATE_DATABASE;
    }
    default:
      return EXIT_FAILURE;
  }
}
