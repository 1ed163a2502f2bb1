import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import type { DtlsClient } from '../../src/tls/index.js';
import { ASSUME_UNSYNCHRONIZED_ENV } from '../../src/trust/clock-floor.js';
import { fakeClockEnv, type GatewayFixture, gatewayctl } from '../helpers/daemon-harness.js';
import { connectDaemonSensor, makeFactoryCaKit } from '../helpers/daemon-sensor-client.js';
import {
  sensorDaemonStatus as daemonStatus,
  provisionedSensorGateway,
  startSensorDaemon,
} from '../helpers/sensor-daemon.js';
import { buildTestCrl, type TestCa, type TestCertificate, TestPkiDir } from '../helpers/test-crl.js';

/**
 * The clock floor in the running daemon: a boot with the clock at 2099 and no NTP synchronisation
 * must leave no lasting harm (the floor stays on evidence), and `gatewayctl clock` shows and resets it.
 */
let caDir: string;
let gatewayRoot: Uint8Array;
let pki: TestPkiDir;
let sensorCa: TestCa;
const services: ServiceSupervisor[] = [];
const clients: DtlsClient[] = [];

beforeAll(() => {
  ({ caDir, gatewayRoot } = makeFactoryCaKit('egw-clock-factory-'));
  pki = new TestPkiDir('egw-clock-daemon-');
  sensorCa = pki.ca('sensor-ca', { cn: 'Sensor CA' });
});
afterAll(() => pki?.remove());
afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  for (const service of services.splice(0)) await service.dispose();
});

function sensorGateway(): Promise<GatewayFixture> {
  return provisionedSensorGateway(caDir, [sensorCa.certFile]);
}

function run(
  fixture: GatewayFixture,
  env?: NodeJS.ProcessEnv,
): Promise<{ service: ServiceSupervisor; port: number }> {
  // The host's kernel may well be NTP-synchronised: the faked 2099 boot must not be.
  return startSensorDaemon(fixture, services, { [ASSUME_UNSYNCHRONIZED_ENV]: '1', ...env });
}

async function clock(fixture: GatewayFixture, ...args: string[]): Promise<Record<string, unknown>> {
  const result = await gatewayctl('clock', ...args, '-c', fixture.configPath, '--json');
  expect(result.code, result.stdout + result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

function connect(port: number, sensor: Pick<TestCertificate, 'certDer' | 'keyFile'>): Promise<DtlsClient> {
  return connectDaemonSensor(port, gatewayRoot, sensor).then((client) => {
    clients.push(client);
    return client;
  });
}

describe('clock floor in the daemon', () => {
  it('a boot with the clock at 2099 (no NTP sync) leaves no trace: the next normal boot validates sensors', async () => {
    const fixture = await sensorGateway();
    const sensor = pki.leaf('clock-sensor', sensorCa);
    // libfaketime: the daemon's clock (and OpenSSL's) reads 2099; the kernel says: not synchronised.
    const wrong = await run(fixture, fakeClockEnv('2099-06-01 00:00:00'));
    const during = await clock(fixture);
    expect(during.view).toBe('daemon');
    expect(String(during.system)).toMatch(/^2099-/);
    expect(during.synchronized).toBe(false);
    expect(Date.parse(String(during.floor))).toBeLessThan(Date.parse('2090-01-01'));
    await expect(connect(wrong.port, sensor)).rejects.toThrow(); // at 2099 the sensor is expired, for now
    await wrong.service.stop();

    const stored = await clock(fixture); // daemon stopped: the state database's view
    expect(stored.view).toBe('database');
    expect(Date.parse(String(stored.floor))).toBeLessThan(Date.parse('2090-01-01'));

    const normal = await run(fixture);
    await connect(normal.port, sensor);
    const trust = (await daemonStatus(fixture)).sensorTrust;
    expect(trust.refused.expired).toBeUndefined();
    expect(trust.clockBehindFloor).toBe(false);
  });

  it('a verified CRL raises the floor to its thisUpdate; gatewayctl clock reset lowers it (never raises), the daemon adopts it and the stored evidence stands', async () => {
    const fixture = await sensorGateway();
    await run(fixture);
    const raised = await gatewayctl(
      'clock',
      'reset',
      '--to',
      '2099-01-01T00:00:00Z',
      '-c',
      fixture.configPath,
      '--json',
    );
    expect(raised.code).toBe(1);
    expect(JSON.parse(raised.stdout).code).toBe('EGW_CLOCK_RESET_RAISES');
    const reset = await clock(fixture, 'reset', '--to-build-time');
    expect(reset.daemon).toBe('reloaded');
    expect(reset.by).toMatch(/uid \d+/);
    expect(await clock(fixture)).toMatchObject({
      floor: reset.to,
      source: 'reset',
      lastReset: { to: reset.to },
    });

    const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    const crl = buildTestCrl({ issuer: sensorCa, thisUpdate, nextUpdate: new Date(Date.now() + 86_400_000) });
    const imported = await gatewayctl(
      'trust',
      'crl',
      'import',
      pki.write('clock.crl', crl),
      '-c',
      fixture.configPath,
    );
    expect(imported.code, imported.stderr).toBe(0);
    expect(await clock(fixture)).toMatchObject({ floor: thisUpdate.toISOString(), source: 'crl' });

    const again = await clock(fixture, 'reset', '--to-build-time');
    expect(again).toMatchObject({ from: thisUpdate.toISOString(), to: reset.to, daemon: 'reloaded' });
    expect(again).toMatchObject({ floor: thisUpdate.toISOString(), source: 'crl' }); // the CRL is still stored
  });
});
