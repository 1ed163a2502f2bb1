import type { Store } from '../../store/index.js';
import { TrustError } from '../trust-error.js';
import type { CertificateFacts } from '../validation/index.js';
import { Crl } from './crl.js';
import { issuerCertificate, maySignCrls } from './issuer-certificate.js';
import { SerialHashIndex } from './serial-hash-index.js';
import { signerKeyOf } from './signer-key.js';

/** What is known about the CRL stored for one issuing CA (name and key). */
export interface CrlInfo {
  /** Readable issuer Name. */
  issuer: string;
  /** SHA-256 of the issuer Name's DER, hex. */
  issuerNameSha256: string;
  /** `signerKeyOf` the CA whose key verified the CRL: the key of everything here. */
  signerKey: string;
  /** SHA-256 of the CA certificate whose key verified the CRL, hex. */
  signerSha256: string;
  /** That CA certificate's subjectKeyIdentifier (hex), when it has one. */
  signerSki: string | undefined;
  crlNumber: bigint | undefined;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  entries: number;
  /** SHA-256 of the CRL's DER, hex. */
  sha256: string;
  /** Where it came from: a URL, a file, "operator", … */
  source: string;
  fetchedAt: Date;
  distributionPoint: string | undefined;
}

/** A stored CRL's answer for a serial it lists. */
export interface RevokedSerial {
  revokedAt: Date;
  /** CRLReason code, when the entry has one. */
  reason?: number;
}

export interface CrlImportResult {
  issuer: string;
  issuerNameSha256: string;
  /** The CA the CRL was applied to: `signerKeyOf` it, its subject (as its certificate spells it), its certificate's SHA-256 and SKI. */
  signerKey: string;
  signerSubject: string;
  signerSha256: string;
  signerSki: string | undefined;
  crlNumber: bigint | undefined;
  entries: number;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  /** A CRL for this issuer was stored before and has been replaced. */
  replaced: boolean;
  /** The very same CRL (same DER) was stored already: only fetchedAt changed. */
  unchanged: boolean;
  /** Serials in this CRL that the previous one did not list (all of them on a first import). */
  revokedSerialsAdded: number;
}

export interface CrlImportOptions {
  /** The distribution point URL the CRL was fetched from, kept with it. */
  distributionPoint?: string;
}

export interface CrlStoreOptions {
  /** How far thisUpdate may be ahead of the import time (clock skew between CA and gateway). */
  maxFutureSkewMs?: number;
}

interface CrlRow {
  id: number;
  /** NULL for a row migrated from schema 5 until its signer certificate is found (`reload`). */
  signer_key: string | null;
  issuer_name_sha256: string;
  issuer: string;
  signer_sha256: string;
  signer_ski: string | null;
  crl_number: string | null;
  this_update: number;
  next_update: number | null;
  entries: number;
  der_sha256: string;
  source: string;
  distribution_point: string | null;
  fetched_at: number;
}

/** One stored CRL in memory: its row id, its facts and the hash index of its serials. */
interface IssuerCrl {
  crlId: number;
  info: CrlInfo;
  index: SerialHashIndex;
}

const DEFAULT_MAX_FUTURE_SKEW_MS = 5 * 60_000;
/** Rows per INSERT statement: binding is the per-call cost, so fewer, wider calls ingest faster. */
const ROWS_PER_INSERT = 256;
/** Rows per query when the index is rebuilt from SQLite (bounds the size of one result string). */
const ROWS_PER_REBUILD_QUERY = 131_072;
/** Entries sorted for insertion by their serial's first five octets, with 24 bits left for the ordinal. */
const MAX_SORTED_ENTRIES = 1 << 24;

const CRL_COLUMNS =
  'id, signer_key, issuer_name_sha256, issuer, signer_sha256, signer_ski, crl_number, this_update, next_update, entries, der_sha256, source, distribution_point, fetched_at';

/**
 * The offline revocation cache: the newest accepted CRL per issuing CA — its name and key
 * (`signerKeyOf`), never its name alone — in the state database
 * (`trust_crls`, `trust_crl_entries`), with an in-memory index per issuer so that the question
 * asked on every handshake — is this serial revoked? — costs a binary search over 64-bit hashes
 * (8 bytes per entry) and, only when the hash is present, one primary-key read to confirm it.
 *
 * The index is rebuilt from SQLite when the store is constructed. One CrlStore per database:
 * writes made by another process are seen after `reload()`.
 */
