import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulatedAtecc608Bus } from '../../src/daemon/simulated-atecc608-bus.js';
import { type Atecc608DeviceParams, Atecc608KeyDevice } from '../../src/keys/atecc608/index.js';
import { WorkerKeyStore } from '../../src/keys/index.js';
import { keyStoreCallDuration, timedKeyStore } from '../../src/metrics/index.js';

// The worker runs the compiled device (dist/src/keys/atecc608) and simulator (dist/hw-sim/atecc608):
// build first (`npm test` does).
let work: string;
let params: Atecc608DeviceParams;
let spki: Uint8Array;
let store: WorkerKeyStore;

const verifies = (data: Buffer, signature: Uint8Array) =>
  verify(
    'sha256',
    data,
    {
      key: createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }),
      dsaEncoding: 'ieee-p1363',
    },
    signature,
  );

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'egw-atecc-store-'));
  const statePath = join(work, 'atecc608.json');
  // Provision the way a technician would (on the calling thread, timing off for speed).
  const technician = new Atecc608KeyDevice({
    bus: 1,
    address: 0x60,
    keySlot: 0,
    i2cBus: simulatedAtecc608Bus({ statePath, timing: false }),
  });
  try {
    spki = technician.generateKey({ overwrite: false });
    technician.storeCertificates({
      device: Uint8Array.of(0x30, ...randomBytes(500)),
      signer: Uint8Array.of(0x30, ...randomBytes(450)),
    });
    technician.lock();
  } finally {
    technician.close();
  }
  // The daemon's view: the same part, with real execution times, in a worker thread.
  params = { bus: 1, address: 0x60, keySlot: 0, i2cBus: simulatedAtecc608Bus({ statePath, timing: true }) };
  store = await WorkerKeyStore.open('atecc608', params);
});

afterAll(async () => {
  await store?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('WorkerKeyStore over the ATECC608A driver and the simulated part', () => {
  it('opens the provisioned key and reports the part', async () => {
    expect(store.info).toMatchObject({
      backend: 'atecc608',
      hardwareBacked: false,
      model: 'ATECC608A rev 0x6002 (hw-sim simulator)',
      keyLocation: 'slot 0',
    });
    expect(store.info.serial).toMatch(/^0123[0-9A-F]{12}EE$/);
    expect(Buffer.from(await store.publicKey())).toEqual(Buffer.from(spki));
  });

  it('signs off the main thread: the event loop keeps turning while the part works', async () => {
    const data = Buffer.from('telemetry batch 42');
    let ticks = 0;
    let spinning = true;
    const spin = () => {
      if (!spinning) return;
      ticks++;
      setImmediate(spin);
    };
    setImmediate(spin);
    const signature = await store.signDigest(createHash('sha256').update(data).digest());
    spinning = false;
    expect(verifies(data, signature)).toBe(true);
    expect(ticks).toBeGreaterThan(10);
  });

  it('signs synchronously for the TLS engine callback', () => {
    const data = Buffer.from('handshake transcript');
    const signature = store.signDigestSync(createHash('sha256').update(data).digest());
    expect(verifies(data, signature)).toBe(true);
  });

  it('passes its health check: round trip, serial, revision, lock state', async () => {
    const report = await store.healthCheck();
    expect(report.checks.map((check) => check.name)).toEqual(
      expect.arrayContaining(['ATECC608A serial number', 'ATECC608A revision', 'ATECC608A zones locked']),
    );
    expect(report.ok).toBe(true);
  });

  // With [metrics] listen set the daemon uses the store through timedKeyStore's Proxy: the store's
  // getters read private fields, so they must run on the store itself, not on the Proxy (the daemon
  // with metrics and a hardware key once said "Cannot read private member #info" and would not start).
  it('works timed for the metrics endpoint: info, signatures, and each call observed by backend', async () => {
    const timed = timedKeyStore(store);
    expect(timed.info).toEqual(store.info);
    const data = Buffer.from('timed sensor challenge');
    const signature = await timed.signDigest(createHash('sha256').update(data).digest());
    expect(verifies(data, signature)).toBe(true);
    const samples = (await keyStoreCallDuration.get()).values;
    const count = samples.find(
      (sample) =>
        sample.metricName?.endsWith('_count') &&
        sample.labels.backend === store.info.backend &&
        sample.labels.operation === 'signDigest' &&
        sample.labels.result === 'ok',
    );
    expect(count?.value).toBe(1);
  });

  it('refuses to open a part that holds no key, with the code the daemon reports', async () => {
    const empty = {
      ...params,
      i2cBus: simulatedAtecc608Bus({ statePath: join(work, 'blank.json'), timing: false }),
    };
    await expect(WorkerKeyStore.open('atecc608', empty)).rejects.toMatchObject({ code: 'EGW_KEY_NOT_FOUND' });
  });
});
