import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../../../../src/store/index.js';
import { Enrollments } from '../../../../src/trust/enrollment/index.js';
import { TrustError } from '../../../../src/trust/index.js';
import { sensorIdentity } from '../../../helpers/sensor-identity-fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'egw-enrollments-'));
let store: Store;
let enrollments: Enrollments;
let counter = 0;
afterAll(() => store?.close());
beforeEach(() => {
  store?.close();
  store = Store.open(join(dir, `state-${++counter}.db`));
  enrollments = new Enrollments(store);
});

const SENSOR = 'a'.repeat(64);
const ISSUER = 'b'.repeat(64);
const ANCHOR = 'c'.repeat(64);
const PATH = [ISSUER, ANCHOR];
const T0 = new Date('2030-01-01T00:00:00Z');

function thrown(work: () => unknown): TrustError {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(TrustError);
    return error as TrustError;
  }
  throw new Error('expected an error');
}

describe('Enrollments: judging a sensor with a valid path', () => {
  it('admits an individually enrolled sensor, whatever its CAs', () => {
    enrollments.addIndividual(SENSOR, { label: 'boiler' });
    expect(enrollments.judge(sensorIdentity(), [])).toEqual({
      ok: true,
      enrollment: { kind: 'individual', sha256: SENSOR, label: 'boiler' },
    });
  });

  it('refuses a sensor whose individual enrollment is disabled, even when its CA has an enabled group', () => {
    enrollments.addGroup(ANCHOR);
    enrollments.addIndividual(SENSOR);
    enrollments.disable('individual', SENSOR);
    expect(enrollments.judge(sensorIdentity(), PATH)).toEqual({
      ok: false,
      refusal: { reason: 'enrollment-disabled', detail: 'individual enrollment is disabled', depth: 0 },
    });
  });

  it('lets the nearest CA with a group enrollment decide', () => {
    enrollments.addGroup(ANCHOR, { label: 'root' });
    expect(enrollments.judge(sensorIdentity(), PATH)).toEqual({
      ok: true,
      enrollment: { kind: 'group', sha256: ANCHOR, label: 'root' },
    });
    enrollments.addGroup(ISSUER, { label: 'line 2' });
    enrollments.disable('group', ISSUER);
    expect(enrollments.judge(sensorIdentity(), PATH)).toEqual({
      ok: false,
      refusal: {
        reason: 'enrollment-disabled',
        detail: `group enrollment of CA ${ISSUER} "line 2" is disabled`,
        depth: 1,
      },
    });
    enrollments.enable('group', ISSUER);
    expect(enrollments.judge(sensorIdentity(), PATH)).toMatchObject({
      ok: true,
      enrollment: { sha256: ISSUER },
    });
  });

  it('applies the group constraints: device type', () => {
    enrollments.addGroup(ISSUER, { constraints: { deviceTypes: ['hygro', 'baro'] } });
    expect(enrollments.judge(sensorIdentity({ deviceType: 'thermo' }), PATH)).toEqual({
      ok: false,
      refusal: {
        reason: 'constraint-device-type',
        detail: `device type "thermo" is not one of "hygro", "baro" allowed by group enrollment of CA ${ISSUER}`,
        depth: 0,
      },
    });
    expect(enrollments.judge(sensorIdentity({ deviceType: undefined }), PATH)).toMatchObject({
      ok: false,
      refusal: { reason: 'constraint-device-type' },
    });
    expect(enrollments.judge(sensorIdentity({ deviceType: 'baro' }), PATH).ok).toBe(true);
  });

  it('applies the group constraints: the CN pattern matches the whole CN', () => {
    enrollments.addGroup(ISSUER, { constraints: { cnPattern: 'sensor-[0-9]+' } });
    expect(enrollments.judge(sensorIdentity({ commonName: 'sensor-12' }), PATH).ok).toBe(true);
    for (const commonName of ['evil-sensor-12', 'sensor-12x', undefined]) {
      expect(enrollments.judge(sensorIdentity({ commonName }), PATH)).toMatchObject({
        ok: false,
        refusal: { reason: 'constraint-cn', depth: 0 },
      });
    }
    expect(enrollments.judge(sensorIdentity({ commonName: 'evil-sensor-12' }), PATH)).toMatchObject({
      refusal: {
        detail: `CN "evil-sensor-12" does not match /sensor-[0-9]+/ of group enrollment of CA ${ISSUER}`,
      },
    });
  });

  it('refuses a sensor nothing enrolls as not-enrolled', () => {
    enrollments.addIndividual('d'.repeat(64));
    enrollments.addGroup('e'.repeat(64));
    expect(enrollments.judge(sensorIdentity(), PATH)).toEqual({
      ok: false,
      refusal: {
        reason: 'not-enrolled',
        detail: `no individual enrollment of ${SENSOR} and no group enrollment of a CA on its path`,
        depth: 0,
      },
    });
  });
});