export class CrlStore {
  readonly #store: Store;
  readonly #maxFutureSkewMs: number;
  readonly #issuers = new Map<string, IssuerCrl>();

  constructor(store: Store, options: CrlStoreOptions = {}) {
    this.#store = store;
    this.#maxFutureSkewMs = options.maxFutureSkewMs ?? DEFAULT_MAX_FUTURE_SKEW_MS;
    this.reload();
  }

  /**
   * Verifies `crl` (DER or PEM) against the candidate issuer certificates (DER) and makes it the
   * stored CRL of the CA that signed it (its name and key), entries included, in one transaction.
   * A CRL signed by another CA with the same name never touches this CA's stored CRL.
   *
   * Refused with EGW_TRUST_CRL_REJECTED: no cRLNumber; no candidate has the CRL's issuer Name (unknown issuer);
   * its authorityKeyIdentifier matches the SKI of none of those (AKI mismatch; a candidate without
   * SKI is not excluded by it); none of the rest verifies the signature (bad signature) or may sign
   * CRLs (keyUsage without cRLSign); thisUpdate is ahead of `at` by more than the allowed skew; the
   * CRL is older than the one stored for that signer (lower cRLNumber or earlier thisUpdate).
   * EGW_TRUST_MALFORMED when it does not parse. A refused CRL changes nothing.
   */
  import(
    crl: Uint8Array | Crl,
    candidateIssuers: readonly Uint8Array[],
    source: string,
    at: Date,
    options: CrlImportOptions = {},
  ): CrlImportResult {
    const parsed = crl instanceof Crl ? crl : Crl.parse(crl, source);
    if (parsed.crlNumber === undefined) {
      // Which of two CRLs of a CA is newer must not rest on thisUpdate alone (RFC 5280 §5.2.3: MUST).
      throw rejected(
        parsed,
        'no cRLNumber (RFC 5280 §5.2.3: every CRL MUST carry one, so a v1 CRL cannot be used)',
        'ask the CA for a v2 CRL with a cRLNumber (`openssl ca -gencrl` writes one when the CA config names a crlnumber file)',
      );
    }
    const signer = this.#findSigner(parsed, candidateIssuers);
    const skew = parsed.thisUpdate.getTime() - at.getTime();
    if (skew > this.#maxFutureSkewMs) {
      throw rejected(
        parsed,
        `thisUpdate ${parsed.thisUpdate.toISOString()} is in the future (${Math.round(skew / 1000)} s ahead of ${at.toISOString()})`,
        'check the gateway clock (NTP) and the CA clock',
      );
    }
    const signerKey = signerKeyOf(signer);
    const previous = this.#issuers.get(signerKey);
    // Checked before staging too, so a CA serving the same (or an old) CRL again costs no staging.
    const storedBefore = this.#storedRow(signerKey);
    if (storedBefore && storedBefore.der_sha256 !== parsed.sha256) refuseOlder(parsed, storedBefore);
    let staged = storedBefore?.der_sha256 === parsed.sha256 ? undefined : stageEntries(parsed);
    let replaced = false;
    const crlId = this.#store.transaction(() => {
      const stored = this.#storedRow(signerKey);
      if (stored) {
        if (stored.der_sha256 === parsed.sha256) {
          this.#store
            .prepare<[number, number]>('UPDATE trust_crls SET fetched_at = ? WHERE id = ?')
            .run(at.getTime(), stored.id);
          return undefined;
        }
        refuseOlder(parsed, stored);
        this.#store.prepare<[number]>('DELETE FROM trust_crl_entries WHERE crl_id = ?').run(stored.id);
        this.#store.prepare<[number]>('DELETE FROM trust_crls WHERE id = ?').run(stored.id);
        replaced = true;
      }
      const id = Number(
        this.#store
          .prepare(
            `INSERT INTO trust_crls (signer_key, issuer_name_sha256, issuer, signer_sha256, signer_ski, crl_number,
               this_update, next_update, entries, der_sha256, source, distribution_point, fetched_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            signerKey,
            parsed.issuerNameSha256,
            parsed.issuer,
            signer.sha256,
            signer.subjectKeyId ?? null,
            parsed.crlNumber?.toString() ?? null,
            parsed.thisUpdate.getTime(),
            parsed.nextUpdate?.getTime() ?? null,
            parsed.entryCount,
            parsed.sha256,
            source,
            options.distributionPoint ?? null,
            at.getTime(),
          ).lastInsertRowid,
      );
      staged ??= stageEntries(parsed); // stored changed under us since the check above
      this.#insertEntries(id, parsed.der, staged);
      return id;
    });
    const result = {
      issuer: parsed.issuer,
      issuerNameSha256: parsed.issuerNameSha256,
      signerKey,
      signerSha256: signer.sha256,
      signerSki: signer.subjectKeyId,
      crlNumber: parsed.crlNumber,
      entries: parsed.entryCount,
      thisUpdate: parsed.thisUpdate,
      nextUpdate: parsed.nextUpdate,
    };
    if (crlId === undefined || staged === undefined) {
      if (previous) previous.info = { ...previous.info, fetchedAt: at };
      return {
        ...result,
        signerSubject: signer.subject,
        replaced: false,
        unchanged: true,
        revokedSerialsAdded: 0,
      };
    }
    this.#issuers.set(signerKey, {
      crlId,
      index: staged.index,
      info: {
        ...result,
        sha256: parsed.sha256,
        source,
        fetchedAt: at,
        distributionPoint: options.distributionPoint,
      },
    });
    return {
      ...result,
      signerSubject: signer.subject,
      replaced,
      unchanged: false,
      revokedSerialsAdded: staged.index.countAddedSince(previous?.index ?? SerialHashIndex.EMPTY),
    };
  }

  /**
   * The stored CRL's entry for `serial` (the certificate's serialNumber content octets) of `issuer`:
   * the certificate's actual issuer (from the validated path), or its `signerKeyOf`; undefined when
   * not listed or no CRL of that CA is stored (tell the two apart with `crlInfo`).
   */
  isRevoked(issuer: CertificateFacts | string, serial: Uint8Array): RevokedSerial | undefined {
    return this.#revokedIn(this.#issuers.get(this.#keyOf(issuer)), serial);
  }

  /** The last CA certificate asked about and its key: handshakes ask about the same CA in a row. */
  #lastCa: CertificateFacts | undefined;
  #lastCaKey = '';

  #keyOf(issuer: CertificateFacts | string): string {
    if (typeof issuer === 'string') return issuer;
    if (issuer !== this.#lastCa) {
      this.#lastCaKey = signerKeyOf(issuer);
      this.#lastCa = issuer;
    }
    return this.#lastCaKey;
  }

  #revokedIn(issuer: IssuerCrl | undefined, serial: Uint8Array): RevokedSerial | undefined {
    if (!issuer?.index.mightContain(serial)) return undefined;
    const row = this.#store
      .prepare<[number, Uint8Array], { revoked_at: number; reason: number | null }>(
        'SELECT revoked_at, reason FROM trust_crl_entries WHERE crl_id = ? AND serial = ?',
      )
      .get(issuer.crlId, serial);
    if (!row) return undefined; // a 64-bit hash collision, not the serial
    return row.reason === null
      ? { revokedAt: new Date(row.revoked_at) }
      : { revokedAt: new Date(row.revoked_at), reason: row.reason };
  }

  /** The stored CRL of `issuer` (a CA certificate, or its `signerKeyOf`). */
  crlInfo(issuer: CertificateFacts | string): CrlInfo | undefined {
    return this.#issuers.get(this.#keyOf(issuer))?.info;
  }

  /** Every stored CRL, by issuer name. */
  list(): CrlInfo[] {
    return [...this.#issuers.values()]
      .map((issuer) => issuer.info)
      .sort((a, b) => a.issuer.localeCompare(b.issuer) || a.signerKey.localeCompare(b.signerKey));
  }

  /** Forgets the CA's CRL (a CA certificate or its `signerKeyOf`) and its entries; false when none was stored. */
  remove(issuer: CertificateFacts | string): boolean {
    const signerKey = typeof issuer === 'string' ? issuer : signerKeyOf(issuer);
    const removed = this.#store.transaction(() => {
      const row = this.#store
        .prepare<[string], { id: number }>('SELECT id FROM trust_crls WHERE signer_key = ?')
        .get(signerKey);
      if (!row) return false;
      this.#store.prepare<[number]>('DELETE FROM trust_crl_entries WHERE crl_id = ?').run(row.id);
      this.#store.prepare<[number]>('DELETE FROM trust_crls WHERE id = ?').run(row.id);
      return true;
    });
    this.#issuers.delete(signerKey);
    return removed;
  }

  /** Memory held by the in-memory indexes, in bytes (8 per entry). */
  get indexBytes(): number {
    let bytes = 0;
    for (const issuer of this.#issuers.values()) bytes += issuer.index.byteLength;
    return bytes;
  }

  /**
   * Brings the in-memory indexes in line with the database: rebuilds those whose CRL changed (all of
   * them on construction), drops those removed.
   */
  reload(): void {
    const rows = this.#store.prepare<[], CrlRow>(`SELECT ${CRL_COLUMNS} FROM trust_crls`).all();
    const present = new Set<string>();
    for (const row of rows) {
      const signerKey = row.signer_key ?? this.#rekey(row);
      if (signerKey === undefined) continue;
      present.add(signerKey);
      const known = this.#issuers.get(signerKey);
      const info = infoOf({ ...row, signer_key: signerKey });
      // A replaced CRL may get the id of the one it replaced (SQLite reuses the highest rowid after
      // a delete): the DER hash says whether it is the same CRL.
      if (known && known.crlId === row.id && known.info.sha256 === row.der_sha256) {
        known.info = info;
        continue;
      }
      this.#issuers.set(signerKey, { crlId: row.id, info, index: this.#indexFromStore(row.id) });
    }
    for (const key of [...this.#issuers.keys()]) if (!present.has(key)) this.#issuers.delete(key);
  }

  /**
   * A row stored before schema 6 (keyed by issuer name) gets the key of the CA certificate that
   * verified it (signer_sha256), found among the trusted and the learned CA certificates. Until that
   * certificate is known again the row answers nothing (its CA has no CRL) and stays stored.
   */
  #rekey(row: CrlRow): string | undefined {
    const found = this.#store
      .prepare<[string, string], { der: Uint8Array }>(
        `SELECT der FROM trust_certificates WHERE sha256 = ?
         UNION ALL SELECT der FROM trust_seen_intermediates WHERE sha256 = ? LIMIT 1`,
      )
      .get(row.signer_sha256, row.signer_sha256);
    if (!found) return undefined;
    let signer: CertificateFacts;
    try {
      signer = issuerCertificate(found.der, 'stored CRL signer');
    } catch {
      return undefined;
    }
    const key = signerKeyOf(signer);
    row.signer_ski = signer.subjectKeyId ?? null;
    // OR IGNORE: another row may hold this key already (two certificates of one CA, its name spelled
    // two ways, re-keyed after migration 7); that one answers, this one stays unkeyed.
    const updated = this.#store
      .prepare<[string, string | null, number]>(
        'UPDATE OR IGNORE trust_crls SET signer_key = ?, signer_ski = ? WHERE id = ? AND signer_key IS NULL',
      )
      .run(key, signer.subjectKeyId ?? null, row.id);
    return updated.changes === 1 ? key : undefined;
  }

  #storedRow(signerKey: string): CrlRow | undefined {
    return this.#store
      .prepare<[string], CrlRow>(`SELECT ${CRL_COLUMNS} FROM trust_crls WHERE signer_key = ?`)
      .get(signerKey);
  }

  /**
   * The candidate that issued `crl`: subject Name equal to the CRL's issuer (§7.1), SKI equal to the
   * CRL's AKI when both are present, key verifies, may sign CRLs.
   */
  #findSigner(crl: Crl, candidateIssuers: readonly Uint8Array[]): CertificateFacts {
    const named: CertificateFacts[] = [];
    for (const [i, der] of candidateIssuers.entries()) {
      const candidate = issuerCertificate(der, `candidate issuer certificate #${i + 1}`);
      // RFC 5280 §6.3.3 (b), §7.1: the same name, however either spells it (case, spaces, string type).
      if (candidate.subjectNameKey === crl.issuerNameKey) named.push(candidate);
    }
    if (named.length === 0) {
      throw rejected(
        crl,
        `unknown issuer "${crl.issuer}": none of the ${candidateIssuers.length} candidate CA certificates has this subject`,
        'add the CA that issues this CRL to the trust bundle first, or give its certificate (--issuer-cert)',
      );
    }
    const aki = crl.authorityKeyIdentifier && Buffer.from(crl.authorityKeyIdentifier).toString('hex');
    const akiOf = (c: CertificateFacts) => (c.subjectKeyId === undefined ? '' : ` SKI ${c.subjectKeyId}`);
    const verifying = named.filter((candidate) => crl.isSignedBy(candidate));
    if (verifying.length === 0) {
      const otherCa =
        aki !== undefined && named.every((c) => c.subjectKeyId !== undefined && c.subjectKeyId !== aki)
          ? ` (its authorityKeyIdentifier ${aki} is none of theirs: the CRL of another CA with this name?)`
          : '';
      throw rejected(
        crl,
        `bad signature: it does not verify with the key of ${named.map((c) => `"${c.subject}" (sha256 ${c.sha256}${akiOf(c)})`).join(', ')}${otherCa}`,
        'the CRL was altered or signed by another key; fetch it again or ask its CA, or give the certificate of the CA that signed it (--issuer-cert)',
      );
    }
    // RFC 5280 §5.2.1: the AKI names the key that signed the CRL; one naming another key is refused.
    const keyed = verifying.filter(
      (candidate) =>
        aki === undefined || candidate.subjectKeyId === undefined || candidate.subjectKeyId === aki,
    );
    if (keyed.length === 0) {
      throw rejected(
        crl,
        `AKI mismatch: its authorityKeyIdentifier ${aki} is not the subjectKeyIdentifier of its signer ${verifying.map((c) => `"${c.subject}" (sha256 ${c.sha256}${akiOf(c)})`).join(', ')}`,
        'the CA wrote another key identifier into the CRL; ask its CA for a correct CRL',
      );
    }
    const signer = keyed.find(maySignCrls);
    if (!signer) {
      throw rejected(
        crl,
        `its issuer certificate "${keyed[0]?.subject}" has keyUsage without cRLSign`,
        'the CA certificate must allow cRLSign to issue CRLs',
      );
    }
    return signer;
  }

  /** Inserts the staged entries in serial order (B-tree friendly), many rows per statement. */
  #insertEntries(crlId: number, der: Uint8Array, staged: StagedEntries): void {
    const wide = this.#store.prepare(
      `INSERT OR IGNORE INTO trust_crl_entries (crl_id, serial, revoked_at, reason) VALUES ${Array(ROWS_PER_INSERT).fill('(?, ?, ?, ?)').join(', ')}`,
    );
    const single = this.#store.prepare(
      'INSERT OR IGNORE INTO trust_crl_entries (crl_id, serial, revoked_at, reason) VALUES (?, ?, ?, ?)',
    );
    const { order, serialStart, serialLength, revokedAt, reason } = staged;
    const count = order.length;
    const params: unknown[] = new Array(ROWS_PER_INSERT * 4);
    const bind = (entry: number, at: number) => {
      const start = serialStart[entry] as number;
      params[at] = crlId;
      params[at + 1] = der.subarray(start, start + (serialLength[entry] as number));
      params[at + 2] = revokedAt[entry];
      const code = reason[entry] as number;
      params[at + 3] = code < 0 ? null : code;
    };
    let k = 0;
    for (; k + ROWS_PER_INSERT <= count; k += ROWS_PER_INSERT) {
      for (let j = 0; j < ROWS_PER_INSERT; j++) bind(order[k + j] as number, j * 4);
      wide.run(params);
    }
    for (; k < count; k++) {
      bind(order[k] as number, 0);
      single.run(params.slice(0, 4));
    }
  }

  /** The hash index of one stored CRL, read back in chunks of packed hex (no object per row). */
  #indexFromStore(crlId: number): SerialHashIndex {
    const count =
      this.#store
        .prepare<[number], { n: number }>('SELECT count(*) AS n FROM trust_crl_entries WHERE crl_id = ?')
        .get(crlId)?.n ?? 0;
    const chunk = this.#store.prepare<
      [number, Uint8Array, number],
      { n: number; packed: string | null; last: Uint8Array | null }
    >(
      // Each serial as 4 hex digits of length then its hex: one string per chunk, decoded natively.
      `SELECT count(*) AS n, group_concat(printf('%04x', length(serial)) || hex(serial), '') AS packed,
              max(serial) AS last
         FROM (SELECT serial FROM trust_crl_entries WHERE crl_id = ? AND serial > ? ORDER BY serial LIMIT ?)`,
    );
    return SerialHashIndex.build(count, (add) => {
      let after: Uint8Array = new Uint8Array(0);
      for (;;) {
        const row = chunk.get(crlId, after, ROWS_PER_REBUILD_QUERY);
        if (!row || row.n === 0 || row.packed === null || row.last === null) return;
        const packed = Buffer.from(row.packed, 'hex');
        for (let at = 0; at < packed.length; ) {
          const length = ((packed[at] as number) << 8) | (packed[at + 1] as number);
          add(packed, at + 2, at + 2 + length);
          at += 2 + length;
        }
        if (row.n < ROWS_PER_REBUILD_QUERY) return;
        after = row.last;
      }
    });
  }
}

