import type { Refusal } from '../validation-reason.js';
import type { AnchorIndex } from './anchor-index.js';
import type { CertificateFacts } from './certificate-facts.js';
import { certificateLabel } from './certificate-label.js';

/** Finding who may have issued a certificate, and saying why nobody did. */

/** One path building: what the sensor presented, the trust it is checked against, and the effort so far. */
export interface IssuerSearch {
  presented: readonly CertificateFacts[];
  anchors: AnchorIndex;
  at: Date;
  attempts: number;
}

/** A certificate that may have issued the one being placed, and whether it is a trust anchor. */
export interface IssuerCandidate {
  issuer: CertificateFacts;
  anchor: boolean;
}

/** Possible issuers of `child` by name (compared as RFC 5280 §7.1 says) and key identifier (when both sides have one), not already on the path. */
export function issuerCandidates(
  child: CertificateFacts,
  path: readonly CertificateFacts[],
  search: IssuerSearch,
): IssuerCandidate[] {
  const candidates: IssuerCandidate[] = [];
  const name = child.issuerNameKey;
  for (const anchor of search.anchors.anchorsNamed(name)) consider(candidates, child, path, anchor, true);
  for (const presented of search.presented) {
    if (presented.subjectNameKey === name) {
      consider(candidates, child, path, presented, search.anchors.isAnchor(presented.sha256));
    }
  }
  for (const intermediate of search.anchors.intermediatesNamed(name)) {
    consider(candidates, child, path, intermediate, false);
  }
  return candidates;
}

/** Adds `issuer` unless it is already on the path or listed, or its key identifier rules it out. */
function consider(
  candidates: IssuerCandidate[],
  child: CertificateFacts,
  path: readonly CertificateFacts[],
  issuer: CertificateFacts,
  anchor: boolean,
): void {
  const keyId = child.authorityKeyId;
  if (keyId !== undefined && issuer.subjectKeyId !== undefined && keyId !== issuer.subjectKeyId) return;
  for (const certificate of path) if (certificate.sha256 === issuer.sha256) return;
  for (const candidate of candidates) if (candidate.issuer.sha256 === issuer.sha256) return;
  candidates.push({ issuer, anchor });
}

/** Why nothing could have issued `child`: self-signed, names that do not chain, or simply unknown. */
export function noIssuerRefusal(
  child: CertificateFacts,
  path: readonly CertificateFacts[],
  search: IssuerSearch,
): Refusal {
  const depth = path.length - 1;
  const who = certificateLabel(child, depth);
  if (selfSigned(child)) {
    const only = depth === 0 ? ' (only an individual enrollment can trust it)' : '';
    return { reason: 'unknown-issuer', detail: `${who} is self-signed and not a trust anchor${only}`, depth };
  }
  const keyId = child.authorityKeyId;
  if (keyId !== undefined) {
    const byKey = [
      ...search.anchors.withKeyId(keyId),
      ...search.presented.filter((certificate) => certificate.subjectKeyId === keyId),
    ].find(
      (certificate) => certificate.subjectNameKey !== child.issuerNameKey && !path.includes(certificate),
    );
    if (byKey !== undefined) {
      return {
        reason: 'name-chaining',
        detail: `${who} names its issuer "${child.issuer}", but the CA with its authorityKeyIdentifier ${keyId} is "${byKey.subject}"`,
        depth,
      };
    }
    const named =
      search.anchors.anchorsNamed(child.issuerNameKey).length +
      search.anchors.intermediatesNamed(child.issuerNameKey).length;
    if (named > 0) {
      return {
        reason: 'unknown-issuer',
        detail: `${who}: a CA named "${child.issuer}" is known, but none with subjectKeyIdentifier ${keyId}`,
        depth,
      };
    }
  }
  return {
    reason: 'unknown-issuer',
    detail: `${who}: no trust anchor or known intermediate "${child.issuer}" issued it`,
    depth,
  };
}

/** Self-issued, and (when both identifiers are present) its own authority key. */
export function selfSigned(certificate: CertificateFacts): boolean {
  const { authorityKeyId, subjectKeyId } = certificate;
  return (
    certificate.selfIssued &&
    (authorityKeyId === undefined || subjectKeyId === undefined || authorityKeyId === subjectKeyId)
  );
}
