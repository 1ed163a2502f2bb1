import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IPublishPacket, MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MosquittoBroker } from '../../hw-sim/broker/index.js';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import { type GatewayFixture, gatewayctl, gatewayFixture, startDaemon } from '../helpers/daemon-harness.js';
import { run, selfSignedSensor } from '../helpers/dtls-pki.js';
import { type TestCa, TestPkiDir } from '../helpers/test-crl.js';
import { TestPki } from '../helpers/tls-peers.js';
import { type Backend, connectBackend } from '../helpers/upstream-peers.js';

/**
 * The proxy end to end in the built daemon: a sensor (libcoap coap-client-openssl, an independent
 * CoAP/DTLS stack) POSTs telemetry; the gateway authenticates and authorizes it, stores it in its
 * outbox, and publishes it to mosquitto over mutual TLS under its own (factory) identity; a backend
 * subscriber receives it with the sensor's user properties.
 */
const factoryCa = new URL('../../scripts/factory-ca.sh', import.meta.url).pathname;
let work: string;
let caDir: string;
let sensors: TestPkiDir;
let sensorCa: TestCa;
let backendPki: TestPki;
let broker: MosquittoBroker;
let backend: MqttClient;
let backendPeer: Backend;
let fixture: GatewayFixture;
let service: ServiceSupervisor;
let port: number;
const received: { topic: string; payload: string; packet: IPublishPacket }[] = [];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'egw-proxy-'));
  caDir = join(work, 'factory');
  execFileSync(factoryCa, ['init', caDir], { stdio: 'pipe' });
  sensors = new TestPkiDir('egw-proxy-sensors-');
  sensorCa = sensors.ca('sensor-ca', { cn: 'Sensor CA' });
  backendPki = TestPki.create(join(work, 'backend-pki'));
  broker = await MosquittoBroker.start({
    dir: join(work, 'broker'),
    caFiles: [join(caDir, 'root.crt'), backendPki.factoryRoot],
  });
  backendPeer = await connectBackend(
    backendPki,
    broker,
    'BE01',
    { clientId: 'backend', reconnectPeriod: 0 },
    (topic, payload, packet) => received.push({ topic, payload: payload.toString(), packet }),
  );
  backend = backendPeer.client;
  await backend.subscribeAsync('devices/+/telemetry', { qos: 1 });

  fixture = gatewayFixture(
    '[downstream.dtls]\nenabled = true\nhost = "127.0.0.1"\nport = 0\n' +
      `sensor_ca_files = ["${sensorCa.certFile}"]\n` +
      `[upstream]\nenabled = true\nbroker_url = "${broker.url}"\ntrust_anchor_file = "${broker.caFile}"\n` +
      'reconnect_initial_ms = 100\nreconnect_max_ms = 1000\n',
  );
  const provisioned = await gatewayctl('provision', 'factory', '-c', fixture.configPath, '--ca-dir', caDir);
  expect(provisioned.code, provisioned.stderr).toBe(0);
  service = startDaemon(fixture.configPath);
  await service.waitReady();
  port = Number(
    String((await status()).sensorEndpoint.listening)
      .split(':')
      .at(-1),
  );
});

afterAll(async () => {
  await service?.dispose();
  await backendPeer?.close();
  await broker?.stop();
  sensors?.remove();
  rmSync(work, { recursive: true, force: true });
});

async function status(): Promise<{
  sensorEndpoint: { listening: string };
  sensorTrust: { refused: Record<string, number> };
  upstream: { connected: boolean; published: number; outbox: { rows: number } };
}> {
  const result = await gatewayctl('status', '--json', '--socket', fixture.socketPath);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  // A ceiling against hangs (not a timing assertion).
  const giveUpAt = Date.now() + 30_000;
  while (!(await condition())) {
    if (Date.now() > giveUpAt) throw new Error(`never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function coapPost(sensor: string, uri: string, body: string): Promise<{ stdout: string; stderr: string }> {
  return run(
    'coap-client-openssl',
    [
      '-m',
      'post',
      '-t',
      '50',
      '-e',
      body,
      '-B',
      '20',
      '-c',
      sensors.file(`${sensor}.pem`),
      '-j',
      sensors.file(`${sensor}.key`),
      '-R',
      join(caDir, 'root.crt'),
      `coaps://127.0.0.1:${port}${uri}`,
    ],
    { timeoutMs: 30_000 },
  );
}