/** The entries of a CRL read once: where each serial is, its fields, and the insertion order. */
interface StagedEntries {
  index: SerialHashIndex;
  /** Entry ordinals in (approximate) serial order. */
  order: Uint32Array;
  serialStart: Uint32Array;
  serialLength: Uint16Array;
  revokedAt: Float64Array;
  /** CRLReason, -1 when absent. */
  reason: Int8Array;
}

function stageEntries(crl: Crl): StagedEntries {
  const count = crl.entryCount;
  const serialStart = new Uint32Array(count);
  const serialLength = new Uint16Array(count);
  const revokedAt = new Float64Array(count);
  const reason = new Int8Array(count);
  // Sort key: the serial's first five octets (big-endian) above a 24-bit ordinal, so one native
  // BigUint64Array sort yields an order close to SQLite's, which makes inserts append-like.
  const sortKeys = count <= MAX_SORTED_ENTRIES ? new BigUint64Array(count) : undefined;
  const keyWords = sortKeys ? new Uint32Array(sortKeys.buffer) : undefined;
  const littleEndian = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;
  const [low, high] = littleEndian ? [0, 1] : [1, 0];
  const der = crl.der;
  const base = der.byteOffset;
  let entry = 0;
  const index = SerialHashIndex.build(count, (add) => {
    crl.forEachEntry((serial, at, code) => {
      const start = serial.byteOffset - base;
      const length = serial.length;
      if (length > 0xffff) {
        throw new TrustError(
          'EGW_TRUST_MALFORMED',
          `CRL from ${crl.source}: userCertificate of ${length} octets at offset ${start}`,
        );
      }
      serialStart[entry] = start;
      serialLength[entry] = length;
      revokedAt[entry] = at;
      reason[entry] = code ?? -1;
      add(der, start, start + length);
      if (keyWords) {
        keyWords[2 * entry + high] =
          ((octet(der, start, length, 0) << 24) |
            (octet(der, start, length, 1) << 16) |
            (octet(der, start, length, 2) << 8) |
            octet(der, start, length, 3)) >>>
          0;
        keyWords[2 * entry + low] = ((octet(der, start, length, 4) << 24) | entry) >>> 0;
      }
      entry++;
    });
  });
  let order: Uint32Array;
  if (sortKeys && keyWords) {
    sortKeys.sort();
    order = new Uint32Array(count);
    for (let i = 0; i < count; i++) order[i] = (keyWords[2 * i + low] as number) & 0xffffff;
  } else {
    order = Uint32Array.from({ length: count }, (_, i) => i);
  }
  return { index, order, serialStart, serialLength, revokedAt, reason };
}

