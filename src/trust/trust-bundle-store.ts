import { createHash } from 'node:crypto';
import type { X509Certificate } from '../pki/index.js';
import type { Store } from '../store/index.js';

export interface TrustedCertificate {
  bundle: string;
  sha256: string;
  der: Uint8Array;
  subject: string;
  source: string;
  fetchedAt: Date;
}

/**
 * Trust bundles kept in the state database, so the gateway keeps trusting the right CAs offline.
 * One row per certificate: which bundle, where it came from (file, provisioning server, operator),
 * when, and its SHA-256.
 */
export class TrustBundleStore {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  /** Makes `certificates` the whole content of `bundle` from `source` (other sources' rows stay). */
  replaceFromSource(
    bundle: string,
    source: string,
    certificates: readonly X509Certificate[],
    at = new Date(),
  ): void {
    const remove = this.#store.prepare<[string, string]>(
      'DELETE FROM trust_certificates WHERE bundle = ? AND source = ?',
    );
    const insert = this.#store.prepare<[string, string, Uint8Array, string, string, number]>(
      `INSERT INTO trust_certificates (bundle, sha256, der, subject, source, fetched_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (bundle, sha256) DO UPDATE SET source = excluded.source, fetched_at = excluded.fetched_at`,
    );
    this.#store.transaction(() => {
      remove.run(bundle, source);
      for (const certificate of certificates) {
        const der = new Uint8Array(certificate.rawData);
        insert.run(bundle, sha256(der), der, certificate.subject, source, at.getTime());
      }
    });
  }

  list(bundle: string): TrustedCertificate[] {
    const rows = this.#store
      .prepare<
        [string],
        {
          bundle: string;
          sha256: string;
          der: Uint8Array;
          subject: string;
          source: string;
          fetched_at: number;
        }
      >(
        'SELECT bundle, sha256, der, subject, source, fetched_at FROM trust_certificates WHERE bundle = ? ORDER BY fetched_at, sha256',
      )
      .all(bundle);
    return rows.map((row) => ({
      bundle: row.bundle,
      sha256: row.sha256,
      der: new Uint8Array(row.der),
      subject: row.subject,
      source: row.source,
      fetchedAt: new Date(row.fetched_at),
    }));
  }
}

function sha256(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}
