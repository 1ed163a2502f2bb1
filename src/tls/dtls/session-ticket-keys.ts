import { randomBytes, timingSafeEqual } from 'node:crypto';
import { hmac } from '../../native/openssl/libcrypto-hmac.js';

/** One RFC 5077 ticket key: a public name (the first 16 bytes of every ticket) and two secrets. */
export interface TicketKey {
  /** 16 bytes, sent in clear at the start of each ticket it made. */
  name: Buffer;
  /** HMAC-SHA256 key (32 bytes) over name | IV | ciphertext. */
  hmacKey: Buffer;
  /** AES-256-CBC key (32 bytes) for the serialized session. */
  aesKey: Buffer;
  /** When the key was made (ms since the epoch): it issues for one lifetime and decrypts for two. */
  createdAt: number;
}

export interface SessionTicketKeysOptions {
  /** Longest ticket (and session) lifetime, seconds; also how long one key issues tickets. */
  lifetimeSeconds: number;
  /** Keys kept from an earlier run (persisted); those too old to decrypt anything are dropped. */
  keys?: readonly TicketKey[];
  /** Hears the key ring after each change (a rotation), e.g. to persist it. Must not throw. */
  changed?: (keys: readonly TicketKey[]) => void;
  now?: () => number;
}

const NAME_BYTES = 16;
const IV_BYTES = 16;
const MAC_BYTES = 32;
const AES_BLOCK = 16;
/** Refused tickets remembered at most (the oldest is forgotten first; a forgotten one is refused again). */
const MAX_REFUSED = 4096;

/**
 * The server's session ticket keys (RFC 5077 §4's recommended format, as OpenSSL writes it:
 * key_name(16) | IV(16) | AES-256-CBC(session) | HMAC-SHA256(key_name | IV | ciphertext)).
 *
 * Rotation: the newest key issues tickets for `lifetimeSeconds`, then a fresh key takes over and the
 * previous one only decrypts, for one more lifetime (no ticket it made can outlive that, since a
 * ticket's lifetime is at most `lifetimeSeconds`); a ticket under the previous key is renewed.
 *
 * `recognizes` checks a ticket's key name and HMAC in JS, before OpenSSL sees the ClientHello: only
 * then is the handshake taken for a resumption that signs nothing (exempt from the signature
 * budget). A forged or stale ticket is a full handshake and pays for one.
 */
export class SessionTicketKeys {
  readonly lifetimeSeconds: number;
  readonly #changed: ((keys: readonly TicketKey[]) => void) | undefined;
  readonly #now: () => number;
  /** Newest first: [issuing, decrypt-only]. */
  #keys: TicketKey[];
  /**
   * IVs (hex) of tickets whose session the trust hook refused on resumption: a stateless ticket cannot
   * be forgotten like a cached session, so these are refused (a full handshake, judged and refused
   * with the certificate's own alert) instead of resuming, being refused, and coming back forever.
   */
  readonly #refused = new Set<string>();

  constructor(options: SessionTicketKeysOptions) {
    this.lifetimeSeconds = options.lifetimeSeconds;
    this.#changed = options.changed;
    this.#now = options.now ?? Date.now;
    const now = this.#now();
    this.#keys = [...(options.keys ?? [])]
      .filter(
        (key) => isWellFormed(key) && key.createdAt <= now && now - key.createdAt < 2 * this.#lifetimeMs,
      )
      .sort((a, b) => b.createdAt - a.createdAt)
      .slice(0, 2);
  }

  get #lifetimeMs(): number {
    return this.lifetimeSeconds * 1000;
  }

  /** The key that issues tickets now (a fresh one once the last has issued for a lifetime). */
  issuing(): TicketKey {
    const now = this.#now();
    const newest = this.#keys[0];
    if (newest && now - newest.createdAt < this.#lifetimeMs && newest.createdAt <= now) return newest;
    const key: TicketKey = {
      name: randomBytes(NAME_BYTES),
      hmacKey: randomBytes(32),
      aesKey: randomBytes(32),
      createdAt: now,
    };
    this.#keys = [key, ...this.#keys.filter((k) => now - k.createdAt < 2 * this.#lifetimeMs)].slice(0, 2);
    try {
      this.#changed?.(this.#keys);
    } catch {
      // persistence is best effort: tickets still work within this run
    }
    return key;
  }

  /** The key named `name` if it may still decrypt; `renew` when it no longer issues. */
  find(name: Uint8Array): { key: TicketKey; renew: boolean } | undefined {
    const now = this.#now();
    for (const [index, key] of this.#keys.entries()) {
      if (!key.name.equals(name)) continue;
      const age = now - key.createdAt;
      if (age < 0 || age >= 2 * this.#lifetimeMs) return undefined;
      return { key, renew: index > 0 || age >= this.#lifetimeMs };
    }
    return undefined;
  }

  /** The ticket names one of our keys and its HMAC checks out (its content is not decrypted here). */
  recognizes(ticket: Uint8Array | undefined): boolean {
    if (!ticket || ticket.length < NAME_BYTES + IV_BYTES + AES_BLOCK + MAC_BYTES) return false;
    if (this.isRefused(ticket.subarray(NAME_BYTES, NAME_BYTES + IV_BYTES))) return false;
    if ((ticket.length - NAME_BYTES - IV_BYTES - MAC_BYTES) % AES_BLOCK !== 0) return false;
    const found = this.find(ticket.subarray(0, NAME_BYTES));
    if (!found) return false;
    const macAt = ticket.length - MAC_BYTES;
    const mac = hmac('sha256', found.key.hmacKey, ticket.subarray(0, macAt));
    return timingSafeEqual(mac, ticket.subarray(macAt));
  }

  /** The session of `ticket` was refused on resumption: the ticket no longer resumes (bounded memory). */
  refuse(ticket: Uint8Array): void {
    if (ticket.length < NAME_BYTES + IV_BYTES) return;
    if (this.#refused.size >= MAX_REFUSED)
      this.#refused.delete(this.#refused.values().next().value as string);
    this.#refused.add(Buffer.from(ticket.subarray(NAME_BYTES, NAME_BYTES + IV_BYTES)).toString('hex'));
  }

  isRefused(iv: Uint8Array): boolean {
    return this.#refused.size > 0 && this.#refused.has(Buffer.from(iv).toString('hex'));
  }

  /** The keys held now, newest first (for persistence). */
  keys(): readonly TicketKey[] {
    return this.#keys;
  }
}

function isWellFormed(key: TicketKey): boolean {
  return key.name.length === NAME_BYTES && key.hmacKey.length === 32 && key.aesKey.length === 32;
}