/** Octet `i` of the serial at der[start..start+length), 0 past its end. */
function octet(der: Uint8Array, start: number, length: number, i: number): number {
  return i < length ? (der[start + i] as number) : 0;
}

function refuseOlder(crl: Crl, stored: CrlRow): void {
  const storedNumber = stored.crl_number === null ? undefined : BigInt(stored.crl_number);
  const olderNumber =
    crl.crlNumber !== undefined && storedNumber !== undefined && crl.crlNumber < storedNumber;
  if (olderNumber || crl.thisUpdate.getTime() < stored.this_update) {
    throw rejected(
      crl,
      `older than the stored one (cRLNumber ${crl.crlNumber ?? 'none'} vs ${stored.crl_number ?? 'none'}, thisUpdate ${crl.thisUpdate.toISOString()} vs ${new Date(stored.this_update).toISOString()})`,
      'a replayed or out-of-date CRL; the stored one stays',
    );
  }
}

function infoOf(row: CrlRow): CrlInfo {
  return {
    issuer: row.issuer,
    issuerNameSha256: row.issuer_name_sha256,
    signerKey: row.signer_key ?? '',
    signerSha256: row.signer_sha256,
    signerSki: row.signer_ski ?? undefined,
    crlNumber: row.crl_number === null ? undefined : BigInt(row.crl_number),
    thisUpdate: new Date(row.this_update),
    nextUpdate: row.next_update === null ? undefined : new Date(row.next_update),
    entries: row.entries,
    sha256: row.der_sha256,
    source: row.source,
    fetchedAt: new Date(row.fetched_at),
    distributionPoint: row.distribution_point ?? undefined,
  };
}

function rejected(crl: Crl, reason: string, hint: string): TrustError {
  return new TrustError(
    'EGW_TRUST_CRL_REJECTED',
    `CRL from ${crl.source} (issuer "${crl.issuer}"): ${reason}`,
    {
      hint,
    },
  );
}
