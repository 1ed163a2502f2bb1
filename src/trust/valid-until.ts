import type { CrlPolicy } from './revocation/index.js';

/**
 * Until when a verdict of "accepted" holds by time alone: the first instant at which judging the
 * same chain again could refuse it (a certificate on the path past its notAfter, or its revocation
 * information no longer acceptable under the bundle's policy). A live session is re-judged then.
 */
export interface ValidUntil {
  /** The first instant the verdict may change (a certificate's notAfter + 1 s: its whole second is still valid). */
  at: Date;
  cause: 'certificate-expiry' | 'revocation';
  /** Which certificate or which revocation information, for the log. */
  detail: string;
}

/** The earlier of two deadlines (either may be absent). */
export function earlierValidUntil(
  a: ValidUntil | undefined,
  b: ValidUntil | undefined,
): ValidUntil | undefined {
  if (!a) return b;
  if (!b) return a;
  return b.at.getTime() < a.at.getTime() ? b : a;
}

/**
 * When a certificate accepted on its issuer's CRL stops being accepted for want of a fresh one:
 * hard-fail at nextUpdate, grace at nextUpdate + grace, soft-fail never (nor a CRL without
 * nextUpdate, nor no CRL at all, which was accepted by policy and stays so).
 */
export function crlValidUntil(
  policy: CrlPolicy,
  crl: { issuer: string; nextUpdate: Date | undefined } | undefined,
): ValidUntil | undefined {
  if (!crl?.nextUpdate || policy.kind === 'soft-fail') return undefined;
  const grace = policy.kind === 'grace' ? policy.graceMs : 0;
  return {
    at: new Date(crl.nextUpdate.getTime() + grace + 1),
    cause: 'revocation',
    detail: `the CRL of "${crl.issuer}" has nextUpdate ${crl.nextUpdate.toISOString()} (${policy.kind}${grace ? `, ${grace / 3_600_000} h grace` : ''})`,
  };
}
