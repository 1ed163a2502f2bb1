import type { CertificateFacts } from '../validation/index.js';
import type { CrlInfo } from './crl-store.js';
import { signerKeyOf } from './signer-key.js';

/** Per CA: its CRL's age and the certificates admitted without revocation information. */
export interface CaRevocationStatus {
  subject: string;
  /** subjectKeyIdentifier (hex), when the CA certificate has one. */
  ski: string | null;
  /** `signerKeyOf` the CA (SHA-256 over its subject Name and SubjectPublicKeyInfo). */
  signerKey: string;
  /** The stored CRL: age = now − thisUpdate, in seconds; null when none is stored. */
  crl: { ageSeconds: number; thisUpdate: string; nextUpdate: string | null; stale: boolean } | null;
  /**
   * Distinct certificates it issued that were admitted since start although their revocation
   * status was unknown (no CRL under soft-fail or grace, or a stale one within the policy).
   */
  admittedWithoutRevocationInfo: number;
  /** Why, the last time. */
  lastWarning: string | null;
}

/**
 * Certificates a sensor worker thread counted since its last report, per CA: what the main thread
 * adds to its own count (RevocationGaps.merge), so a certificate admitted by two workers counts once.
 */
export interface RevocationGapDelta {
  signerKey: string;
  subject: string;
  ski: string | null;
  /** SHA-256 (hex) of each certificate admitted without revocation information. */
  certificates: string[];
  lastWarning: string;
}

interface Gap {
  subject: string;
  ski: string | undefined;
  certificates: Set<string>;
  lastWarning: string;
}

/** Certificates counted per CA at most (distinct by SHA-256); the count stops growing there. */
const MAX_PER_CA = 100_000;

/**
 * The revocation gap made visible: which CAs' certificates were admitted without revocation
 * information. The check notes each unknown-accepted verdict while a chain is judged (`note`);
 * only when the whole chain is admitted are they counted (`admitted`), so a chain refused later
 * (deny list, enrollment) does not count.
 */
export class RevocationGaps {
  readonly #gaps = new Map<string, Gap>();
  #pending: { issuer: CertificateFacts; certificate: string; warning: string }[] = [];
  /** Certificates counted since the last drain(); undefined until the first (a worker's first report). */
  #fresh: Map<string, Set<string>> | undefined;

  /** A new chain is being judged: forget what the last one noted. */
  begin(): void {
    if (this.#pending.length > 0) this.#pending = [];
  }

  note(issuer: CertificateFacts, certificate: CertificateFacts, warning: string): void {
    this.#pending.push({ issuer, certificate: certificate.sha256, warning });
  }

  /** The chain was admitted: counts what was noted; returns the CAs counted for the first time. */
  admitted(): { subject: string; ski: string | undefined; warning: string }[] {
    if (this.#pending.length === 0) return [];
    const first: { subject: string; ski: string | undefined; warning: string }[] = [];
    for (const { issuer, certificate, warning } of this.#pending) {
      if (this.#count(signerKeyOf(issuer), issuer.subject, issuer.subjectKeyId ?? null, certificate, warning))
        first.push({ subject: issuer.subject, ski: issuer.subjectKeyId, warning });
    }
    this.#pending = [];
    return first;
  }

  /**
   * The certificates counted since the last call (at the first call: all so far), for a sensor
   * worker's report to the main thread, which merges them.
   */
  drain(): RevocationGapDelta[] {
    const since = this.#fresh ?? new Map([...this.#gaps].map(([key, gap]) => [key, gap.certificates]));
    this.#fresh = new Map();
    return [...since].flatMap(([signerKey, certificates]) => {
      const gap = this.#gaps.get(signerKey);
      if (!gap || certificates.size === 0) return [];
      const { subject, ski, lastWarning } = gap;
      return [{ signerKey, subject, ski: ski ?? null, certificates: [...certificates], lastWarning }];
    });
  }

  /** Adds what a sensor worker drained: distinct certificates, so one seen by two workers counts once. */
  merge(deltas: readonly RevocationGapDelta[]): void {
    for (const delta of deltas)
      for (const certificate of delta.certificates)
        this.#count(delta.signerKey, delta.subject, delta.ski, certificate, delta.lastWarning);
  }

  /** Counts `certificate` under its CA; true when the CA had no gap before. */
  #count(key: string, subject: string, ski: string | null, certificate: string, warning: string): boolean {
    let gap = this.#gaps.get(key);
    const first = !gap;
    if (!gap) {
      gap = { subject, ski: ski ?? undefined, certificates: new Set(), lastWarning: warning };
      this.#gaps.set(key, gap);
    }
    gap.lastWarning = warning;
    if (gap.certificates.size < MAX_PER_CA && !gap.certificates.has(certificate)) {
      gap.certificates.add(certificate);
      if (this.#fresh) {
        const fresh = this.#fresh.get(key) ?? new Set<string>();
        this.#fresh.set(key, fresh.add(certificate));
      }
    }
    return first;
  }

  /** Total distinct certificates admitted without revocation information, over all CAs. */
  get total(): number {
    let total = 0;
    for (const gap of this.#gaps.values()) total += gap.certificates.size;
    return total;
  }

  /** Every CA with a stored CRL or a gap, by subject. */
  status(crls: readonly CrlInfo[], at: Date): CaRevocationStatus[] {
    return this.addTo(
      crls.map((crl) => ({
        subject: crl.issuer,
        ski: crl.signerSki ?? null,
        signerKey: crl.signerKey,
        crl: {
          ageSeconds: Math.max(0, Math.round((at.getTime() - crl.thisUpdate.getTime()) / 1000)),
          thisUpdate: crl.thisUpdate.toISOString(),
          nextUpdate: crl.nextUpdate?.toISOString() ?? null,
          stale: crl.nextUpdate !== undefined && crl.nextUpdate < at,
        },
        admittedWithoutRevocationInfo: 0,
        lastWarning: null,
      })),
    );
  }

  /**
   * `cas` (rows of another status: the main thread's, with the workers' gaps merged here) with this
   * view's gaps added, by subject.
   */
  addTo(cas: readonly CaRevocationStatus[]): CaRevocationStatus[] {
    const rows = new Map(cas.map((row) => [row.signerKey, { ...row }]));
    for (const [key, gap] of this.#gaps) {
      const row = rows.get(key) ?? {
        subject: gap.subject,
        ski: gap.ski ?? null,
        signerKey: key,
        crl: null,
        admittedWithoutRevocationInfo: 0,
        lastWarning: null,
      };
      row.admittedWithoutRevocationInfo += gap.certificates.size;
      row.lastWarning = gap.lastWarning;
      rows.set(key, row);
    }
    return [...rows.values()].sort(
      (a, b) => a.subject.localeCompare(b.subject) || a.signerKey.localeCompare(b.signerKey),
    );
  }
}
