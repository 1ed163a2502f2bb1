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
      const key = signerKeyOf(issuer);
      let gap = this.#gaps.get(key);
      if (!gap) {
        gap = {
          subject: issuer.subject,
          ski: issuer.subjectKeyId,
          certificates: new Set(),
          lastWarning: warning,
        };
        this.#gaps.set(key, gap);
        first.push({ subject: issuer.subject, ski: issuer.subjectKeyId, warning });
      }
      gap.lastWarning = warning;
      if (gap.certificates.size < MAX_PER_CA) gap.certificates.add(certificate);
    }
    this.#pending = [];
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
    const rows = new Map<string, CaRevocationStatus>();
    for (const crl of crls) {
      rows.set(crl.signerKey, {
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
      });
    }
    for (const [key, gap] of this.#gaps) {
      const row = rows.get(key) ?? {
        subject: gap.subject,
        ski: gap.ski ?? null,
        signerKey: key,
        crl: null,
        admittedWithoutRevocationInfo: 0,
        lastWarning: null,
      };
      row.admittedWithoutRevocationInfo = gap.certificates.size;
      row.lastWarning = gap.lastWarning;
      rows.set(key, row);
    }
    return [...rows.values()].sort(
      (a, b) => a.subject.localeCompare(b.subject) || a.signerKey.localeCompare(b.signerKey),
    );
  }
}