describe('the proxy in the daemon: CoAP/DTLS sensor → gateway → MQTT 5 broker', () => {
  it('forwards an authenticated sensor telemetry to the broker under the gateway identity, with user properties', async () => {
    await until('the gateway connected to the broker', async () => (await status()).upstream.connected);
    sensors.leaf('thermo-1', sensorCa);
    const answer = await coapPost('thermo-1', '/telemetry', '{"t":21.5}');
    expect(answer.stdout + answer.stderr).not.toMatch(/4\.\d\d|5\.\d\d/);
    await until('the message at the subscriber', () =>
      received.some((message) => message.topic === 'devices/thermo-1/telemetry'),
    );
    const message = received.find((entry) => entry.topic === 'devices/thermo-1/telemetry');
    expect(JSON.parse(message?.payload ?? '')).toEqual({ t: 21.5 });
    expect(message?.packet.qos).toBe(1);
    const properties = message?.packet.properties?.userProperties as Record<string, string>;
    expect(properties['sensor-id']).toBe('thermo-1');
    expect(properties['certificate-sha256']).toMatch(/^[0-9a-f]{64}$/);
    expect(properties['gateway-id']).toMatch(/^device-/);
    const after = await status();
    expect(after.upstream.published).toBeGreaterThanOrEqual(1);
    expect(after.upstream.outbox.rows).toBe(0);
  });

  it('refuses a resource the policy does not allow with 4.03 and a diagnostic, and forwards nothing', async () => {
    sensors.leaf('thermo-2', sensorCa);
    const before = received.length;
    const answer = await coapPost('thermo-2', '/firmware', '{}');
    expect(answer.stdout + answer.stderr).toMatch(/4\.03/);
    expect(received.length).toBe(before);
  });

  it('keeps a sensor name to its enrollment: a renewed certificate goes on, another enrollment with the same CN is refused (identity-conflict) until the operator moves the name', async () => {
    await until('the gateway connected to the broker', async () => (await status()).upstream.connected);
    const fromTopic = (body: string) =>
      received.filter((entry) => entry.topic === 'devices/th-1/telemetry' && entry.payload === body);
    const sha256Of = (entry: { packet: IPublishPacket } | undefined) =>
      (entry?.packet.properties?.userProperties as Record<string, string> | undefined)?.[
        'certificate-sha256'
      ];
    const ok = (answer: { stdout: string; stderr: string }) =>
      expect(answer.stdout + answer.stderr).not.toMatch(/4\.\d\d|5\.\d\d/);

    sensors.leaf('th-1', sensorCa);
    ok(await coapPost('th-1', '/telemetry', '{"n":1}'));
    await until('the victim telemetry', () => fromTopic('{"n":1}').length === 1);
    // Renewal: a new certificate from the same CA is the same sensor.
    const renewed = sensors.leaf('th-1', sensorCa);
    ok(await coapPost('th-1', '/telemetry', '{"n":2}'));
    await until('the renewed sensor telemetry', () => fromTopic('{"n":2}').length === 1);
    expect(sha256Of(fromTopic('{"n":2}')[0])).toBe(
      createHash('sha256').update(renewed.certDer).digest('hex'),
    );

    // Another enrollment: a self-signed certificate CN=th-1, enrolled by its thumbprint.
    selfSignedSensor(sensors.dir, 'forged', 'th-1');
    const enrolled = await gatewayctl(
      'sensors',
      'enroll',
      '--cert',
      sensors.file('forged.pem'),
      '--json',
      '-c',
      fixture.configPath,
      '--socket',
      fixture.socketPath,
    );
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const forgedSha256 = String(JSON.parse(enrolled.stdout).enrollment.sha256);
    const refusedBefore = (await status()).sensorTrust.refused['identity-conflict'] ?? 0;
    const refused = await coapPost('forged', '/telemetry', '{"n":"forged"}');
    expect(refused.stdout + refused.stderr).not.toMatch(/2\.04/);
    expect((await status()).sensorTrust.refused['identity-conflict']).toBeGreaterThan(refusedBefore);

    // The operator moves the name: now the other enrollment is th-1, and the CA's sensor is refused.
    const moved = await gatewayctl(
      'sensors',
      'name',
      'release',
      'th-1',
      '--to',
      `individual:${forgedSha256}`,
      '-c',
      fixture.configPath,
      '--socket',
      fixture.socketPath,
    );
    expect(moved.code, moved.stderr).toBe(0);
    ok(await coapPost('forged', '/telemetry', '{"n":3}'));
    await until('the moved name telemetry', () => fromTopic('{"n":3}').length === 1);
    expect(sha256Of(fromTopic('{"n":3}')[0])).toBe(forgedSha256);
    expect(fromTopic('{"n":"forged"}')).toEqual([]);
    const victim = await coapPost('th-1', '/telemetry', '{"n":4}');
    expect(victim.stdout + victim.stderr).not.toMatch(/2\.04/);
  });
});
