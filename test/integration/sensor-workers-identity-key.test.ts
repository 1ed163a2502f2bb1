import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SensorCa, SimulatedSensor } from '../../hw-sim/sensors/index.js';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import type { SensorWorkersStatus } from '../../src/downstream/index.js';
import { pemBlocks } from '../../src/pki/index.js';
import {
  type GatewayFixture,
  gatewayctl,
  gatewayFixture,
  provisionFactory,
  startDaemon,
} from '../helpers/daemon-harness.js';

/**
 * Sensor workers signing with the identity key in the ATECC608A (simulator): the device stays the
 * main thread's (its worker), and each sensor worker's handshakes sign through the key store's
 * shared-memory channel. Sensors spread over both workers complete full handshakes under the
 * gateway's device certificate and are answered.
 */
const factoryCaScript = new URL('../../scripts/factory-ca.sh', import.meta.url).pathname;
const SENSORS = 10;

let work: string;
let fixture: GatewayFixture;
let service: ServiceSupervisor;
const sensors: SimulatedSensor[] = [];

async function status(): Promise<{ sensorEndpoint: SensorWorkersStatus }> {
  const result = await gatewayctl('status', '--json', '--socket', fixture.socketPath);
  if (result.code !== 0) throw new Error(`gatewayctl status failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'egw-workers-key-'));
  const factoryDir = join(work, 'factory');
  execFileSync(factoryCaScript, ['init', factoryDir], { stdio: 'pipe' });
  const sensorCa = SensorCa.open(join(work, 'sensor-ca'));
  fixture = gatewayFixture();
  // The harness's config names the software key store: this one names the ATECC608A (simulator).
  writeFileSync(
    fixture.configPath,
    `[store]\npath = "${fixture.dbPath}"\n[control]\nsocket = "${fixture.socketPath}"\n` +
      `[identity]\ncertificate_dir = "${fixture.dir}/identity"\n[identity.key]\nbackend = "atecc608"\n` +
      `[identity.key.atecc608]\nsimulator_state = "${join(work, 'atecc608.json')}"\n` +
      '[downstream.dtls]\nenabled = true\nhost = "127.0.0.1"\nport = 0\nworkers = 2\n' +
      `sensor_ca_files = ["${sensorCa.certificateFile}"]\n` +
      'signatures_per_second = 1000\nhandshakes_per_second_per_address = 500\nhandshake_burst_per_address = 500\n' +
      'half_open_handshakes_per_address = 500\n',
  );
  await provisionFactory(fixture.configPath, factoryDir, '--yes');
  service = startDaemon(fixture.configPath);
  await service.waitReady();
  const port = Number((await status()).sensorEndpoint.listening.split(':').at(-1));
  const gatewayCa = pemBlocks(readFileSync(join(factoryDir, 'root.crt'), 'utf8'));
  for (let i = 0; i < SENSORS; i++) {
    sensors.push(
      new SimulatedSensor({
        credentials: sensorCa.issue({ commonName: `keyed-${i}` }),
        gateway: { host: '127.0.0.1', port },
        gatewayCa,
        commandsPath: null,
        connectAttempts: 3,
      }),
    );
  }
});

afterAll(async () => {
  await Promise.all(sensors.map((s) => s.stop()));
  await service?.dispose();
  if (fixture) rmSync(fixture.dir, { recursive: true, force: true });
  if (work) rmSync(work, { recursive: true, force: true });
});

it('workers sign full handshakes with the identity key in the ATECC608A through its shared-memory channel', async () => {
  await Promise.all(sensors.map((s) => s.start()));
  // discover: GET /.well-known/core and /time were answered on each session.
  for (const s of sensors) {
    expect(s.state).toBe('connected');
    expect(s.result().discoveredResources).toContain('/time');
  }
  const endpoint = (await status()).sensorEndpoint;
  expect(endpoint.serverKey).toMatch(/^identity key \(ATECC608A/);
  expect(endpoint.handshakes.signatures).toBe(SENSORS);
  // Both workers signed (all 10 on one worker: 1 in 512).
  for (const worker of endpoint.workers) expect(worker.handshakesCompleted).toBeGreaterThan(0);
});