describe('Enrollments: operator changes', () => {
  it('normalises thumbprints (colons, upper case) and refuses anything else', () => {
    const colons = SENSOR.toUpperCase().match(/../g)?.join(':') ?? '';
    expect(enrollments.addIndividual(colons).enrollment.sha256).toBe(SENSOR);
    expect(enrollments.get('individual', SENSOR.toUpperCase())?.sha256).toBe(SENSOR);
    for (const bad of ['', 'a'.repeat(63), 'g'.repeat(64), `${SENSOR}00`]) {
      expect(thrown(() => enrollments.addIndividual(bad)).code).toBe('EGW_TRUST_INVALID_ARGUMENT');
    }
  });

  it('validates group constraints: the pattern must compile, device types must be non-empty strings', () => {
    expect(
      thrown(() => enrollments.addGroup(ISSUER, { constraints: { cnPattern: 'sensor-(' } })).message,
    ).toMatch(/^CN pattern "sensor-\(" is not a regular expression/);
    expect(
      thrown(() => enrollments.addGroup(ISSUER, { constraints: { deviceTypes: ['thermo', ' '] } })).message,
    ).toBe('group enrollment constraints: device type " " is not a non-empty string');
    expect(
      thrown(() =>
        enrollments.addGroup(ISSUER, { constraints: { deviceTypes: 'thermo' as unknown as string[] } }),
      ).code,
    ).toBe('EGW_TRUST_INVALID_ARGUMENT');
    expect(enrollments.list()).toEqual([]);
    const { enrollment } = enrollments.addGroup(ISSUER, {
      constraints: { deviceTypes: [' thermo', 'thermo', 'baro'], cnPattern: '' },
    });
    expect(enrollment.constraints).toEqual({ deviceTypes: ['thermo', 'baro'] });
  });

  it('re-adding updates label and constraints but keeps a disabled enrollment disabled', () => {
    expect(
      enrollments.addGroup(ISSUER, { label: 'first', constraints: { cnPattern: 'a' } }, T0).created,
    ).toBe(true);
    enrollments.disable('group', ISSUER);
    const again = enrollments.addGroup(
      ISSUER,
      { constraints: { deviceTypes: ['thermo'] } },
      new Date(T0.getTime() + 1000),
    );
    expect(again.created).toBe(false);
    expect(again.enrollment).toMatchObject({
      label: 'first',
      enabled: false,
      constraints: { deviceTypes: ['thermo'] },
      createdAt: T0,
    });
  });

  it('enable, disable and remove answer NOT_FOUND for what does not exist (kinds are distinct)', () => {
    enrollments.addIndividual(SENSOR);
    expect(thrown(() => enrollments.disable('group', SENSOR)).code).toBe('EGW_TRUST_NOT_FOUND');
    expect(enrollments.remove('individual', SENSOR).sha256).toBe(SENSOR);
    expect(thrown(() => enrollments.remove('individual', SENSOR)).code).toBe('EGW_TRUST_NOT_FOUND');
    expect(thrown(() => enrollments.enable('individual', SENSOR)).code).toBe('EGW_TRUST_NOT_FOUND');
  });

  it('lists individual enrollments first, then groups, oldest first; reads what another instance wrote', () => {
    enrollments.addGroup(ANCHOR, {}, new Date(1000));
    enrollments.addIndividual(SENSOR, {}, new Date(3000));
    new Enrollments(store).addGroup(ISSUER, {}, new Date(2000));
    expect(enrollments.list().map((entry) => [entry.kind, entry.sha256])).toEqual([
      ['individual', SENSOR],
      ['group', ANCHOR],
      ['group', ISSUER],
    ]);
    expect(enrollments.list('group')).toHaveLength(2);
  });
});
