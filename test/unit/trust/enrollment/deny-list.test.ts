import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../../../../src/store/index.js';
import { DenyList, denyTarget } from '../../../../src/trust/enrollment/index.js';
import { TrustError } from '../../../../src/trust/index.js';
import { OpensslPki } from '../../../helpers/openssl-pki.js';
import { sensorIdentity } from '../../../helpers/sensor-identity-fixture.js';

const pki = new OpensslPki();
pki.selfSignedLeaf('sensor', '/CN=sensor-7');
let store: Store;
let counter = 0;
afterAll(() => store?.close());
beforeEach(() => {
  store?.close();
  store = Store.open(pki.path(`state-${++counter}.db`));
});

function thrown(work: () => unknown): TrustError {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(TrustError);
    return error as TrustError;
  }
  throw new Error('expected an error');
}

describe('denyTarget', () => {
  it('reads 64 hex digits as a thumbprint and anything else as a serial, normalised', () => {
    const sha = 'AB'.repeat(32);
    expect(denyTarget(sha)).toEqual({ kind: 'sha256', value: 'ab'.repeat(32) });
    expect(denyTarget(sha.match(/../g)?.join(':') ?? '')).toEqual({ kind: 'sha256', value: 'ab'.repeat(32) });
    expect(denyTarget('00:0A:1B')).toEqual({ kind: 'serial', value: 'a1b' });
    expect(denyTarget('0x00ff')).toEqual({ kind: 'serial', value: 'ff' });
    expect(denyTarget('00')).toEqual({ kind: 'serial', value: '0' });
    expect(denyTarget(sha, { serial: true })).toEqual({ kind: 'serial', value: 'ab'.repeat(32) });
    expect(thrown(() => denyTarget('sensor-7')).code).toBe('EGW_TRUST_INVALID_ARGUMENT');
  });
});

describe('DenyList', () => {
  it('matches a sensor by thumbprint or by serial as openssl prints it', () => {
    const deny = new DenyList(store);
    const serial = pki.serial('sensor');
    const identity = sensorIdentity({
      sha256: pki.sha256('sensor'),
      certificateSerial: serial.toLowerCase().replace(/^0+/, ''),
    });
    expect(deny.match(identity)).toBeUndefined();
    const { entry } = deny.add('serial', serial.match(/../g)?.join(':') ?? serial, { reason: 'stolen' });
    expect(deny.match(identity)).toEqual(entry);
    expect(entry).toMatchObject({ kind: 'serial', reason: 'stolen' });
    deny.remove('serial', serial);
    expect(deny.match(identity)).toBeUndefined();
    deny.add('sha256', pki.sha256('sensor').toUpperCase());
    expect(deny.match(identity)?.kind).toBe('sha256');
    expect(deny.match(sensorIdentity({ sha256: 'f'.repeat(64), certificateSerial: '99' }))).toBeUndefined();
  });

  it('sees what another process wrote only after reload()', () => {
    const daemon = new DenyList(store);
    const identity = sensorIdentity({ certificateSerial: 'abc' });
    new DenyList(store).add('serial', '0ABC', { reason: 'operator' });
    expect(daemon.match(identity)).toBeUndefined();
    daemon.reload();
    expect(daemon.match(identity)?.reason).toBe('operator');
    new DenyList(store).remove('serial', 'abc');
    new DenyList(store).add('sha256', identity.sha256);
    expect(daemon.match(identity)?.kind).toBe('serial');
    daemon.reload();
    expect(daemon.match(identity)?.kind).toBe('sha256');
    new DenyList(store).remove('sha256', identity.sha256);
    daemon.reload();
    expect(daemon.match(identity)).toBeUndefined();
  });

  it('updates the reason of an existing entry and keeps its date; NOT_FOUND on removing twice', () => {
    const deny = new DenyList(store);
    expect(deny.add('serial', '1f', { reason: 'first' }, new Date(1000)).created).toBe(true);
    const again = deny.add('serial', '001F', { reason: 'second' }, new Date(2000));
    expect(again).toEqual({
      created: false,
      entry: { kind: 'serial', value: '1f', reason: 'second', createdAt: new Date(1000) },
    });
    expect(deny.add('serial', '1f').entry.reason).toBe('second');
    expect(deny.list()).toHaveLength(1);
    deny.remove('serial', '1F');
    expect(thrown(() => deny.remove('serial', '1f')).code).toBe('EGW_TRUST_NOT_FOUND');
    expect(thrown(() => deny.add('sha256', '1f')).code).toBe('EGW_TRUST_INVALID_ARGUMENT');
  });
});
