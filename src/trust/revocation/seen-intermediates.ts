import type { Store } from '../../store/index.js';
import type { CertificateFacts } from '../validation/index.js';

/** An intermediate CA seen on a validated sensor path. */
export interface SeenIntermediate {
  sha256: string;
  der: Uint8Array;
  subject: string;
  /** The anchor its path ended at. */
  anchorSha256: string;
  firstSeen: Date;
}

/** More than this many are not learned (a bound on what sensors can make the gateway store). */
const MAX_SEEN = 1024;

/**
 * Intermediate CAs the gateway has seen on validated sensor paths (`trust_seen_intermediates`): a
 * sensor may present its issuing CA without the operator ever adding it to the bundle, and that
 * CA's CRL must still be importable (`gatewayctl trust crl import`). Only certificates on a path
 * that validated to an anchor are written, once each (the in-memory set keeps handshakes free of
 * writes after the first).
 */
export class SeenIntermediates {
  readonly #store: Store;
  readonly #known = new Set<string>();

  constructor(store: Store) {
    this.#store = store;
    for (const row of this.#store
      .prepare<[], { sha256: string }>('SELECT sha256 FROM trust_seen_intermediates')
      .all()) {
      this.#known.add(row.sha256);
    }
  }

  /** Records the CAs between the sensor and the anchor of a validated path (leaf first). */
  note(path: readonly CertificateFacts[], at: Date): void {
    if (path.length < 3) return;
    const anchor = path[path.length - 1] as CertificateFacts;
    for (let depth = 1; depth < path.length - 1; depth++) {
      const ca = path[depth] as CertificateFacts;
      if (this.#known.has(ca.sha256) || this.#known.size >= MAX_SEEN) continue;
      this.#known.add(ca.sha256);
      this.#store
        .prepare<[string, Uint8Array, string, string, number, number]>(
          `INSERT OR IGNORE INTO trust_seen_intermediates (sha256, der, subject, anchor_sha256, first_seen, last_seen)
           VALUES (?, ?, ?, ?, ?, ?)`,
        )
        .run(ca.sha256, ca.der, ca.subject, anchor.sha256, at.getTime(), at.getTime());
    }
  }

  list(): SeenIntermediate[] {
    return this.#store
      .prepare<
        [],
        { sha256: string; der: Uint8Array; subject: string; anchor_sha256: string; first_seen: number }
      >(
        'SELECT sha256, der, subject, anchor_sha256, first_seen FROM trust_seen_intermediates ORDER BY first_seen',
      )
      .all()
      .map((row) => ({
        sha256: row.sha256,
        der: row.der,
        subject: row.subject,
        anchorSha256: row.anchor_sha256,
        firstSeen: new Date(row.first_seen),
      }));
  }
}
