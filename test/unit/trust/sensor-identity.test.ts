import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/index.js';
import { Store } from '../../../src/store/index.js';
import { Enrollments, sha256Hex } from '../../../src/trust/enrollment/index.js';
import {
  ClockFloor,
  SensorNames,
  SensorTrust,
  type SensorVerdict,
  TrustBundleStore,
  upstreamNameOf,
} from '../../../src/trust/index.js';
import { type TestCertificate, TestPki } from '../../helpers/test-pki.js';

/*
 * A sensor's upstream identity (issue 15, item 1): the name (CN, or trust.sensor_name_from) is bound to the first enrollment that
 * presents it; a certificate of another enrollment with the same name (in any letter case) is
 * refused with identity-conflict, unless the operator releases the name.
 */

let pki: TestPki;
let dir: string;
let store: Store;
let trust: SensorTrust;
let warnings: string[];
/** CA A: in downstream.dtls.sensor_ca_files (implicit group enrollment). */
let caA: TestCertificate;
/** CA B: another vendor's CA, registered and group-enrolled by the operator. */
let caB: TestCertificate;

beforeAll(async () => {
  pki = await TestPki.create();
  caA = await pki.root({ commonName: 'Vendor A Sensor CA' });
  caB = await pki.root({ commonName: 'Vendor B Sensor CA' });
});

afterAll(() => {
  store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  pki?.remove();
});

beforeEach(() => {
  if (store) store.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = mkdtempSync(join(tmpdir(), 'egw-sensor-identity-'));
  store = Store.open(join(dir, 'state.db'));
  warnings = [];
  const log = {
    info() {},
    debug() {},
    warn(_fields: object, message: string) {
      warnings.push(message);
    },
  };
  new TrustBundleStore(store).add('sensors', caB.der, { source: 'operator', role: 'anchor' });
  new Enrollments(store).addGroup(sha256Hex(caB.der), { label: 'vendor B' });
  trust = new SensorTrust({
    store,
    settings: parseConfigText('', 'test.toml').trust,
    clock: new ClockFloor(store),
    log,
    fileAnchors: [caA.der],
  });
});

const verify = (certificate: TestCertificate): SensorVerdict => trust.verify([certificate.der]);

/** The trust service again, on the same store, with `[trust]` keys from a config file. */
function useTrustConfig(toml: string): void {
  trust = new SensorTrust({
    store,
    settings: parseConfigText(`[trust]\n${toml}`, 'test.toml').trust,
    clock: new ClockFloor(store),
    log: { info() {}, debug() {}, warn() {} },
    fileAnchors: [caA.der],
  });
}

function nameOf(verdict: SensorVerdict): string | undefined {
  if (!verdict.ok) throw new Error(`refused: ${verdict.refusal.reason}: ${verdict.refusal.detail}`);
  return verdict.identity.upstreamName;
}

function reasonOf(verdict: SensorVerdict): string {
  return verdict.ok ? 'accepted' : verdict.refusal.reason;
}

