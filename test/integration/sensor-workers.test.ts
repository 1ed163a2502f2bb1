import { appendFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MosquittoBroker, TelemetrySubscriber } from '../../hw-sim/broker/index.js';
import {
  type SensorCa,
  type SensorCredentials,
  SimulatedSensor,
  type SimulatedSensorOptions,
} from '../../hw-sim/sensors/index.js';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import { controlRequest } from '../../src/control/index.js';
import type { SensorWorkersStatus } from '../../src/downstream/index.js';
import { pemBlocks } from '../../src/pki/index.js';
import type { SensorTrustStatus } from '../../src/trust/index.js';
import { dedicatedServerKey } from '../bench/dtls/dedicated-server-key.js';
import { type GatewayFixture, gatewayctl, startDaemon } from '../helpers/daemon-harness.js';
import { provisionedSensorGateway } from '../helpers/sensor-daemon.js';
import { importCrl, sensorGatewayWorkspace } from '../helpers/sensor-gateway-workspace.js';

/**
 * The sensor endpoint on two worker threads (downstream.dtls.workers = 2) in the built daemon, with
 * real peers: simulated sensors (our DTLS client + node-coap), mosquitto and a backend subscriber.
 * Sensors from many source ports are spread by the kernel over both workers; telemetry goes through
 * the main thread's outbox to the broker; a revocation reaches whichever worker holds the sensor; a
 * terminated worker is replaced and its sensors resume.
 */
const SENSORS = 12;

let work: string;
let broker: MosquittoBroker;
let subscriber: TelemetrySubscriber;
let sensorCa: SensorCa;
let fixture: GatewayFixture;
let service: ServiceSupervisor;
let port: number;
let gatewayCa: Uint8Array[];
const running: SimulatedSensor[] = [];

const SENSOR_OPTIONS: Partial<SimulatedSensorOptions> = {
  // Quick to take a session for dead (its worker was terminated) and to come back.
  responseTimeoutMs: 2_000,
  reconnectDelay: { initialMs: 100, maxMs: 500 },
  connectAttempts: 50,
  maxAttempts: 100,
  discover: false,
};

interface Status {
  lastReload: { ok: boolean; message: string } | null;
  sensorEndpoint: SensorWorkersStatus;
  sensorTrust: SensorTrustStatus;
  upstream: { connected: boolean };
}

