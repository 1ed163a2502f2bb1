import type { Store } from '../../store/index.js';
import { SessionTicketKeys } from '../../tls/index.js';
import { TicketKeyRecords } from './ticket-key-records.js';
import { ticketWrappingKey } from './ticket-wrapping-key.js';

/** [downstream.dtls] session ticket settings. */
export interface SessionTicketSettings {
  session_tickets: boolean;
  session_ticket_lifetime_s: number;
  session_ticket_key_credential: string;
}

/** For `gatewayctl status`: whether sessions survive a restart, and if not, why. */
export interface SessionTicketStatus {
  enabled: boolean;
  lifetimeSeconds: number;
  /** The ticket keys are persisted, wrapped: sensors resume after a restart without a signature. */
  survivesRestart: boolean;
  wrappedBy: string | null;
  /** Why sessions do not survive a restart (null when they do). */
  reason: string | null;
  /** Keys taken back from the database at start. */
  keysRestored: number;
  /** Stored keys the wrapping key could not open (another machine's, another credential): dropped. */
  keysUnreadable: number;
}

interface Log {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** The ticket keys of the sensor endpoint, persisted when a wrapping key is at hand. */
export class SessionTickets {
  readonly keys: SessionTicketKeys;
  readonly #status: SessionTicketStatus;

  private constructor(keys: SessionTicketKeys, status: SessionTicketStatus) {
    this.keys = keys;
    this.#status = status;
  }

  /**
   * Opens the ticket keys: with the wrapping key (a systemd credential), those stored are taken back
   * and every rotation is stored, wrapped; without it, tickets work within this run only, and the log
   * and status say so. Undefined when tickets are off.
   */
  static open(
    store: Store,
    settings: SessionTicketSettings,
    log: Log,
    environment: NodeJS.ProcessEnv = process.env,
  ): SessionTickets | undefined {
    if (!settings.session_tickets) return undefined;
    const lifetimeSeconds = settings.session_ticket_lifetime_s;
    const wrapping = ticketWrappingKey(settings.session_ticket_key_credential, environment);
    if (wrapping.key === undefined) {
      const reason = `the ticket keys are not persisted: ${wrapping.why}`;
      log.warn(
        { reason },
        'DTLS sessions will NOT survive a restart (every sensor signs a full handshake after one)',
      );
      return new SessionTickets(new SessionTicketKeys({ lifetimeSeconds }), {
        enabled: true,
        lifetimeSeconds,
        survivesRestart: false,
        wrappedBy: null,
        reason,
        keysRestored: 0,
        keysUnreadable: 0,
      });
    }
    const records = new TicketKeyRecords(store, wrapping.key, wrapping.source);
    const loaded = records.load();
    const status: SessionTicketStatus = {
      enabled: true,
      lifetimeSeconds,
      survivesRestart: true,
      wrappedBy: wrapping.source,
      reason: null,
      keysRestored: 0,
      keysUnreadable: loaded.unreadable,
    };
    if (loaded.unreadable > 0) {
      log.warn(
        { unreadable: loaded.unreadable, wrappedBy: wrapping.source },
        'stored DTLS ticket keys cannot be opened with this wrapping key (another machine or credential): dropped, sensors sign full handshakes once',
      );
    }
    const keys = new SessionTicketKeys({
      lifetimeSeconds,
      keys: loaded.keys,
      changed: (ring) => {
        try {
          records.save(ring);
        } catch (error) {
          log.warn(
            { error: String(error) },
            'DTLS ticket keys not stored: sessions made now will not survive a restart',
          );
        }
      },
    });
    status.keysRestored = keys.keys().length;
    // The ring as taken back (too old keys dropped, unreadable rows replaced).
    if (loaded.unreadable > 0 || keys.keys().length !== loaded.keys.length) records.save(keys.keys());
    log.info(
      { wrappedBy: wrapping.source, keysRestored: status.keysRestored, lifetimeSeconds },
      'DTLS session tickets: keys persisted (wrapped), sessions survive a restart',
    );
    return new SessionTickets(keys, status);
  }

  status(): SessionTicketStatus {
    return { ...this.#status };
  }
}
