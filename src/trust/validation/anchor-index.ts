import { hash } from 'node:crypto';
import { CertificateFacts } from './certificate-facts.js';
import { ValidationFailure } from './validation-failure.js';

/** An anchor or intermediate that could not be used, and why (it is left out of the index). */
export interface SkippedCertificate {
  /** SHA-256 of the bytes given, when there were any. */
  sha256?: string;
  reason: string;
}

const NONE: readonly CertificateFacts[] = Object.freeze([]);

/**
 * The trust anchors (a bundle's CAs) and known intermediates, parsed once and indexed by subject name
 * (its RFC 5280 §7.1 comparison key) and subjectKeyIdentifier so finding an issuer is a map lookup. Unparseable entries are skipped
 * and listed in `skipped`; a certificate given as both anchor and intermediate is an anchor.
 */
export class AnchorIndex {
  readonly anchors: readonly CertificateFacts[];
  readonly intermediates: readonly CertificateFacts[];
  readonly skipped: readonly SkippedCertificate[];
  readonly #anchorsBySubject = new Map<string, CertificateFacts[]>();
  readonly #intermediatesBySubject = new Map<string, CertificateFacts[]>();
  readonly #byKeyId = new Map<string, CertificateFacts[]>();
  readonly #bySha256 = new Map<string, CertificateFacts>();
  readonly #anchorSha256s = new Set<string>();

  constructor(anchors: readonly Uint8Array[], intermediates: readonly Uint8Array[] = []) {
    const skipped: SkippedCertificate[] = [];
    this.anchors = this.#add(anchors, this.#anchorsBySubject, skipped, 'anchor');
    for (const anchor of this.anchors) this.#anchorSha256s.add(anchor.sha256);
    this.intermediates = this.#add(intermediates, this.#intermediatesBySubject, skipped, 'intermediate');
    this.skipped = Object.freeze(skipped);
  }

  /** Anchors whose subject is the name with comparison key `subjectNameKey` (CertificateFacts.subjectNameKey). */
  anchorsNamed(subjectNameKey: string): readonly CertificateFacts[] {
    return this.#anchorsBySubject.get(subjectNameKey) ?? NONE;
  }

  intermediatesNamed(subjectNameKey: string): readonly CertificateFacts[] {
    return this.#intermediatesBySubject.get(subjectNameKey) ?? NONE;
  }

  /** Anchors and intermediates whose subjectKeyIdentifier is `keyId` (lower-case hex). */
  withKeyId(keyId: string): readonly CertificateFacts[] {
    return this.#byKeyId.get(keyId) ?? NONE;
  }

  isAnchor(sha256: string): boolean {
    return this.#anchorSha256s.has(sha256);
  }

  /** The indexed certificate with this thumbprint, if any (saves parsing a presented copy). */
  known(sha256: string): CertificateFacts | undefined {
    return this.#bySha256.get(sha256);
  }

  #add(
    ders: readonly Uint8Array[],
    bySubject: Map<string, CertificateFacts[]>,
    skipped: SkippedCertificate[],
    role: string,
  ): readonly CertificateFacts[] {
    const added: CertificateFacts[] = [];
    ders.forEach((der, position) => {
      let facts: CertificateFacts;
      try {
        facts = CertificateFacts.parse(der);
      } catch (error) {
        const why = error instanceof ValidationFailure ? error.message : String(error);
        skipped.push({ sha256: hash('sha256', der, 'hex'), reason: `${role} ${position}: ${why}` });
        return;
      }
      if (this.#bySha256.has(facts.sha256)) return; // listed twice, or already an anchor
      this.#bySha256.set(facts.sha256, facts);
      added.push(facts);
      push(bySubject, facts.subjectNameKey, facts);
      if (facts.subjectKeyId !== undefined) push(this.#byKeyId, facts.subjectKeyId, facts);
    });
    return Object.freeze(added);
  }
}

function push(map: Map<string, CertificateFacts[]>, key: string, facts: CertificateFacts): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [facts]);
  else list.push(facts);
}
