import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/index.js';
import { Store } from '../../../src/store/index.js';
import { DenyList, Enrollments, sha256Hex } from '../../../src/trust/enrollment/index.js';
import { ClockFloor, SensorNames, SensorTrust, type SensorVerdict } from '../../../src/trust/index.js';
import { CrlStore } from '../../../src/trust/revocation/index.js';
import { buildTestCrl, integerOctets } from '../../helpers/test-crl.js';
import { type TestCertificate, TestPki } from '../../helpers/test-pki.js';

/*
 * SensorTrust remembers accepted chains (VerifiedChainCache) but never serves a stale acceptance:
 * a change this process makes (a reload after a deny-list edit, an enrollment disabled or a name
 * released through this very database connection) is seen by the next decision. Cross-process
 * changes, CRLs and expiry are tested with the daemon (trust-verified-chains).
 */
let pki: TestPki;
let ca: TestCertificate;
let dir: string;
let store: Store;
let trust: SensorTrust;
/** The trust's clock (systemNow); tests move it. */
let now: number;

beforeAll(async () => {
  pki = await TestPki.create();
  ca = await pki.root({ commonName: 'Cached Sensor CA' });
});
afterAll(() => {
  store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  pki?.remove();
});
beforeEach(() => {
  store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  now = Date.now();
  dir = mkdtempSync(join(tmpdir(), 'egw-verified-chains-'));
  store = Store.open(join(dir, 'state.db'));
  const log = { info() {}, debug() {}, warn() {} };
  trust = new SensorTrust({
    store,
    settings: parseConfigText('', 'test.toml').trust,
    clock: new ClockFloor(store, { systemNow: () => new Date(now) }),
    log,
    fileAnchors: [ca.der],
  });
});

const reasonOf = (verdict: SensorVerdict) => (verdict.ok ? 'accepted' : verdict.refusal.reason);

/** Accepted twice, the second time from the cache. */
function acceptedTwice(sensor: TestCertificate): void {
  const hits = trust.status().verifiedChains.hits;
  expect(reasonOf(trust.verify([sensor.der]))).toBe('accepted');
  expect(reasonOf(trust.verify([sensor.der]))).toBe('accepted');
  expect(trust.status().verifiedChains.hits - hits).toBe(1);
}

describe('verified chains are never served stale', () => {
  it('a deny-list entry takes effect on the next decision after the reload', async () => {
    const sensor = await pki.sensor(ca, { commonName: 'cached-denied' });
    acceptedTwice(sensor);
    new DenyList(store).add('sha256', sha256Hex(sensor.der), { reason: 'stolen' });
    trust.reload('test');
    expect(reasonOf(trust.verify([sensor.der]))).toBe('denied');
  });

  it('an enrollment disabled through the same database connection takes effect at once', async () => {
    const sensor = await pki.sensor(ca, { commonName: 'cached-disabled' });
    acceptedTwice(sensor);
    const enrollments = new Enrollments(store);
    enrollments.addIndividual(sha256Hex(sensor.der));
    enrollments.disable('individual', sha256Hex(sensor.der));
    expect(reasonOf(trust.verify([sensor.der]))).toBe('enrollment-disabled');
  });

  it('a name moved to another enrollment takes effect at once', async () => {
    const sensor = await pki.sensor(ca, { commonName: 'cached-name' });
    acceptedTwice(sensor);
    new SensorNames(store).release('cached-name', { to: 'group:0000' });
    expect(reasonOf(trust.verify([sensor.der]))).toBe('identity-conflict');
  });

  it('a refusal is not remembered: the same chain is accepted once enrolled', async () => {
    const other = await pki.root({ commonName: 'Unknown CA' });
    const sensor = await pki.sensor(other, { commonName: 'cached-later' });
    expect(reasonOf(trust.verify([sensor.der]))).toBe('unknown-issuer');
    new Enrollments(store).addIndividual(sha256Hex(sensor.der));
    expect(reasonOf(trust.verify([sensor.der]))).toBe('accepted');
  });
});

/*
 * A ticket-resumed session comes back with the sensor's leaf alone (OpenSSL keeps only the peer's
 * leaf): the leaf is remembered with the verdict on the chain it came with, under the same rules, so
 * a revoked, denied, disabled or expired sensor cannot resume through it.
 */
describe('a leaf accepted with its chain is remembered alone, never stale', () => {
  /** The sensor's chain (leaf, CA) accepted, then its leaf alone: served from memory. */
  async function leafRemembered(commonName: string, options: { notAfter?: Date; serial?: bigint } = {}) {
    const sensor = await pki.sensor(ca, {
      commonName,
      ...(options.notAfter ? { notAfter: options.notAfter } : {}),
      ...(options.serial ? { serial: integerOctets(options.serial) } : {}),
    });
    expect(reasonOf(trust.verify([sensor.der, ca.der]))).toBe('accepted');
    const hits = trust.status().verifiedChains.hits;
    expect(reasonOf(trust.verify([sensor.der]))).toBe('accepted');
    expect(trust.status().verifiedChains.hits - hits).toBe(1);
    return sensor;
  }

  it('a leaf comes back alone (a ticket resumption): served from the verdict on its chain', async () => {
    await leafRemembered('leaf-alone');
  });

  it('revoked: a CRL that lists it refuses the leaf alone', async () => {
    const sensor = await leafRemembered('leaf-revoked', { serial: 0x5e11n });
    const crl = buildTestCrl({
      issuer: { certDer: ca.der, privateKey: ca.keyPair.privateKey },
      thisUpdate: new Date(now - 60_000),
      nextUpdate: new Date(now + 86_400_000),
      crlNumber: 1n,
      entries: [{ serial: 0x5e11n, revokedAt: new Date(now - 60_000) }],
    });
    new CrlStore(store).import(crl, [ca.der], 'test', new Date(now));
    trust.reload('CRL');
    expect(reasonOf(trust.verify([sensor.der]))).toBe('revoked');
  });

  it('denied: a deny-list entry refuses the leaf alone after the reload', async () => {
    const sensor = await leafRemembered('leaf-denied');
    new DenyList(store).add('sha256', sha256Hex(sensor.der), { reason: 'stolen' });
    trust.reload('test');
    expect(reasonOf(trust.verify([sensor.der]))).toBe('denied');
  });

  it('disabled: an enrollment disabled in the database refuses the leaf alone (data version)', async () => {
    const sensor = await leafRemembered('leaf-disabled');
    const enrollments = new Enrollments(store);
    enrollments.addIndividual(sha256Hex(sensor.der));
    enrollments.disable('individual', sha256Hex(sensor.der));
    expect(reasonOf(trust.verify([sensor.der]))).toBe('enrollment-disabled');
  });

  it('expired: past its notAfter the leaf alone is refused', async () => {
    const sensor = await leafRemembered('leaf-expiring', { notAfter: new Date(now + 60_000) });
    now += 120_000;
    expect(reasonOf(trust.verify([sensor.der]))).toBe('expired');
  });
});
