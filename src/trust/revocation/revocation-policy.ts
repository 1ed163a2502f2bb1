import type { Refusal } from '../validation-reason.js';
import type { CrlInfo, RevokedSerial } from './crl-store.js';

export type CrlPolicyKind = 'hard-fail' | 'soft-fail' | 'grace';

/** How a bundle's certificates are judged when their CRL is missing or past nextUpdate. */
export interface CrlPolicy {
  kind: CrlPolicyKind;
  /** For 'grace': how long past nextUpdate a stale CRL is still relied on. */
  graceMs: number;
}

export type RevocationVerdict =
  | { status: 'good' }
  | { status: 'revoked'; refusal: Refusal }
  /** No usable CRL, accepted by policy (soft-fail, or grace within its period): log the warning. */
  | { status: 'unknown-accepted'; warning: string }
  /** No usable CRL, refused by policy: 'crl-missing' or 'crl-stale'. */
  | { status: 'unknown-refused'; refusal: Refusal };

export interface RevocationQuestion {
  /** The issuer's stored CRL (`CrlStore.crlInfo`), undefined when there is none. */
  crl: Pick<CrlInfo, 'issuer' | 'thisUpdate' | 'nextUpdate'> | undefined;
  /** The CRL's entry for the certificate (`CrlStore.isRevoked`). */
  revoked: RevokedSerial | undefined;
  policy: CrlPolicy;
  /** The validation time (the clock floor's now). */
  at: Date;
  /** Depth of the certificate in its path (0 = the sensor), for the refusal. */
  depth?: number;
  /**
   * Whether the certificate names a CRL distribution point (default true). Under grace, a missing
   * CRL for a certificate that names none is taken as a CA that publishes no CRL: accepted, warned.
   */
  namesDistributionPoint?: boolean;
}

/** The bundle configuration ([trust.bundles.*]) as a policy. */
export function crlPolicyFromConfig(bundle: {
  crl_policy: CrlPolicyKind;
  crl_grace_hours: number;
}): CrlPolicy {
  return { kind: bundle.crl_policy, graceMs: bundle.crl_grace_hours * 3_600_000 };
}

const REASON_NAMES = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  undefined,
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
];

/**
 * The revocation verdict for one certificate.
 *
 * - Listed in the CRL: 'revoked', under every policy and even when the CRL is stale: a revocation
 *   never expires.
 * - CRL present and `at` not past nextUpdate (or no nextUpdate): 'good'.
 * - hard-fail: no CRL → refused 'crl-missing'; past nextUpdate → refused 'crl-stale'.
 * - soft-fail: no CRL or past nextUpdate → accepted with a warning.
 * - grace: past nextUpdate but within nextUpdate + grace → accepted with a warning; later →
 *   refused 'crl-stale'. No CRL at all → refused 'crl-missing' when the certificate names a
 *   distribution point (grace bridges a CA that is late or unreachable for a while, not a CA whose
 *   CRL was never seen), accepted with a warning when it names none (a CA without CRLs: the
 *   default policy must not refuse every sensor of it; hard-fail does).
 *
 * A CRL whose thisUpdate is after `at` (the gateway clock behind the CA's) is used as current.
 */
export function revocationVerdict(question: RevocationQuestion): RevocationVerdict {
  const { crl, revoked, policy, at } = question;
  const depth = question.depth ?? 0;
  if (revoked) {
    const reason = revoked.reason === undefined ? '' : ` (${REASON_NAMES[revoked.reason] ?? revoked.reason})`;
    return {
      status: 'revoked',
      refusal: {
        reason: 'revoked',
        detail: `revoked on ${revoked.revokedAt.toISOString()}${reason} by the CRL of "${crl?.issuer ?? 'its issuer'}"`,
        depth,
      },
    };
  }
  if (!crl) {
    const detail = 'no CRL of its issuer is stored';
    if (policy.kind === 'soft-fail') return { status: 'unknown-accepted', warning: `${detail} (soft-fail)` };
    if (policy.kind === 'grace' && question.namesDistributionPoint === false) {
      return {
        status: 'unknown-accepted',
        warning: `${detail} and the certificate names no CRL distribution point (grace)`,
      };
    }
    return {
      status: 'unknown-refused',
      refusal: { reason: 'crl-missing', detail: `${detail} (${policy.kind})`, depth },
    };
  }
  const nextUpdate = crl.nextUpdate?.getTime();
  if (nextUpdate === undefined || at.getTime() <= nextUpdate) return { status: 'good' };
  const stale = `the CRL of "${crl.issuer}" is past its nextUpdate ${new Date(nextUpdate).toISOString()}`;
  if (policy.kind === 'soft-fail') return { status: 'unknown-accepted', warning: `${stale} (soft-fail)` };
  if (policy.kind === 'grace') {
    const graceEnd = new Date(nextUpdate + policy.graceMs);
    if (at.getTime() <= graceEnd.getTime()) {
      return {
        status: 'unknown-accepted',
        warning: `${stale}; accepted until ${graceEnd.toISOString()} (grace)`,
      };
    }
    return {
      status: 'unknown-refused',
      refusal: {
        reason: 'crl-stale',
        detail: `${stale} and its grace period ended ${graceEnd.toISOString()}`,
        depth,
      },
    };
  }
  return {
    status: 'unknown-refused',
    refusal: { reason: 'crl-stale', detail: `${stale} (hard-fail)`, depth },
  };
}
