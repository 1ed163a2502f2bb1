import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CaseOutcome, runLimbo } from './limbo-runner.js';
import { loadLimbo } from './limbo-suite.js';
import { summarize } from './limbo-summary.js';
import { SKIP } from './skip-rules.js';

/**
 * x509-limbo through the sensor path validator (test/limbo/main.ts prints the figures). The core
 * families are a target: none wrong. The rest (Web PKI profile) is a ratchet: the cases we get wrong
 * are listed in known-wrong.json, each with why; a case that turns wrong fails here, and so does a
 * listed case that turns right (take it off the list).
 */
const KNOWN_WRONG = JSON.parse(
  readFileSync(new URL('./known-wrong.json', import.meta.url), 'utf8'),
) as Record<string, string>;

/** Skips come from the cases alone (skip-rules.ts), so their counts only move when the rules or the suite do. */
const SKIPPED: Record<string, number> = {
  [SKIP.pedanticAnchorAki]: 1,
  [SKIP.caLeaf]: 6,
  [SKIP.noEku]: 3,
  [SKIP.peerName]: 17,
};

/**
 * FAILURE cases a sensor validator must never accept: forged or broken paths, CA-ness and path length,
 * time, revocation, purpose, unknown critical extensions, name constraints (refused wholesale today;
 * whoever implements them must keep these refused). Not here: the two non-critical nameConstraints
 * cases (known wrong: the names they constrain are not violated) and RFC 5280 profile pedantry.
 */
const CRITICAL = [
  'pathlen::',
  'pathological::',
  'cve::',
  'invalid::',
  'crl::revoked-',
  'crl::issuer-missing-crlsign',
  'rfc5280::validity::',
  'rfc5280::eku::',
  'rfc5280::nc::',
  'rfc5280::chain-untrusted-root',
  'rfc5280::intermediate-ca-',
  'rfc5280::ica-ku-keycertsign',
  'rfc5280::root-inconsistent-ca-extensions',
  'rfc5280::unknown-critical-extension-',
  'rfc5280::mismatching-signature-algorithm',
  'rfc5280::duplicate-extensions',
  'rfc5280::ee-empty-issuer',
  'rfc5280::san::malformed',
];
const CRITICAL_JUDGED = 66;

function critical(outcome: CaseOutcome): boolean {
  return (
    outcome.expected === 'FAILURE' &&
    outcome.verdict !== 'skipped' &&
    CRITICAL.some((prefix) => outcome.id.startsWith(prefix)) &&
    !outcome.id.endsWith('-noncritical')
  );
}

let outcomes: CaseOutcome[];

beforeAll(() => {
  outcomes = runLimbo(loadLimbo());
});

describe('x509-limbo through the sensor path validator', () => {
  it('gets wrong exactly the cases listed in test/limbo/known-wrong.json', () => {
    const wrong = outcomes.filter((outcome) => outcome.verdict === 'wrong');
    const newlyWrong = wrong
      .filter((outcome) => !(outcome.id in KNOWN_WRONG))
      .map((outcome) => `${outcome.id}: expected ${outcome.expected}, ours ${outcome.reason ?? 'accepted'}`);
    const nowRightOrSkipped = Object.keys(KNOWN_WRONG).filter(
      (id) => !wrong.some((outcome) => outcome.id === id),
    );
    expect({ newlyWrong, nowRightOrSkipped }).toEqual({ newlyWrong: [], nowRightOrSkipped: [] });
  });

  it('gets every core case (rfc5280, pathlen, crl, pathological, cve, invalid) right or skips it by rule', () => {
    const core = summarize(outcomes).core;
    expect(core.wrong).toBe(0);
    expect(core.right + core.skipped).toBe(138);
  });

  it('skips only by its rules, as many cases as they have always skipped', () => {
    const counts: Record<string, number> = {};
    for (const outcome of outcomes) {
      if (outcome.skip !== undefined) counts[outcome.skip] = (counts[outcome.skip] ?? 0) + 1;
    }
    expect(counts).toEqual(SKIPPED);
  });

  it('accepts no FAILURE case of the critical families', () => {
    const judged = outcomes.filter(critical);
    expect(judged.length).toBe(CRITICAL_JUDGED);
    expect(judged.filter((outcome) => outcome.ours === 'SUCCESS').map((outcome) => outcome.id)).toEqual([]);
  });
});
