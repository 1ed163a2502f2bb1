/**
 * The revocation cache against bad CRLs, made by the test: each is refused with its own error and
 * leaves the stored good CRL answering as before. Where it applies, `openssl verify -crl_check`
 * judges the same files; where our answer differs from openssl's by design (state across CRLs,
 * the grace and soft-fail policies, trailing bytes), the difference is asserted and explained.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/index.js';
import { type CrlPolicy, CrlStore, revocationVerdict } from '../../src/trust/revocation/index.js';
import { TrustError } from '../../src/trust/trust-error.js';
import {
  buildTestCrl,
  corruptCrl,
  type TestCa,
  type TestCertificate,
  type TestCrlOptions,
  TestPkiDir,
} from '../helpers/test-crl.js';

const hour = 3_600_000;
// Whole seconds: CRL times have no milliseconds.
const now = new Date(Math.floor(Date.now() / 1000) * 1000);
const goodNextUpdate = new Date(now.getTime() + 24 * hour);

let pki: TestPkiDir;
let ca: TestCa;
let impostor: TestCa; // same subject Name as `ca`, another key
let rogue: TestCa; // another CA altogether
let goodSensor: TestCertificate;
let revokedSensor: TestCertificate;
let goodCrl: Uint8Array;
let dbPath: string;
let store: Store;
let crls: CrlStore;

function crlOf(options: Partial<TestCrlOptions> = {}): Uint8Array {
  return buildTestCrl({
    issuer: ca,
    thisUpdate: new Date(now.getTime() - hour),
    nextUpdate: goodNextUpdate,
    crlNumber: 10n,
    entries: [{ serial: revokedSensor.serial, revokedAt: new Date(now.getTime() - 2 * hour), reason: 1 }],
    ...options,
  });
}

beforeAll(() => {
  pki = new TestPkiDir('egw-revocation-');
  ca = pki.ca('ca', { cn: 'Sensor CA' });
  impostor = pki.ca('impostor', { cn: 'Sensor CA' });
  rogue = pki.ca('rogue', { cn: 'Rogue CA' });
  goodSensor = pki.leaf('good-sensor', ca);
  revokedSensor = pki.leaf('revoked-sensor', ca);
  goodCrl = crlOf();
  dbPath = join(mkdtempSync(join(tmpdir(), 'egw-revocation-db-')), 'state.db');
  store = Store.open(dbPath);
  crls = new CrlStore(store);
  crls.import(goodCrl, [ca.certDer, rogue.certDer], 'operator', now);
});
afterAll(() => {
  store?.close();
  pki?.remove();
});

function refusal(work: () => unknown): TrustError {
  try {
    work();
  } catch (error) {
    if (error instanceof TrustError) return error;
    throw error;
  }
  throw new Error('expected a TrustError');
}

/** The stored good CRL still answers: the revoked sensor is revoked, the good one is not, same CRL. */
function expectGoodCrlStillAnswers(): void {
  const issuer = ca.facts;
  expect(crls.isRevoked(issuer, revokedSensor.serial)).toMatchObject({ reason: 1 });
  expect(crls.isRevoked(issuer, goodSensor.serial)).toBeUndefined();
  expect(crls.crlInfo(issuer)).toMatchObject({ crlNumber: 10n, entries: 1, nextUpdate: goodNextUpdate });
  expect(crls.list()).toHaveLength(1);
}

const policies: Record<CrlPolicy['kind'], CrlPolicy> = {
  'hard-fail': { kind: 'hard-fail', graceMs: 72 * hour },
  'soft-fail': { kind: 'soft-fail', graceMs: 72 * hour },
  grace: { kind: 'grace', graceMs: 72 * hour },
};

function verdictFor(sensor: TestCertificate, policy: CrlPolicy, at: Date) {
  const issuer = ca.facts;
  return revocationVerdict({
    crl: crls.crlInfo(issuer),
    revoked: crls.isRevoked(issuer, sensor.serial),
    policy,
    at,
  });
}

