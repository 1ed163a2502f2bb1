import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../../../src/store/index.js';
import { CrlStore } from '../../../../src/trust/revocation/index.js';
import { TrustError } from '../../../../src/trust/trust-error.js';
import {
  buildTestCrl,
  corruptCrl,
  integerOctets,
  type TestCa,
  type TestCrlOptions,
  TestPkiDir,
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
    const issuer = ca.facts.subjectNameSha256;
    expect(crls.isRevoked(issuer, serial(2n))).toEqual({ revokedAt, reason: 1 });
    expect(crls.isRevoked(issuer, serial(1n))).toEqual({ revokedAt });
    expect(crls.isRevoked(issuer, serial(0x8a01n))).toEqual({ revokedAt });
    expect(crls.isRevoked(issuer, serial(3n))).toBeUndefined();
    // Same value, other encoding: not the certificate's serial octets, so not a match.
    expect(crls.isRevoked(issuer, Uint8Array.of(0x8a, 0x01))).toBeUndefined();
    expect(crls.isRevoked(otherCa.facts.subjectNameSha256, serial(1n))).toBeUndefined();
    expect(crls.crlInfo(issuer)).toMatchObject({
      thisUpdate: new Date(at.getTime() - hour),
      nextUpdate: new Date(at.getTime() + 24 * hour),
      entries: 3,
      source: 'file:/etc/ca.crl',
      fetchedAt: at,
      distributionPoint: 'http://ca.example/ca.crl',
    });
    expect(crls.crlInfo(otherCa.facts.subjectNameSha256)).toBeUndefined();
    expect(crls.list().map((info) => info.issuer)).toEqual(['CN=Sensor CA']);
  });

  it('replaces the stored CRL with a newer one and counts the serials it adds', () => {
    const crls = new CrlStore(openStore());
    const issuer = ca.facts.subjectNameSha256;
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
    expect(crls.crlInfo(ca.facts.subjectNameSha256)?.fetchedAt).toEqual(later);
  });

  it('refuses an older CRL (lower number, or earlier thisUpdate) and keeps the stored one', () => {
    const crls = new CrlStore(openStore());
    const issuer = ca.facts.subjectNameSha256;
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
    const issuer = ca.facts.subjectNameSha256;
    for (const value of [serials[0], serials[70_000], serials[count - 1]] as bigint[]) {
      expect(crls.isRevoked(issuer, serial(value)), String(value)).toEqual({ revokedAt });
    }
    expect(crls.isRevoked(issuer, serial(2n))).toBeUndefined();
    expect(crls.isRevoked(otherCa.facts.subjectNameSha256, serial(42n))).toBeDefined();
    expect(crls.crlInfo(issuer)).toMatchObject({ entries: count, crlNumber: 5n, source: 'big' });
  });

  it('reload() picks up a newer CRL another instance stored in place of the old one (same row id)', () => {
    const store = openStore();
    const daemon = new CrlStore(store);
    const operator = new CrlStore(store);
    const issuer = ca.facts.subjectNameSha256;
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
    const issuer = ca.facts.subjectNameSha256;
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