async function status(): Promise<Status> {
  const result = await gatewayctl('status', '--json', '--socket', fixture.socketPath);
  if (result.code !== 0) throw new Error(`gatewayctl status failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Status;
}

async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  // A ceiling against hangs (not a timing assertion).
  const giveUpAt = Date.now() + 60_000;
  while (!(await condition())) {
    if (Date.now() > giveUpAt) throw new Error(`never happened: ${what}\n${service.stdout.slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function sensor(
  name: string,
  credentials = sensorCa.issue({ commonName: name }),
  options: Partial<SimulatedSensorOptions> = {},
): { sensor: SimulatedSensor; credentials: SensorCredentials } {
  const made = new SimulatedSensor({
    ...SENSOR_OPTIONS,
    ...options,
    credentials,
    gateway: { host: '127.0.0.1', port },
    gatewayCa,
  });
  running.push(made);
  return { sensor: made, credentials };
}

beforeAll(async () => {
  const workspace = sensorGatewayWorkspace('egw-workers-');
  ({ work, sensorCa } = workspace);
  const { factoryDir } = workspace;
  broker = await MosquittoBroker.start({
    dir: join(work, 'broker'),
    caFiles: [join(factoryDir, 'root.crt')],
  });
  subscriber = await TelemetrySubscriber.connect(broker, { clientId: 'backend-workers' });
  const serverKey = dedicatedServerKey(work);
  gatewayCa = pemBlocks(readFileSync(serverKey.caFile, 'utf8'));
  const dtlsAndUpstream =
    `workers = 2\n${serverKey.dtlsLines}` +
    // Every simulated sensor comes from 127.0.0.1.
    'handshakes_per_second_per_address = 500\nhandshake_burst_per_address = 500\n' +
    'half_open_handshakes_per_address = 500\n' +
    `[upstream]\nenabled = true\nbroker_url = "${broker.url}"\ntrust_anchor_file = "${broker.caFile}"\n` +
    'reconnect_initial_ms = 100\nreconnect_max_ms = 1000\n';
  fixture = await provisionedSensorGateway(factoryDir, [sensorCa.certificateFile as string], dtlsAndUpstream);
  service = startDaemon(fixture.configPath);
  await service.waitReady();
  await importCrl(fixture, sensorCa.crlFile as string);
  const ready = await status();
  port = Number(ready.sensorEndpoint.listening.split(':').at(-1));
  await until('the broker connection', async () => (await status()).upstream.connected);
});

afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()));
  await service?.dispose();
  await subscriber?.close().catch(() => undefined);
  await broker?.stop();
  if (fixture) rmSync(fixture.dir, { recursive: true, force: true });
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('downstream.dtls.workers = 2', () => {
  const fleet: SimulatedSensor[] = [];

  it('spreads sensors from many source ports over both workers; each is answered, its telemetry reaches the broker under the gateway identity', async () => {
    for (let i = 0; i < SENSORS; i++) fleet.push(sensor(`spread-${i}`).sensor);
    await Promise.all(fleet.map((s) => s.start()));
    for (const s of fleet) for (let n = 0; n < 3; n++) s.enqueueTelemetry();
    await until('every sensor acknowledged', () => fleet.every((s) => s.acknowledged >= 3));
    await until('every message at the backend', () =>
      fleet.every((_s, i) => subscriber.distinct(`spread-${i}`).size >= 3),
    );
    const properties = subscriber.stream('spread-0')?.userProperties as Record<string, string> | undefined;
    expect(properties?.['gateway-id']).toMatch(/^device-/);
    const now = (await status()).sensorEndpoint;
    expect(now.workers.map((w) => w.index).sort()).toEqual([0, 1]);
    // The kernel's hash put sensors on both (all 12 on one: 1 in 2,048).
    for (const worker of now.workers) expect(worker.sessionsEstablished).toBeGreaterThan(0);
    expect(now.sessionsEstablished).toBe(SENSORS);
    expect(now.coap?.telemetryAccepted).toBe(SENSORS * 3);
    const text = await gatewayctl('status', '--socket', fixture.socketPath);
    expect(text.stdout).toMatch(
      /sensor workers\s+#0: [1-9]\d* sessions, \d+ requests, [\d.]+ s CPU; #1: [1-9]/,
    );
  });

  it('commands from the broker reach each sensor observing /commands, in whichever worker holds it', async () => {
    for (const [i] of fleet.entries()) {
      await subscriber.client.publishAsync(`devices/spread-${i}/commands`, JSON.stringify({ set: i }), {
        qos: 1,
        properties: { contentType: 'application/json', userProperties: { 'command-id': `c-${i}` } },
      });
    }
    await until('every command delivered', () =>
      fleet.every((s, i) => s.commands.some((c) => c.payload === JSON.stringify({ set: i }))),
    );
    const now = (await status()).sensorEndpoint;
    expect(now.coap?.commandsDelivered).toBe(SENSORS);
    // Observers on both workers (the sensors were spread over both).
    for (const worker of now.workers) expect(worker.sessionsEstablished).toBeGreaterThan(0);
  });

  it('a terminated worker is replaced, and its sensors come back by resumption', async () => {
    const before = (await status()).sensorEndpoint;
    const victim = before.workers.find((w) => w.index === 0);
    expect(victim?.sessionsEstablished).toBeGreaterThan(0);
    const acknowledged = fleet.map((s) => s.acknowledged);
    await controlRequest(fixture.socketPath, 'sensors.workers.terminate', { index: 0 });
    await until('worker 0 replaced', async () => {
      const w = (await status()).sensorEndpoint.workers.find((x) => x.index === 0);
      return w !== undefined && w.restarts === 1;
    });
    for (const s of fleet) s.enqueueTelemetry();
    await until('every sensor acknowledged again', () =>
      fleet.every((s, i) => s.acknowledged > (acknowledged[i] as number)),
    );
    const after = (await status()).sensorEndpoint;
    expect(after.workers.find((w) => w.index === 0)?.threadId).not.toBe(victim?.threadId);
    // Those that lost their session resumed it (the ticket keys are the same in every worker).
    expect(after.handshakesResumed).toBeGreaterThan(0);
    expect(fleet.every((s) => s.state === 'connected')).toBe(true);
  });

  it('a sensor revoked while connected is cut off in whichever worker holds it, and refused in every worker', async () => {
    const { sensor: doomed, credentials } = sensor('doomed-1');
    await doomed.start();
    doomed.enqueueTelemetry();
    await until('acknowledged telemetry', () => doomed.acknowledged >= 1);
    sensorCa.revoke(credentials);
    await importCrl(fixture, sensorCa.crlFile as string);
    // Its live session is closed by the worker that holds it; its next handshake is refused.
    await until('the revoked sensor refused', () => doomed.state === 'refused');
    expect(doomed.result().refusal?.reason).toMatch(/revoked/);
    // The workers judged it: trust's counters in status are theirs.
    expect((await status()).sensorTrust.refused.revoked).toBeGreaterThan(0);

    const failedBefore = new Map(
      (await status()).sensorEndpoint.workers.map((w) => [w.index, w.handshakesFailed]),
    );
    // The same certificate from many source ports: whichever worker the kernel picks refuses it.
    const again = Array.from(
      { length: SENSORS },
      () => sensor('doomed-1', credentials, { connectAttempts: 1 }).sensor,
    );
    await Promise.all(again.map((s) => s.start().catch(() => undefined)));
    await until('every attempt refused', () => again.every((s) => s.state === 'refused'));
    for (const s of again) expect(s.result().refusal?.reason).toMatch(/revoked/);
    const after = (await status()).sensorEndpoint.workers;
    // 12 attempts all on one worker: 1 in 2,048.
    for (const worker of after)
      expect(worker.handshakesFailed).toBeGreaterThan(failedBefore.get(worker.index) ?? 0);
  });

  it("SIGHUP's log.level reaches the workers: their debug lines appear once it is debug", async () => {
    const established = () =>
      service.logRecords().filter((r) => r.msg === 'sensor session established' && r.worker !== undefined);
    // Sessions were made above at the default level (info): none logged.
    expect(established()).toEqual([]);
    appendFileSync(fixture.configPath, '[log]\nlevel = "debug"\n');
    service.child.kill('SIGHUP');
    await until(
      'the reload',
      async () => (await status()).lastReload?.message.includes('log.level') === true,
    );
    const { sensor: late } = sensor('late-1');
    await late.start();
    await until('a worker logged the session at debug', () => established().length > 0);
  });
});