describe('bad CRLs are refused, each with its own error, and change nothing', () => {
  it('the good CRL verifies for openssl as well', () => {
    expect(pki.verifyWithCrl(ca.certFile, goodCrl, goodSensor.certFile)).toMatchObject({ ok: true });
  });

  it('a CRL signed by another key under the issuer name: bad signature', () => {
    const forged = crlOf({ crlNumber: 11n, signingKey: impostor.privateKey, entries: [] });
    const error = refusal(() => crls.import(forged, [ca.certDer], 'forged', now));
    expect(error.code).toBe('EGW_TRUST_CRL_REJECTED');
    expect(error.message).toMatch(/bad signature: it does not verify with the key of "CN=Sensor CA"/);
    expectGoodCrlStillAnswers();
    const openssl = pki.verifyWithCrl(ca.certFile, forged, goodSensor.certFile);
    expect(openssl.ok).toBe(false);
    expect(openssl.output).toMatch(/CRL signature failure/);
  });

  it('a CRL altered after signing (or its signature): bad signature', () => {
    const tampered = corruptCrl(crlOf({ crlNumber: 11n }), 'flipped-tbs');
    expect(refusal(() => crls.import(tampered, [ca.certDer], 'tampered', now)).message).toMatch(
      /bad signature/,
    );
    // The flipped octet is the AKI's: openssl no longer even matches the CRL to the CA.
    expect(pki.verifyWithCrl(ca.certFile, tampered, goodSensor.certFile).output).toMatch(
      /unable to get certificate CRL/,
    );
    const badSignature = corruptCrl(crlOf({ crlNumber: 11n }), 'flipped-signature');
    expect(refusal(() => crls.import(badSignature, [ca.certDer], 'bad-sig', now)).message).toMatch(
      /bad signature/,
    );
    expect(pki.verifyWithCrl(ca.certFile, badSignature, goodSensor.certFile).output).toMatch(
      /CRL signature failure/,
    );
    expectGoodCrlStillAnswers();
  });

  it('a CRL from an unknown issuer: unknown issuer', () => {
    const foreign = buildTestCrl({
      issuer: rogue,
      thisUpdate: new Date(now.getTime() - hour),
      nextUpdate: goodNextUpdate,
      crlNumber: 1n,
    });
    const error = refusal(() => crls.import(foreign, [ca.certDer], 'foreign', now));
    expect(error.code).toBe('EGW_TRUST_CRL_REJECTED');
    expect(error.message).toMatch(/unknown issuer "CN=Rogue CA"/);
    expectGoodCrlStillAnswers();
    // openssl finds no CRL for the sensor's issuer in that file.
    expect(pki.verifyWithCrl(ca.certFile, foreign, goodSensor.certFile).output).toMatch(
      /unable to get certificate CRL/,
    );
  });

  it('malformed DER (a length past the end): EGW_TRUST_MALFORMED with the offset', () => {
    const broken = corruptCrl(crlOf({ crlNumber: 11n }), 'bad-outer-length');
    const error = refusal(() => crls.import(broken, [ca.certDer], 'broken.crl', now));
    expect(error.code).toBe('EGW_TRUST_MALFORMED');
    expect(error.message).toMatch(/CRL from broken\.crl: CertificateList: truncated .* at offset 0/);
    expectGoodCrlStillAnswers();
    expect(pki.opensslLoadsCrl(broken).ok).toBe(false);
  });

  it('a truncated CRL: EGW_TRUST_MALFORMED', () => {
    const truncated = corruptCrl(crlOf({ crlNumber: 11n }), 'truncated');
    const error = refusal(() => crls.import(truncated, [ca.certDer], 'truncated.crl', now));
    expect(error.code).toBe('EGW_TRUST_MALFORMED');
    expect(error.message).toMatch(/truncated/);
    expectGoodCrlStillAnswers();
    expect(pki.opensslLoadsCrl(truncated).ok).toBe(false);
  });

  it('trailing garbage after the CRL: EGW_TRUST_MALFORMED (openssl reads the first object and ignores it)', () => {
    const trailing = corruptCrl(crlOf({ crlNumber: 11n }), 'trailing-garbage');
    const error = refusal(() => crls.import(trailing, [ca.certDer], 'trailing.crl', now));
    expect(error.code).toBe('EGW_TRUST_MALFORMED');
    expect(error.message).toMatch(/4 trailing bytes after the CertificateList at offset \d+/);
    expectGoodCrlStillAnswers();
    // By design we differ: a download with extra bytes is not the file the CA published.
    expect(pki.opensslLoadsCrl(trailing).ok).toBe(true);
  });

  it('an older CRL replayed: older than the stored one (openssl has no memory of CRLs and accepts it)', () => {
    const older = crlOf({
      crlNumber: 9n,
      thisUpdate: new Date(now.getTime() - 5 * hour),
      entries: [], // before the sensor was revoked: a replay would un-revoke it
    });
    const error = refusal(() => crls.import(older, [ca.certDer], 'replay', now));
    expect(error.code).toBe('EGW_TRUST_CRL_REJECTED');
    expect(error.message).toMatch(/older than the stored one \(cRLNumber 9 vs 10/);
    expectGoodCrlStillAnswers();
    // openssl judges each CRL alone: the replayed one is valid to it and the revoked sensor passes.
    expect(pki.verifyWithCrl(ca.certFile, older, revokedSensor.certFile).ok).toBe(true);
  });

  it('a CRL whose thisUpdate is in the future: refused, as openssl says "not yet valid"', () => {
    const future = crlOf({ crlNumber: 11n, thisUpdate: new Date(now.getTime() + hour) });
    const error = refusal(() => crls.import(future, [ca.certDer], 'future', now));
    expect(error.code).toBe('EGW_TRUST_CRL_REJECTED');
    expect(error.message).toMatch(/is in the future \(3600 s ahead/);
    expectGoodCrlStillAnswers();
    expect(pki.verifyWithCrl(ca.certFile, future, goodSensor.certFile).output).toMatch(
      /CRL is not yet valid/,
    );
  });

  it('a revoked serial is found and refused under every policy; openssl says revoked too', () => {
    for (const policy of Object.values(policies)) {
      const verdict = verdictFor(revokedSensor, policy, now);
      expect(verdict.status, policy.kind).toBe('revoked');
      expect(verdict).toMatchObject({ refusal: { reason: 'revoked', depth: 0 } });
      expect(verdictFor(goodSensor, policy, now), policy.kind).toEqual({ status: 'good' });
    }
    const openssl = pki.verifyWithCrl(ca.certFile, goodCrl, revokedSensor.certFile);
    expect(openssl.ok).toBe(false);
    expect(openssl.output).toMatch(/certificate revoked/);
  });

  it('a stale CRL under each policy: hard-fail refuses, soft-fail and grace accept with a warning (openssl: expired)', () => {
    const staleAt = new Date(goodNextUpdate.getTime() + hour);
    expect(verdictFor(goodSensor, policies['hard-fail'], staleAt)).toMatchObject({
      status: 'unknown-refused',
      refusal: { reason: 'crl-stale' },
    });
    expect(verdictFor(goodSensor, policies['soft-fail'], staleAt).status).toBe('unknown-accepted');
    expect(verdictFor(goodSensor, policies.grace, staleAt)).toMatchObject({
      status: 'unknown-accepted',
      warning: expect.stringMatching(/accepted until .* \(grace\)/),
    });
    // Past the grace period, grace refuses as well.
    const afterGrace = new Date(goodNextUpdate.getTime() + 73 * hour);
    expect(verdictFor(goodSensor, policies.grace, afterGrace)).toMatchObject({
      status: 'unknown-refused',
      refusal: { reason: 'crl-stale' },
    });
    // A revocation outlives staleness under every policy.
    for (const policy of Object.values(policies)) {
      expect(verdictFor(revokedSensor, policy, afterGrace).status, policy.kind).toBe('revoked');
    }
    // openssl knows only hard-fail: at the same moment it says the CRL has expired. Soft-fail and
    // grace accepting the good sensor here is our policy, not an oversight.
    const openssl = pki.verifyWithCrl(ca.certFile, goodCrl, goodSensor.certFile, staleAt);
    expect(openssl.ok).toBe(false);
    expect(openssl.output).toMatch(/CRL has expired/);
    expectGoodCrlStillAnswers();
  });

  it('a missing CRL: hard-fail and grace refuse crl-missing, soft-fail accepts (openssl: unable to get CRL)', () => {
    const verdict = (policy: CrlPolicy) =>
      revocationVerdict({ crl: undefined, revoked: undefined, policy, at: now });
    expect(verdict(policies['hard-fail'])).toMatchObject({ refusal: { reason: 'crl-missing' } });
    expect(verdict(policies.grace)).toMatchObject({ refusal: { reason: 'crl-missing' } });
    expect(verdict(policies['soft-fail']).status).toBe('unknown-accepted');
    const rogueSensor = pki.leaf('rogue-sensor', rogue);
    expect(pki.verifyWithCrl(rogue.certFile, goodCrl, rogueSensor.certFile).output).toMatch(
      /unable to get certificate CRL/,
    );
  });

  it('after all of it, the database reopened answers exactly as before', () => {
    store.close();
    store = Store.open(dbPath);
    crls = new CrlStore(store);
    expectGoodCrlStillAnswers();
  });

  it('a newer good CRL still replaces it (the refusals did not wedge anything)', () => {
    const newer = crlOf({ crlNumber: 12n, thisUpdate: now, entries: [] });
    const result = crls.import(newer, [ca.certDer], 'operator', now);
    expect(result).toMatchObject({ replaced: true, revokedSerialsAdded: 0, entries: 0 });
    expect(crls.isRevoked(ca.facts, revokedSensor.serial)).toBeUndefined();
  });
});
