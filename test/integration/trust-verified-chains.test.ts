import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import { Store } from '../../src/store/index.js';
import type { DtlsClient } from '../../src/tls/index.js';
import { Enrollments } from '../../src/trust/enrollment/index.js';
import { fakeClockEnv, type GatewayFixture, gatewayctl } from '../helpers/daemon-harness.js';
import { connectDaemonSensor, makeFactoryCaKit } from '../helpers/daemon-sensor-client.js';
import {
  sensorDaemonStatus as daemonStatus,
  provisionedSensorGateway,
  startSensorDaemon,
} from '../helpers/sensor-daemon.js';
import { buildTestCrl, type TestCa, type TestCertificate, TestPkiDir } from '../helpers/test-crl.js';

/**
 * The daemon remembers accepted sensor chains (VerifiedChainCache) so a sensor's next handshake does
 * not validate the same chain again, and never serves a stale acceptance: a CRL, a disabled
 * enrollment written by another process, or the passing of a certificate's notAfter is seen on the
 * very next handshake. Each sensor first connects twice, the second time from the cache.
 */
let caDir: string;
let gatewayRoot: Uint8Array;
let pki: TestPkiDir;
let sensorCa: TestCa;
const services: ServiceSupervisor[] = [];
const clients: DtlsClient[] = [];

beforeAll(() => {
  ({ caDir, gatewayRoot } = makeFactoryCaKit('egw-verified-factory-'));
  pki = new TestPkiDir('egw-verified-chains-');
  sensorCa = pki.ca('sensor-ca', { cn: 'Sensor CA' });
});
afterAll(() => pki?.remove());
afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  for (const service of services.splice(0)) await service.dispose();
});

async function start(env?: NodeJS.ProcessEnv): Promise<{ fixture: GatewayFixture; port: number }> {
  const fixture = await provisionedSensorGateway(caDir, [sensorCa.certFile]);
  return { fixture, port: (await startSensorDaemon(fixture, services, env)).port };
}

async function connect(port: number, sensor: TestCertificate): Promise<DtlsClient> {
  const client = await connectDaemonSensor(port, gatewayRoot, sensor);
  clients.push(client);
  return client;
}

/** Two full handshakes of `sensor`, closed again: the second one is served from the cache. */
async function connectTwice(fixture: GatewayFixture, port: number, sensor: TestCertificate): Promise<void> {
  const before = (await daemonStatus(fixture)).sensorTrust.verifiedChains.hits;
  (await connect(port, sensor)).close();
  (await connect(port, sensor)).close();
  const after = (await daemonStatus(fixture)).sensorTrust.verifiedChains;
  expect(after.hits - before).toBe(1);
}

const sha256 = (der: Uint8Array) => createHash('sha256').update(der).digest('hex');

describe('verified sensor chains in the daemon', () => {
  it('a CRL imported by gatewayctl refuses the revoked sensor on its next handshake', async () => {
    const { fixture, port } = await start();
    const revoked = pki.leaf('cached-revoked', sensorCa);
    const kept = pki.leaf('cached-kept', sensorCa);
    await connectTwice(fixture, port, revoked);
    await connectTwice(fixture, port, kept);
    const now = Date.now();
    const crl = buildTestCrl({
      issuer: sensorCa,
      entries: [{ serial: revoked.serial, revokedAt: new Date(now - 60_000), reason: 1 }],
      thisUpdate: new Date(now - 60_000),
      nextUpdate: new Date(now + 86_400_000),
      crlNumber: 1n,
    });
    const imported = await gatewayctl(
      'trust',
      'crl',
      'import',
      pki.write('cached.crl', crl),
      '-c',
      fixture.configPath,
      '--json',
    );
    expect(imported.code, imported.stderr).toBe(0);
    await expect(connect(port, revoked)).rejects.toThrow();
    await connect(port, kept);
    expect((await daemonStatus(fixture)).sensorTrust.refused.revoked).toBe(1);
  });

  it('an enrollment disabled in the database by another process refuses the sensor on its next handshake', async () => {
    const { fixture, port } = await start();
    const sensor = pki.leaf('cached-disabled', sensorCa);
    await connectTwice(fixture, port, sensor);
    // Written behind the daemon's back (no reload): only the database changed.
    const store = Store.open(fixture.dbPath);
    try {
      const enrollments = new Enrollments(store);
      enrollments.addIndividual(sha256(sensor.certDer));
      enrollments.disable('individual', sha256(sensor.certDer));
    } finally {
      store.close();
    }
    await expect(connect(port, sensor)).rejects.toThrow();
    expect((await daemonStatus(fixture)).sensorTrust.refused['enrollment-disabled']).toBe(1);
  });

  it('a certificate past its notAfter is refused on the next handshake, cached or not', async () => {
    // The daemon's clock comes from a file the test moves (libfaketime); timers keep real time.
    const clockFile = join(pki.file('.'), 'daemon-clock');
    writeFileSync(clockFile, '+0\n');
    const faked = fakeClockEnv('2000-01-01 00:00:00');
    const { fixture, port } = await start({
      LD_PRELOAD: faked.LD_PRELOAD,
      FAKETIME_TIMESTAMP_FILE: clockFile,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    });
    const sensor = pki.leaf('cached-expiring', sensorCa); // valid for 2 days
    await connectTwice(fixture, port, sensor);
    writeFileSync(clockFile, '+3d\n');
    await expect(connect(port, sensor)).rejects.toThrow();
    expect((await daemonStatus(fixture)).sensorTrust.refused.expired).toBe(1);
  });
});
