import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../../../src/store/index.js';
import { CrlStore } from '../../../../src/trust/revocation/index.js';
import { TrustError } from '../../../../src/trust/trust-error.js';
import { respelledCa } from '../../../helpers/respelled-ca.js';
import {
  buildTestCrl,
  corruptCrl,
  integerOctets,
  type TestCa,
  type TestCrlOptions,
  TestPkiDir,
  testExtension,
} from '../../../helpers/test-crl.js';

const at = new Date('2026-11-20T12:00:00Z');
const hour = 3_600_000;
const revokedAt = new Date('2026-11-19T08:30:00Z');

let pki: TestPkiDir;
let ca: TestCa;
let otherCa: TestCa;
let sameNameCa: TestCa;
let noCrlSign: TestCa;
beforeAll(() => {
  pki = new TestPkiDir();
  ca = pki.ca('ca', { cn: 'Sensor CA' });
  sameNameCa = pki.ca('same-name', { cn: 'Sensor CA' });
  otherCa = pki.ca('other', { cn: 'Other CA' });
  noCrlSign = pki.ca('no-crl-sign', { cn: 'No CRL Sign CA', keyUsage: 'critical,keyCertSign' });
});
afterAll(() => pki.remove());

const stores: Store[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
});
function openStore(path = join(mkdtempSync(join(tmpdir(), 'egw-crl-store-')), 'state.db')): Store {
  const store = Store.open(path);
  stores.push(store);
  return store;
}

function crl(options: Partial<TestCrlOptions> & { number?: bigint; serials?: bigint[] } = {}): Uint8Array {
  return buildTestCrl({
    issuer: ca,
    thisUpdate: new Date(at.getTime() - hour),
    nextUpdate: new Date(at.getTime() + 24 * hour),
    crlNumber: options.number ?? 10n,
    entries: (options.serials ?? [1n, 2n, 0x8a01n]).map((serial) => ({
      serial,
      revokedAt,
      ...(serial === 2n ? { reason: 1 } : {}),
    })),
    ...options,
  });
}

function serial(value: bigint): Uint8Array {
  return integerOctets(value);
}

function rejection(work: () => unknown): TrustError {
  try {
    work();
  } catch (error) {
    if (error instanceof TrustError) return error;
    throw error;
  }
  throw new Error('expected a TrustError');
}

