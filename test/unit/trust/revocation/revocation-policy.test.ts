import { describe, expect, it } from 'vitest';
import {
  type CrlPolicy,
  crlPolicyFromConfig,
  type RevocationVerdict,
  revocationVerdict,
} from '../../../../src/trust/revocation/index.js';

const hour = 3_600_000;
const thisUpdate = new Date('2026-11-20T00:00:00Z');
const nextUpdate = new Date('2026-11-27T00:00:00Z');
const crl = { issuer: 'CN=Sensor CA', thisUpdate, nextUpdate };
const grace: CrlPolicy = { kind: 'grace', graceMs: 72 * hour };
const hardFail: CrlPolicy = { kind: 'hard-fail', graceMs: 72 * hour };
const softFail: CrlPolicy = { kind: 'soft-fail', graceMs: 72 * hour };

/** The verdict reduced to status and reason, for tables. */
function outcome(verdict: RevocationVerdict): string {
  if (verdict.status === 'revoked' || verdict.status === 'unknown-refused') {
    return `${verdict.status}:${verdict.refusal.reason}`;
  }
  return verdict.status;
}

const times = {
  fresh: new Date(thisUpdate.getTime() + hour),
  atNextUpdate: nextUpdate,
  justStale: new Date(nextUpdate.getTime() + 1000),
  lastGraceSecond: new Date(nextUpdate.getTime() + 72 * hour),
  afterGrace: new Date(nextUpdate.getTime() + 72 * hour + 1000),
};

describe('revocationVerdict', () => {
  it.each<[CrlPolicy, keyof typeof times, string]>([
    [hardFail, 'fresh', 'good'],
    [hardFail, 'atNextUpdate', 'good'],
    [hardFail, 'justStale', 'unknown-refused:crl-stale'],
    [hardFail, 'afterGrace', 'unknown-refused:crl-stale'],
    [softFail, 'fresh', 'good'],
    [softFail, 'justStale', 'unknown-accepted'],
    [softFail, 'afterGrace', 'unknown-accepted'],
    [grace, 'fresh', 'good'],
    [grace, 'atNextUpdate', 'good'],
    [grace, 'justStale', 'unknown-accepted'],
    [grace, 'lastGraceSecond', 'unknown-accepted'],
    [grace, 'afterGrace', 'unknown-refused:crl-stale'],
  ])('%o at %s: %s', (policy, time, expected) => {
    expect(outcome(revocationVerdict({ crl, revoked: undefined, policy, at: times[time] }))).toBe(expected);
  });

  it.each<[CrlPolicy, boolean, string]>([
    [hardFail, true, 'unknown-refused:crl-missing'],
    [hardFail, false, 'unknown-refused:crl-missing'],
    [softFail, true, 'unknown-accepted'],
    [softFail, false, 'unknown-accepted'],
    // grace bridges a late or unreachable CA, not a CRL never seen: refused when the certificate
    // says where the CRL is; a CA that names no distribution point is taken as publishing none.
    [grace, true, 'unknown-refused:crl-missing'],
    [grace, false, 'unknown-accepted'],
  ])(
    'no CRL under %o, certificate names a distribution point: %s → %s',
    (policy, namesDistributionPoint, expected) => {
      expect(
        outcome(
          revocationVerdict({
            crl: undefined,
            revoked: undefined,
            policy,
            at: times.fresh,
            namesDistributionPoint,
          }),
        ),
      ).toBe(expected);
    },
  );

  it('refuses a revoked serial under every policy, even from a stale CRL, with depth and reason', () => {
    const revoked = { revokedAt: new Date('2026-11-19T08:30:00Z'), reason: 1 };
    for (const policy of [hardFail, softFail, grace]) {
      for (const at of Object.values(times)) {
        const verdict = revocationVerdict({ crl, revoked, policy, at, depth: 1 });
        expect(verdict).toEqual({
          status: 'revoked',
          refusal: {
            reason: 'revoked',
            depth: 1,
            detail: 'revoked on 2026-11-19T08:30:00.000Z (keyCompromise) by the CRL of "CN=Sensor CA"',
          },
        });
      }
    }
  });

  it('says why in warnings and refusal details', () => {
    const warned = revocationVerdict({ crl, revoked: undefined, policy: grace, at: times.justStale });
    expect(warned).toEqual({
      status: 'unknown-accepted',
      warning:
        'the CRL of "CN=Sensor CA" is past its nextUpdate 2026-11-27T00:00:00.000Z; accepted until 2026-11-30T00:00:00.000Z (grace)',
    });
    const refused = revocationVerdict({ crl, revoked: undefined, policy: hardFail, at: times.justStale });
    expect(refused).toMatchObject({ refusal: { reason: 'crl-stale', depth: 0 } });
  });

  it('treats a CRL without nextUpdate as never stale', () => {
    const verdict = revocationVerdict({
      crl: { ...crl, nextUpdate: undefined },
      revoked: undefined,
      policy: hardFail,
      at: new Date('2030-01-01T00:00:00Z'),
    });
    expect(verdict).toEqual({ status: 'good' });
  });

  it('reads the bundle configuration', () => {
    expect(crlPolicyFromConfig({ crl_policy: 'grace', crl_grace_hours: 72 })).toEqual(grace);
    expect(crlPolicyFromConfig({ crl_policy: 'hard-fail', crl_grace_hours: 0.5 })).toEqual({
      kind: 'hard-fail',
      graceMs: 1_800_000,
    });
  });
});
