import { readableName, type X509Certificate } from '../pki/index.js';
import type { Store } from '../store/index.js';
import { parseCertificate } from './parse-certificate.js';
import { normalizeThumbprint, sha256Hex } from './thumbprint.js';
import { TrustError } from './trust-error.js';

/** Anchors are trusted as such; intermediates only help build a path up to an anchor. */
export type TrustRole = 'anchor' | 'intermediate';

/** Where an added certificate came from (replaceFromSource also records others, such as 'est'). */
export type TrustSource = 'file' | 'operator' | 'provisioning-server';

export interface TrustedCertificate {
  bundle: string;
  sha256: string;
  der: Uint8Array;
  subject: string;
  source: string;
  role: TrustRole;
  fetchedAt: Date;
}

interface Row {
  bundle: string;
  sha256: string;
  der: Uint8Array;
  subject: string;
  source: string;
  role: TrustRole;
  fetched_at: number;
}

const COLUMNS = 'bundle, sha256, der, subject, source, role, fetched_at';
// Insertion order within one fetch time, so an exported bundle lists certificates as they were imported.
const ORDER = 'ORDER BY fetched_at, rowid';
const UPSERT = `INSERT INTO trust_certificates (bundle, sha256, der, subject, source, role, fetched_at)
  VALUES (?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (bundle, sha256) DO UPDATE SET
    source = excluded.source, role = excluded.role, fetched_at = excluded.fetched_at`;

/**
 * Trust bundles kept in the state database, so the gateway keeps trusting the right CAs offline.
 * One row per certificate: which bundle, anchor or intermediate, where it came from (file,
 * provisioning server, operator), when, and its SHA-256.
 */
export class TrustBundleStore {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  /**
   * Makes `certificates` the whole content of `bundle` from `source` (other sources' rows stay).
   * They are anchors: the EST /cacerts answer and configured CA files are trusted as such.
   */
  replaceFromSource(
    bundle: string,
    source: string,
    certificates: readonly X509Certificate[],
    at = new Date(),
  ): void {
    this.#replace(
      bundle,
      source,
      certificates.map((certificate) => ({
        der: new Uint8Array(certificate.rawData),
        subject: certificate.subject,
      })),
      at,
    );
  }

  /** replaceFromSource for DER certificates (e.g. downstream.dtls.sensor_ca_files, source 'file'). */
  replaceDers(bundle: string, source: string, ders: readonly Uint8Array[], at = new Date()): void {
    const parsed = ders.map((der, index) => ({
      der,
      subject: parseCertificate(der, `certificate ${index + 1} for bundle ${bundle}`).subject,
    }));
    this.#replace(bundle, source, parsed, at);
  }

  /** Adds (or re-labels: role, source, time) one certificate; answers the stored row. */
  add(
    bundle: string,
    der: Uint8Array,
    options: { source: TrustSource; role: TrustRole },
    at = new Date(),
  ): TrustedCertificate {
    const certificate = parseCertificate(der, `certificate for bundle ${bundle}`);
    const sha256 = sha256Hex(der);
    this.#store
      .prepare<[string, string, Uint8Array, string, string, string, number]>(UPSERT)
      .run(
        bundle,
        sha256,
        der,
        readableName(certificate.subject),
        options.source,
        options.role,
        at.getTime(),
      );
    return {
      bundle,
      sha256,
      der: new Uint8Array(der),
      subject: readableName(certificate.subject),
      source: options.source,
      role: options.role,
      fetchedAt: at,
    };
  }

  /** Removes one certificate by thumbprint; EGW_TRUST_NOT_FOUND when the bundle does not hold it. */
  remove(bundle: string, sha256: string): TrustedCertificate {
    const thumbprint = normalizeThumbprint(sha256);
    const existing = this.#store
      .prepare<[string, string], Row>(
        `SELECT ${COLUMNS} FROM trust_certificates WHERE bundle = ? AND sha256 = ?`,
      )
      .get(bundle, thumbprint);
    if (!existing) {
      throw new TrustError('EGW_TRUST_NOT_FOUND', `bundle ${bundle} holds no certificate ${thumbprint}`, {
        hint: `\`gatewayctl trust list --bundle ${bundle}\` lists its certificates and their SHA-256`,
      });
    }
    this.#store
      .prepare<[string, string]>('DELETE FROM trust_certificates WHERE bundle = ? AND sha256 = ?')
      .run(bundle, thumbprint);
    return fromRow(existing);
  }

  /** The certificates of `bundle` (of every bundle when absent), oldest first. */
  list(bundle?: string): TrustedCertificate[] {
    const rows =
      bundle === undefined
        ? this.#store
            .prepare<[], Row>(`SELECT ${COLUMNS} FROM trust_certificates ORDER BY bundle, fetched_at, rowid`)
            .all()
        : this.#store
            .prepare<[string], Row>(`SELECT ${COLUMNS} FROM trust_certificates WHERE bundle = ? ${ORDER}`)
            .all(bundle);
    return rows.map(fromRow);
  }

  /** The DER certificates of `bundle` in one role (both when absent), for the path validator. */
  ders(bundle: string, role?: TrustRole): Uint8Array[] {
    return this.list(bundle)
      .filter((entry) => role === undefined || entry.role === role)
      .map((entry) => entry.der);
  }

  /** The whole bundle as PEM, in list order: what `openssl x509` writes, block after block. */
  exportPem(bundle: string): string {
    return this.list(bundle)
      .map((entry) => pem(entry.der))
      .join('');
  }

  #replace(
    bundle: string,
    source: string,
    certificates: readonly { der: Uint8Array; subject: string }[],
    at: Date,
  ): void {
    const remove = this.#store.prepare<[string, string]>(
      'DELETE FROM trust_certificates WHERE bundle = ? AND source = ?',
    );
    const insert = this.#store.prepare<[string, string, Uint8Array, string, string, string, number]>(UPSERT);
    this.#store.transaction(() => {
      remove.run(bundle, source);
      for (const { der, subject } of certificates) {
        insert.run(bundle, sha256Hex(der), der, readableName(subject), source, 'anchor', at.getTime());
      }
    });
  }
}

function fromRow(row: Row): TrustedCertificate {
  return {
    bundle: row.bundle,
    sha256: row.sha256,
    der: new Uint8Array(row.der),
    subject: row.subject,
    source: row.source,
    role: row.role,
    fetchedAt: new Date(row.fetched_at),
  };
}

function pem(der: Uint8Array): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