describe('CrlStore', () => {
  it('imports a CRL and answers lookups, crlInfo and list', () => {
    const crls = new CrlStore(openStore());
    const result = crls.import(crl(), [otherCa.certDer, ca.certDer], 'file:/etc/ca.crl', at, {
      distributionPoint: 'http://ca.example/ca.crl',
    });
    expect(result).toMatchObject({
      issuer: 'CN=Sensor CA',
      issuerNameSha256: ca.facts.subjectNameSha256,
      signerSha256: ca.facts.sha256,
      crlNumber: 10n,
      entries: 3,
      replaced: false,
      unchanged: false,
      revokedSerialsAdded: 3,
    });
    const issuer = ca.facts;
    expect(crls.isRevoked(issuer, serial(2n))).toEqual({ revokedAt, reason: 1 });
    expect(crls.isRevoked(issuer, serial(1n))).toEqual({ revokedAt });
    expect(crls.isRevoked(issuer, serial(0x8a01n))).toEqual({ revokedAt });
    expect(crls.isRevoked(issuer, serial(3n))).toBeUndefined();
    // Same value, other encoding: not the certificate's serial octets, so not a match.
    expect(crls.isRevoked(issuer, Uint8Array.of(0x8a, 0x01))).toBeUndefined();
    expect(crls.isRevoked(otherCa.facts, serial(1n))).toBeUndefined();
    expect(crls.crlInfo(issuer)).toMatchObject({
      thisUpdate: new Date(at.getTime() - hour),
      nextUpdate: new Date(at.getTime() + 24 * hour),
      entries: 3,
      source: 'file:/etc/ca.crl',
      fetchedAt: at,
      distributionPoint: 'http://ca.example/ca.crl',
    });
    expect(crls.crlInfo(otherCa.facts)).toBeUndefined();
    expect(crls.list().map((info) => info.issuer)).toEqual(['CN=Sensor CA']);
  });

  it('replaces the stored CRL with a newer one and counts the serials it adds', () => {
    const crls = new CrlStore(openStore());
    const issuer = ca.facts;
    crls.import(crl({ number: 10n, serials: [1n, 2n, 3n] }), [ca.certDer], 'a', at);
    const result = crls.import(
      crl({ number: 11n, serials: [2n, 3n, 4n, 5n], thisUpdate: at }),
      [ca.certDer],
      'b',
      new Date(at.getTime() + 60_000),
    );
    expect(result).toMatchObject({ replaced: true, unchanged: false, entries: 4, revokedSerialsAdded: 2 });
    expect(crls.isRevoked(issuer, serial(1n))).toBeUndefined(); // gone with the old CRL (e.g. removeFromCRL of a hold)
    expect(crls.isRevoked(issuer, serial(5n))).toBeDefined();
    expect(crls.crlInfo(issuer)).toMatchObject({ crlNumber: 11n, source: 'b', entries: 4 });
    expect(crls.list()).toHaveLength(1);
  });

  it('treats the same CRL again as unchanged (only fetchedAt moves)', () => {
    const crls = new CrlStore(openStore());
    const der = crl();
    crls.import(der, [ca.certDer], 'a', at);
    const later = new Date(at.getTime() + hour);
    const again = crls.import(der, [ca.certDer], 'a', later);
    expect(again).toMatchObject({ replaced: false, unchanged: true, revokedSerialsAdded: 0 });
    expect(crls.crlInfo(ca.facts)?.fetchedAt).toEqual(later);
  });

  it('refuses an older CRL (lower number, or earlier thisUpdate) and keeps the stored one', () => {
    const crls = new CrlStore(openStore());
    const issuer = ca.facts;
    crls.import(crl({ number: 10n, serials: [1n] }), [ca.certDer], 'a', at);
    const lower = rejection(() => crls.import(crl({ number: 9n, serials: [] }), [ca.certDer], 'replay', at));
    expect(lower.code).toBe('EGW_TRUST_CRL_REJECTED');
    expect(lower.message).toMatch(/older than the stored one \(cRLNumber 9 vs 10/);
    const earlier = rejection(() =>
      crls.import(
        crl({ number: 11n, serials: [], thisUpdate: new Date(at.getTime() - 2 * hour) }),
        [ca.certDer],
        'replay',
        at,
      ),
    );
    expect(earlier.message).toMatch(/older than the stored one/);
    expect(crls.isRevoked(issuer, serial(1n))).toBeDefined();
    expect(crls.crlInfo(issuer)?.crlNumber).toBe(10n);
  });

  it('refuses a CRL without cRLNumber (v2 without it, or v1) and one marking it critical (RFC 5280 5.2.3)', () => {
    const crls = new CrlStore(openStore());
    for (const der of [
      buildTestCrl({
        issuer: ca,
        thisUpdate: new Date(at.getTime() - hour),
        nextUpdate: null,
        crlNumber: null,
      }),
      buildTestCrl({ issuer: ca, thisUpdate: new Date(at.getTime() - hour), nextUpdate: null, version: 1 }),
    ]) {
      const missing = rejection(() => crls.import(der, [ca.certDer], 'numberless', at));
      expect(missing.code).toBe('EGW_TRUST_CRL_REJECTED');
      expect(missing.message).toMatch(/no cRLNumber/);
    }
    const critical = rejection(() =>
      crls.import(
        crl({
          crlNumber: null,
          extraExtensions: [testExtension('2.5.29.20', Uint8Array.of(0x02, 0x01, 0x05), true)],
        }),
        [ca.certDer],
        'critical',
        at,
      ),
    );
    expect(critical.message).toMatch(/cRLNumber is marked critical/);
    expect(crls.list()).toEqual([]);
  });

  it('refuses a thisUpdate in the future beyond the skew, accepts it within', () => {
    const crls = new CrlStore(openStore(), { maxFutureSkewMs: 5 * 60_000 });
    const ahead = rejection(() =>
      crls.import(crl({ thisUpdate: new Date(at.getTime() + 10 * 60_000) }), [ca.certDer], 'future', at),
    );
    expect(ahead.code).toBe('EGW_TRUST_CRL_REJECTED');
    expect(ahead.message).toMatch(/thisUpdate 2026-11-20T12:10:00.000Z is in the future \(600 s ahead/);
    expect(crls.list()).toEqual([]);
    const result = crls.import(
      crl({ thisUpdate: new Date(at.getTime() + 60_000) }),
      [ca.certDer],
      'skew',
      at,
    );
    expect(result.entries).toBe(3);
  });

  it('refuses unknown issuers, bad signatures and issuers without cRLSign', () => {
    const crls = new CrlStore(openStore());
    const unknown = rejection(() => crls.import(crl(), [otherCa.certDer], 'x', at));
    expect(unknown.code).toBe('EGW_TRUST_CRL_REJECTED');
    expect(unknown.message).toMatch(/unknown issuer "CN=Sensor CA": none of the 1 candidate CA certificates/);
    const forged = rejection(() =>
      crls.import(crl({ signingKey: otherCa.privateKey }), [ca.certDer], 'x', at),
    );
    expect(forged.message).toMatch(/bad signature: it does not verify with the key of "CN=Sensor CA"/);
    const tampered = rejection(() => crls.import(corruptCrl(crl(), 'flipped-tbs'), [ca.certDer], 'x', at));
    expect(tampered.message).toMatch(/bad signature/);
    const noSign = rejection(() => crls.import(crl({ issuer: noCrlSign }), [noCrlSign.certDer], 'x', at));
    expect(noSign.message).toMatch(/keyUsage without cRLSign/);
    expect(rejection(() => crls.import(corruptCrl(crl(), 'truncated'), [ca.certDer], 'x', at)).code).toBe(
      'EGW_TRUST_MALFORMED',
    );
    expect(crls.list()).toEqual([]);
  });

  it('finds the signer among certificates sharing the issuer name (key rollover)', () => {
    const crls = new CrlStore(openStore());
    const result = crls.import(crl({ issuer: sameNameCa }), [ca.certDer, sameNameCa.certDer], 'rollover', at);
    expect(result.signerSha256).toBe(sameNameCa.facts.sha256);
    expect(result.issuerNameSha256).toBe(ca.facts.subjectNameSha256);
  });

  it('rebuilds its index from SQLite on reopen, in several chunks for a large CRL', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'egw-crl-reopen-')), 'state.db');
    const count = 140_000; // more than one rebuild query's worth of rows
    const serials = Array.from({ length: count }, (_, i) => BigInt(i) * 7919n + 1n);
    const first = openStore(path);
    new CrlStore(first).import(crl({ serials, number: 5n }), [ca.certDer], 'big', at);
    new CrlStore(first).import(crl({ issuer: otherCa, serials: [42n] }), [otherCa.certDer], 'other', at);
    first.close();
    const crls = new CrlStore(openStore(path));
    expect(crls.indexBytes).toBe((count + 1) * 8);
    const issuer = ca.facts;
    for (const value of [serials[0], serials[70_000], serials[count - 1]] as bigint[]) {
      expect(crls.isRevoked(issuer, serial(value)), String(value)).toEqual({ revokedAt });
    }
    expect(crls.isRevoked(issuer, serial(2n))).toBeUndefined();
    expect(crls.isRevoked(otherCa.facts, serial(42n))).toBeDefined();
    expect(crls.crlInfo(issuer)).toMatchObject({ entries: count, crlNumber: 5n, source: 'big' });
  });

  it('reload() picks up a newer CRL another instance stored in place of the old one (same row id)', () => {
    const store = openStore();
    const daemon = new CrlStore(store);
    const operator = new CrlStore(store);
    const issuer = ca.facts;
    operator.import(crl({ number: 1n, serials: [] }), [ca.certDer], 'operator', at);
    daemon.reload();
    expect(daemon.isRevoked(issuer, serial(7n))).toBeUndefined();
    // SQLite gives the replacing row the id of the deleted one: only the DER hash tells them apart.
    operator.import(crl({ number: 2n, serials: [7n], thisUpdate: at }), [ca.certDer], 'operator', at);
    daemon.reload();
    expect(daemon.isRevoked(issuer, serial(7n))).toBeDefined();
    expect(daemon.crlInfo(issuer)?.crlNumber).toBe(2n);
  });

  it('removes an issuer, and reload() follows changes made through another instance', () => {
    const store = openStore();
    const daemon = new CrlStore(store);
    const operator = new CrlStore(store);
    operator.import(crl(), [ca.certDer], 'operator', at);
    const issuer = ca.facts;
    expect(daemon.crlInfo(issuer)).toBeUndefined();
    daemon.reload();
    expect(daemon.isRevoked(issuer, serial(1n))).toBeDefined();
    expect(daemon.remove(issuer)).toBe(true);
    expect(daemon.remove(issuer)).toBe(false);
    expect(daemon.isRevoked(issuer, serial(1n))).toBeUndefined();
    operator.reload();
    expect(operator.list()).toEqual([]);
    const rows = store.prepare<[], { n: number }>('SELECT count(*) AS n FROM trust_crl_entries').get();
    expect(rows?.n).toBe(0);
  });
});