describe('sensor identity: a name belongs to the first enrollment presenting it', () => {
  it('refuses the same CN from a thumbprint-enrolled self-signed certificate (identity-conflict)', async () => {
    const victim = await pki.sensor(caA, { commonName: 'th-1' });
    expect(nameOf(verify(victim))).toBe('th-1');
    const forged = await pki.sensor(undefined, { commonName: 'th-1' });
    new Enrollments(store).addIndividual(sha256Hex(forged.der), { label: 'bench unit' });
    const verdict = verify(forged);
    expect(reasonOf(verdict)).toBe('identity-conflict');
    expect(verdict.ok ? '' : verdict.refusal.detail).toContain(`group:${sha256Hex(caA.der)}`);
    expect(trust.status().refused['identity-conflict']).toBe(1);
    expect(warnings.some((message) => message.includes('identity-conflict'))).toBe(true);
    // The victim keeps its name.
    expect(nameOf(verify(victim))).toBe('th-1');
  });

  it('refuses the same CN, in another letter case, from another CA', async () => {
    expect(nameOf(verify(await pki.sensor(caA, { commonName: 'th-1' })))).toBe('th-1');
    expect(reasonOf(verify(await pki.sensor(caB, { commonName: 'th-1' })))).toBe('identity-conflict');
    expect(reasonOf(verify(await pki.sensor(caB, { commonName: 'TH-1' })))).toBe('identity-conflict');
  });

  it('a re-keyed CA (same name, new key) is another enrollment', async () => {
    expect(nameOf(verify(await pki.sensor(caB, { commonName: 'th-7' })))).toBe('th-7');
    const rekeyed = await pki.root({ commonName: 'Vendor B Sensor CA' });
    new TrustBundleStore(store).add('sensors', rekeyed.der, { source: 'operator', role: 'anchor' });
    new Enrollments(store).addGroup(sha256Hex(rekeyed.der));
    trust.reload();
    expect(reasonOf(verify(await pki.sensor(rekeyed, { commonName: 'th-7' })))).toBe('identity-conflict');
  });

  it('a renewed certificate from the same enrollment is the same sensor', async () => {
    expect(nameOf(verify(await pki.sensor(caA, { commonName: 'th-1' })))).toBe('th-1');
    const renewed = await pki.sensor(caA, { commonName: 'th-1' });
    expect(nameOf(verify(renewed))).toBe('th-1');
  });

  it('the operator releases a name, or moves it to another enrollment', async () => {
    const victim = await pki.sensor(caA, { commonName: 'th-1' });
    const other = await pki.sensor(caB, { commonName: 'th-1' });
    expect(nameOf(verify(victim))).toBe('th-1');
    expect(reasonOf(verify(other))).toBe('identity-conflict');
    const names = new SensorNames(store);
    names.release('TH-1', { to: `group:${sha256Hex(caB.der)}` });
    expect(nameOf(verify(other))).toBe('th-1');
    expect(reasonOf(verify(victim))).toBe('identity-conflict');
    // Released without a new owner: the next enrollment presenting it binds it.
    names.release('th-1');
    expect(nameOf(verify(victim))).toBe('th-1');
    expect(names.get('th-1')?.enrollment).toBe(`group:${sha256Hex(caA.der)}`);
  });

  it('no CN can claim another sensor\'s "sha256-" fallback name', async () => {
    const victim = await pki.sensor(caA, { commonName: 'th 9' }); // not topic-safe
    const fallback = nameOf(verify(victim));
    expect(fallback).toBe(`sha256-${sha256Hex(victim.der).slice(0, 16)}`);
    for (const commonName of [fallback ?? '', fallback?.toUpperCase() ?? '']) {
      const squatter = await pki.sensor(caB, { commonName });
      const name = nameOf(verify(squatter));
      expect(name).toBe(`sha256-${sha256Hex(squatter.der).slice(0, 16)}`);
      expect(name).not.toBe(fallback);
    }
  });
});

describe('sensor identity from trust.sensor_name_from', () => {
  it('"serialNumber": different CNs with one serialNumber from two enrollments are one name (identity-conflict)', async () => {
    useTrustConfig('sensor_name_from = "serialNumber"');
    const victim = await pki.sensor(caA, { commonName: 'th-1', serialNumber: 'SN-0042' });
    expect(nameOf(verify(victim))).toBe('SN-0042');
    const verdict = verify(await pki.sensor(caB, { commonName: 'th-2', serialNumber: 'sn-0042' }));
    expect(reasonOf(verdict)).toBe('identity-conflict');
    expect(verdict.ok ? '' : verdict.refusal.detail).toContain(`group:${sha256Hex(caA.der)}`);
    expect(new SensorNames(store).get('SN-0042')?.enrollment).toBe(`group:${sha256Hex(caA.der)}`);
    // Another certificate of the victim's enrollment is the same sensor, whatever its CN.
    expect(nameOf(verify(await pki.sensor(caA, { commonName: 'th-1b', serialNumber: 'SN-0042' })))).toBe(
      'SN-0042',
    );
  });

  it('"san:dns": different CNs with one first dNSName from two enrollments are one name (identity-conflict)', async () => {
    useTrustConfig('sensor_name_from = "san:dns"');
    const victim = await pki.sensor(caA, {
      commonName: 'th-1',
      dnsNames: ['th.plant-7.example', 'x.example'],
    });
    expect(nameOf(verify(victim))).toBe('th.plant-7.example');
    const forged = await pki.sensor(caB, { commonName: 'th-2', dnsNames: ['th.plant-7.example'] });
    expect(reasonOf(verify(forged))).toBe('identity-conflict');
    // The second dNSName is not the name: it binds nothing.
    expect(
      nameOf(verify(await pki.sensor(caB, { commonName: 'th-3', dnsNames: ['y.example', 'x.example'] }))),
    ).toBe('y.example');
  });

  it('"cn" (the default) ignores serialNumber and SANs: the same two sensors are two names', async () => {
    expect(nameOf(verify(await pki.sensor(caA, { commonName: 'th-1', serialNumber: 'SN-0042' })))).toBe(
      'th-1',
    );
    expect(nameOf(verify(await pki.sensor(caB, { commonName: 'th-2', serialNumber: 'SN-0042' })))).toBe(
      'th-2',
    );
  });

  it('falls back to the thumbprint name when the configured value is missing', async () => {
    useTrustConfig('sensor_name_from = "san:dns"');
    const sensor = await pki.sensor(caA, { commonName: 'th-1', dnsNames: [], uris: ['urn:dev:th-1'] });
    expect(nameOf(verify(sensor))).toBe(`sha256-${sha256Hex(sensor.der).slice(0, 16)}`);
  });
});