/** Issue 15: two trusted CAs with the same Name (a re-key, two vendors' generic names). */
describe('CrlStore keyed by the signing CA, not its name', () => {
  const both = () => [ca.certDer, sameNameCa.certDer];

  it("keeps A's revocations when B (same Name, newer cRLNumber) imports its CRL, and B's apply to B only", () => {
    const crls = new CrlStore(openStore());
    crls.import(crl({ number: 5n, serials: [1n] }), both(), 'A', at);
    const b = crls.import(crl({ issuer: sameNameCa, number: 100n, serials: [2n] }), both(), 'B', at);
    expect(b).toMatchObject({ replaced: false, signerSha256: sameNameCa.facts.sha256 });
    expect(b.signerSki).toBe(sameNameCa.facts.subjectKeyId);
    expect(crls.isRevoked(ca.facts, serial(1n))).toBeDefined(); // A's revocation survives
    expect(crls.isRevoked(ca.facts, serial(2n))).toBeUndefined(); // B's does not reach A's sensors
    expect(crls.isRevoked(sameNameCa.facts, serial(2n))).toBeDefined();
    expect(crls.isRevoked(sameNameCa.facts, serial(1n))).toBeUndefined();
    expect(crls.crlInfo(ca.facts)?.crlNumber).toBe(5n);
    expect(crls.crlInfo(sameNameCa.facts)?.crlNumber).toBe(100n);
    expect(
      crls
        .list()
        .map((info) => info.signerSha256)
        .sort(),
    ).toEqual([ca.facts.sha256, sameNameCa.facts.sha256].sort());
    // A's next CRL is not "older" because of B's number; it still replaces A's own.
    const next = crls.import(crl({ number: 6n, serials: [1n, 3n] }), both(), 'A2', at);
    expect(next).toMatchObject({ replaced: true, revokedSerialsAdded: 1 });
    expect(crls.isRevoked(sameNameCa.facts, serial(3n))).toBeUndefined();
    // The same after a reload from SQLite (keys in the database, not only in memory).
    const reopened = new CrlStore(stores.at(-1) as Store);
    expect(reopened.isRevoked(ca.facts, serial(1n))).toBeDefined();
    expect(reopened.isRevoked(sameNameCa.facts, serial(1n))).toBeUndefined();
  });

  it('refuses a cRLNumber going backwards per signer, not across same-named signers', () => {
    const crls = new CrlStore(openStore());
    crls.import(crl({ number: 5n, serials: [1n] }), both(), 'A', at);
    crls.import(crl({ issuer: sameNameCa, number: 100n, serials: [2n] }), both(), 'B', at);
    expect(rejection(() => crls.import(crl({ number: 4n }), both(), 'A-old', at)).message).toMatch(
      /older than the stored one \(cRLNumber 4 vs 5/,
    );
    expect(
      rejection(() => crls.import(crl({ issuer: sameNameCa, number: 50n }), both(), 'B-old', at)).message,
    ).toMatch(/older than the stored one \(cRLNumber 50 vs 100/);
    expect(crls.crlInfo(ca.facts)?.crlNumber).toBe(5n);
    expect(crls.crlInfo(sameNameCa.facts)?.crlNumber).toBe(100n);
  });

  it("refuses a CRL whose authorityKeyIdentifier is not its signer's SKI", () => {
    const crls = new CrlStore(openStore());
    const otherSki = Buffer.from(sameNameCa.facts.subjectKeyId as string, 'hex');
    // Signed by A's key, but naming B's key: keyIdentifier [0] in an AuthorityKeyIdentifier SEQUENCE.
    const akiValue = Uint8Array.of(0x30, otherSki.length + 2, 0x80, otherSki.length, ...otherSki);
    const wrongAki = crl({
      authorityKeyIdentifier: false,
      extraExtensions: [testExtension('2.5.29.35', akiValue)],
    });
    const error = rejection(() => crls.import(wrongAki, both(), 'wrong-aki', at));
    expect(error.message).toMatch(
      /AKI mismatch: its authorityKeyIdentifier [0-9a-f]+ is not the subjectKeyIdentifier/,
    );
    expect(crls.list()).toEqual([]);
    // The same CRL with A's own AKI is fine.
    expect(crls.import(crl({ authorityKeyIdentifier: true }), both(), 'right-aki', at).signerSha256).toBe(
      ca.facts.sha256,
    );
  });

  it('re-keys a CRL row stored before schema 6 by its signer certificate; without it the row answers nothing', () => {
    const store = openStore();
    new CrlStore(store).import(crl({ serials: [1n] }), [ca.certDer], 'A', at);
    new CrlStore(store).import(crl({ issuer: otherCa, serials: [7n] }), [otherCa.certDer], 'other', at);
    // As migration 6 leaves them: signer_key NULL. Only A's certificate is in a trust bundle.
    store.prepare('UPDATE trust_crls SET signer_key = NULL, signer_ski = NULL').run();
    store
      .prepare(
        `INSERT INTO trust_certificates (bundle, sha256, der, subject, source, fetched_at, role)
         VALUES ('sensors', ?, ?, 'CN=Sensor CA', 'file', 0, 'anchor')`,
      )
      .run(ca.facts.sha256, ca.certDer);
    const crls = new CrlStore(store);
    expect(crls.isRevoked(ca.facts, serial(1n))).toBeDefined();
    expect(crls.crlInfo(ca.facts)?.signerSki).toBe(ca.facts.subjectKeyId);
    expect(crls.crlInfo(otherCa.facts)).toBeUndefined();
    const keys = store
      .prepare<[], { signer_key: string | null }>('SELECT signer_key FROM trust_crls ORDER BY id')
      .all();
    expect(keys.map((row) => row.signer_key === null)).toEqual([false, true]);
  });

  it('is one signer for one CA whose name is spelled in other bytes (RFC 5280 §7.1): its CRL matches and revokes under either spelling', () => {
    // "CN=sensor  ca": the same name as "CN=Sensor CA" (case, inner spaces), other bytes, same key.
    const twin = respelledCa(pki, ca, 'ca-respelled', '/CN=sensor  ca');
    expect(Buffer.from(twin.facts.subjectDer).equals(Buffer.from(ca.facts.subjectDer))).toBe(false);
    const crls = new CrlStore(openStore());
    // The CRL spells the name as the twin does; only the CA certificate itself is a candidate.
    const result = crls.import(crl({ issuer: twin, serials: [1n] }), [ca.certDer], 'respelled', at);
    expect(result).toMatchObject({ signerSha256: ca.facts.sha256, signerSubject: 'CN=Sensor CA' });
    // A sensor whose validated path ends at either certificate of the CA finds the CRL.
    expect(crls.isRevoked(ca.facts, serial(1n))).toBeDefined();
    expect(crls.isRevoked(twin.facts, serial(1n))).toBeDefined();
    expect(crls.crlInfo(twin.facts)?.crlNumber).toBe(10n);
    // A same-named CA with another key stays another signer.
    expect(crls.crlInfo(sameNameCa.facts)).toBeUndefined();
  });
});