describe('upstreamNameOf', () => {
  it('takes a topic-safe CN, else the thumbprint fallback', () => {
    const sha256 = 'ab'.repeat(32);
    expect(upstreamNameOf({ commonName: 'th-1', sha256 })).toBe('th-1');
    expect(upstreamNameOf({ commonName: 'th/1', sha256 })).toBe('sha256-abababababababab');
    expect(upstreamNameOf({ commonName: undefined, sha256 })).toBe('sha256-abababababababab');
    expect(upstreamNameOf({ commonName: 'SHA256-0123456789abcdef', sha256 })).toBe('sha256-abababababababab');
  });

  it('takes the configured source, with the same topic-safe rule and fallback', () => {
    const sha256 = 'cd'.repeat(32);
    const fallback = 'sha256-cdcdcdcdcdcdcdcd';
    const identity = {
      sha256,
      commonName: 'th-1',
      serialNumber: 'SN-42',
      subjectAltNames: [
        { type: 'uri' as const, value: 'urn:dev:7' },
        { type: 'email' as const, value: 'th@example.com' },
        { type: 'dns' as const, value: 'th-1.plant.example' },
        { type: 'dns' as const, value: 'second.example' },
      ],
    };
    expect(upstreamNameOf(identity)).toBe('th-1');
    expect(upstreamNameOf(identity, 'cn')).toBe('th-1');
    expect(upstreamNameOf(identity, 'serialNumber')).toBe('SN-42');
    expect(upstreamNameOf(identity, 'san:dns')).toBe('th-1.plant.example');
    // Missing.
    expect(upstreamNameOf({ ...identity, serialNumber: undefined }, 'serialNumber')).toBe(fallback);
    expect(upstreamNameOf({ ...identity, subjectAltNames: [] }, 'san:dns')).toBe(fallback);
    expect(upstreamNameOf({ sha256, commonName: 'th-1' }, 'san:dns')).toBe(fallback);
    // Not topic-safe, too long, or the reserved prefix.
    expect(upstreamNameOf({ ...identity, serialNumber: 'SN 42' }, 'serialNumber')).toBe(fallback);
    expect(upstreamNameOf({ ...identity, serialNumber: 'S/N#42' }, 'serialNumber')).toBe(fallback);
    expect(upstreamNameOf({ ...identity, serialNumber: '9'.repeat(65) }, 'serialNumber')).toBe(fallback);
    expect(upstreamNameOf({ ...identity, serialNumber: 'Sha256-0123456789abcdef' }, 'serialNumber')).toBe(
      fallback,
    );
    expect(
      upstreamNameOf(
        { ...identity, subjectAltNames: [{ type: 'dns', value: '*.plant.example' }] },
        'san:dns',
      ),
    ).toBe(fallback);
    expect(
      upstreamNameOf(
        { ...identity, subjectAltNames: [{ type: 'dns', value: 'sha256-abababababababab' }] },
        'san:dns',
      ),
    ).toBe(fallback);
  });
});
