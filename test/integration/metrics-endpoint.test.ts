import { readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MosquittoBroker } from '../../hw-sim/broker/index.js';
import { SensorCa, SimulatedSensor } from '../../hw-sim/sensors/index.js';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import { pemBlocks } from '../../src/pki/index.js';
import { dedicatedServerKey } from '../bench/dtls/dedicated-server-key.js';
import { type GatewayFixture, gatewayctl, gatewayFixture, startDaemon } from '../helpers/daemon-harness.js';
import { type Exposition, parseExposition, sampleSum, sampleValue } from '../helpers/prometheus-text.js';
import { provisionedSensorGateway } from '../helpers/sensor-daemon.js';
import { importCrl, sensorGatewayWorkspace } from '../helpers/sensor-gateway-workspace.js';

/**
 * The metrics endpoint of the built daemon with real peers: sensor workers (downstream.dtls.workers
 * = 2), mosquitto, simulated sensors, one of them from an unknown CA. A scrape over the configured
 * unix socket with node's HTTP client shows what `gatewayctl status --json` shows (summed over the
 * workers), with Prometheus names and types, and none of the gateway's secrets. A daemon with the
 * default config serves no metrics.
 */
const EST_PASSWORD = 'metrics-must-never-show-this-3f9a';

let work: string;
let broker: MosquittoBroker;
let sensorCa: SensorCa;
/** A second sensor CA whose CRL is never imported: its sensors (no distribution point) pass under grace. */
let noCrlCa: SensorCa;
let sensorOptions: ConstructorParameters<typeof SimulatedSensor>[0];
let fixture: GatewayFixture;
let service: ServiceSupervisor;
let metricsSocket: string;
const sensors: SimulatedSensor[] = [];
const services: ServiceSupervisor[] = [];
const fixtures: GatewayFixture[] = [];

// biome-ignore lint/suspicious/noExplicitAny: the parts of `gatewayctl status --json` compared here
type Status = any;

async function status(of: GatewayFixture = fixture): Promise<Status> {
  const result = await gatewayctl('status', '--json', '--socket', of.socketPath);
  if (result.code !== 0) throw new Error(`gatewayctl status failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  // A ceiling against hangs (not a timing assertion).
  const giveUpAt = Date.now() + 60_000;
  while (!(await condition())) {
    if (Date.now() > giveUpAt) throw new Error(`never happened: ${what}\n${service.stdout.slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const sumOf = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);

/** GET /metrics over the unix socket, with node's HTTP client. */
function scrapeUnix(
  socketPath: string,
  path = '/metrics',
): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET' }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, type: String(response.headers['content-type']), body }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** Inodes of the TCP sockets `pid` listens on (state 0A in /proc/<pid>/net/tcp{,6}). */
function listeningTcpSockets(pid: number): string[] {
  const listening = new Set<string>();
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] === '0A') listening.add(fields[9] as string);
    }
  }
  const own = readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      return [/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1]];
    } catch {
      return [];
    }
  });
  return own.filter((inode): inode is string => inode !== undefined && listening.has(inode));
}

beforeAll(async () => {
  const workspace = sensorGatewayWorkspace('egw-metrics-');
  ({ work, sensorCa } = workspace);
  const { factoryDir } = workspace;
  broker = await MosquittoBroker.start({
    dir: join(work, 'broker'),
    caFiles: [join(factoryDir, 'root.crt')],
  });
  noCrlCa = SensorCa.open(join(work, 'sensor-ca-no-crl'), { commonName: 'metrics test CA without CRL' });
  const serverKey = dedicatedServerKey(work);
  metricsSocket = join(work, 'run', 'metrics.sock');
  fixture = await provisionedSensorGateway(
    factoryDir,
    [sensorCa.certificateFile as string, noCrlCa.certificateFile as string],
    `workers = 2\n${serverKey.dtlsLines}` +
      'handshakes_per_second_per_address = 500\nhandshake_burst_per_address = 500\n' +
      `[upstream]\nenabled = true\nbroker_url = "${broker.url}"\ntrust_anchor_file = "${broker.caFile}"\n` +
      'reconnect_initial_ms = 100\nreconnect_max_ms = 1000\n' +
      // A secret in the config (EST basic auth, unused: no url): it must never reach a scrape.
      `[identity.est]\nusername = "metrics-test"\npassword = "${EST_PASSWORD}"\n` +
      `[metrics]\nlisten = "unix:${metricsSocket}"\n`,
  );
  fixtures.push(fixture);
  service = startDaemon(fixture.configPath);
  services.push(service);
  await service.waitReady();
  await importCrl(fixture, sensorCa.crlFile as string);
  await until('the broker connection', async () => (await status()).upstream?.connected === true);
  const port = Number(
    String((await status()).sensorEndpoint.listening)
      .split(':')
      .at(-1),
  );
  const gatewayCa = pemBlocks(readFileSync(serverKey.caFile, 'utf8'));
  const options = {
    gateway: { host: '127.0.0.1', port },
    gatewayCa,
    discover: false,
    connectAttempts: 1,
    maxAttempts: 1,
  };
  for (let i = 0; i < 6; i++)
    sensors.push(new SimulatedSensor({ ...options, credentials: sensorCa.issue({ commonName: `m-${i}` }) }));
  sensors.push(new SimulatedSensor({ ...options, credentials: sensorCa.unknownCaSensor('m-stranger') }));
  sensorOptions = { ...options, credentials: noCrlCa.issue({ commonName: 'unused' }) };
}, 120_000);

afterAll(async () => {
  await Promise.all(sensors.map((s) => s.stop()));
  for (const s of services) await s.dispose();
  await broker?.stop();
  for (const f of fixtures) rmSync(f.dir, { recursive: true, force: true });
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('metrics endpoint', () => {
  let scrape: Exposition;
  let text: string;
  let figures: Status;

  it('serves the exposition format on the configured unix socket, owner and group only', async () => {
    await Promise.all(sensors.map((s) => s.start()));
    const honest = sensors.slice(0, 6);
    for (const s of honest) for (let n = 0; n < 4; n++) s.enqueueTelemetry();
    await until('every message acknowledged', () => honest.every((s) => s.acknowledged >= 4));
    await until('every message at the broker', async () => (await status()).upstream?.outbox.rows === 0);
    expect(sensors[6]?.state).toBe('refused');
    expect(statSync(metricsSocket).mode & 0o777).toBe(0o660);
    const response = await scrapeUnix(metricsSocket);
    expect(response.status).toBe(200);
    expect(response.type).toMatch(/^text\/plain; version=0\.0\.4/);
    text = response.body;
    scrape = parseExposition(text);
    figures = await status();
    expect((await scrapeUnix(metricsSocket, '/')).status).toBe(404);
  });

  it('shows the figures of gatewayctl status, summed over the sensor workers', () => {
    const e = figures.sensorEndpoint;
    expect(e.workers).toHaveLength(2);
    const value = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(scrape, `edge_gatewayd_${name}`, labels);
    expect(value('sensor_handshakes_total', { result: 'completed' })).toBe(e.handshakesCompleted);
    expect(value('sensor_handshakes_total', { result: 'failed' })).toBe(e.handshakesFailed);
    expect(value('sensor_sessions', { state: 'established' })).toBe(6);
    expect(value('sensor_trust_verdicts_total', { result: 'accepted', reason: '' })).toBe(
      figures.sensorTrust.accepted,
    );
    expect(value('sensor_trust_verdicts_total', { result: 'refused', reason: 'unknown-issuer' })).toBe(1);
    expect(value('telemetry_accepted_total')).toBe(24);
    expect(value('telemetry_accepted_total')).toBe(e.coap.telemetryAccepted);
    expect(value('coap_requests_total')).toBe(e.coap.requests);
    // Every routed request answered once, successes by their own code: 24 telemetry 2.04s.
    expect(value('coap_responses_total', { code: '2.04' })).toBe(
      e.coap.telemetryAccepted + e.coap.telemetryAlreadyStored,
    );
    expect(value('coap_responses_total', { code: '2.04' })).toBe(24);
    const routed = scrape.samples
      .filter((sample) => sample.name === 'edge_gatewayd_coap_responses_total')
      .reduce((sum, sample) => sum + sample.value, 0);
    expect(routed).toBe(e.coap.requests + sumOf(e.coapErrorAnswers));
    expect(value('outbox_committed_total')).toBe(figures.upstream.outbox.committed);
    expect(value('upstream_published_total')).toBe(24);
    expect(value('outbox_rows')).toBe(0);
    expect(value('outbox_oldest_age_seconds')).toBe(0);
    expect(value('upstream_connected')).toBe(1);
    expect(value('identity_state', { state: 'factory' })).toBe(1);
    expect(
      value('identity_key_info', { backend: 'software', hardware_backed: 'false', available: 'true' }),
    ).toBe(1);
    expect(sampleSum(scrape, 'edge_gatewayd_nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
    // The identity key signed the broker handshake (and answered the start-up calls): timed.
    expect(
      sampleSum(scrape, 'edge_gatewayd_key_store_call_duration_seconds_count', {
        backend: 'software',
        operation: 'signDigestSync',
        result: 'ok',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sampleValue(scrape, 'edge_gatewayd_key_store_call_duration_seconds_bucket', {
        backend: 'software',
        operation: 'signDigestSync',
        result: 'ok',
        le: '+Inf',
      }),
    ).toBe(
      sampleValue(scrape, 'edge_gatewayd_key_store_call_duration_seconds_count', {
        backend: 'software',
        operation: 'signDigestSync',
        result: 'ok',
      }),
    );
  });

  it('names and types follow the Prometheus conventions', () => {
    const expected: Record<string, string> = {
      edge_gatewayd_sensor_handshakes_total: 'counter',
      edge_gatewayd_sensor_trust_verdicts_total: 'counter',
      edge_gatewayd_sensor_sessions: 'gauge',
      edge_gatewayd_coap_requests_total: 'counter',
      edge_gatewayd_coap_error_responses_total: 'counter',
      edge_gatewayd_coap_responses_total: 'counter',
      edge_gatewayd_telemetry_accepted_total: 'counter',
      edge_gatewayd_telemetry_refused_total: 'counter',
      edge_gatewayd_outbox_committed_total: 'counter',
      edge_gatewayd_upstream_published_total: 'counter',
      edge_gatewayd_outbox_rows: 'gauge',
      edge_gatewayd_outbox_oldest_age_seconds: 'gauge',
      edge_gatewayd_upstream_connected: 'gauge',
      edge_gatewayd_upstream_reconnects_total: 'counter',
      edge_gatewayd_identity_state: 'gauge',
      edge_gatewayd_key_store_call_duration_seconds: 'histogram',
      edge_gatewayd_process_cpu_seconds_total: 'counter',
      edge_gatewayd_nodejs_eventloop_lag_p99_seconds: 'gauge',
    };
    for (const [name, type] of Object.entries(expected)) expect(scrape.types.get(name), name).toBe(type);
    for (const name of scrape.types.keys()) expect(name).toMatch(/^edge_gatewayd_[a-z0-9_]+$/);
  });

  it('carries none of the gateway secrets', () => {
    expect(text).not.toContain(EST_PASSWORD);
    expect(text).not.toMatch(/-----BEGIN|PRIVATE/);
    // No key material or certificate in any label: nothing long and opaque.
    for (const sample of scrape.samples)
      for (const value of Object.values(sample.labels)) expect(value).not.toMatch(/[A-Za-z0-9+/=]{40,}/);
  });

  it('a scrape asks the sensor workers for their figures itself (no gatewayctl status in between)', async () => {
    const honest = sensors.slice(0, 6);
    for (const s of honest) s.enqueueTelemetry();
    await until('one more message each acknowledged', () => honest.every((s) => s.acknowledged >= 5));
    const fresh = parseExposition((await scrapeUnix(metricsSocket)).body);
    expect(sampleValue(fresh, 'edge_gatewayd_telemetry_accepted_total')).toBe(30);
  });

  it('counts sensors the workers admitted without revocation information, per CA, each certificate once', async () => {
    const before = parseExposition((await scrapeUnix(metricsSocket)).body);
    const label = { ca: 'O=edge-gatewayd hw-sim, CN=metrics test CA without CRL' };
    expect(
      sampleValue(before, 'edge_gatewayd_sensor_admitted_without_revocation_info', label),
    ).toBeUndefined();
    // Four sensors of the CA without a CRL, over several sessions each (so across both workers).
    const credentials = [0, 1, 2, 3].map((i) => noCrlCa.issue({ commonName: `m-no-crl-${i}` }));
    for (let round = 0; round < 2; round++) {
      const unrevocable = credentials.map(
        (each) => new SimulatedSensor({ ...sensorOptions, credentials: each }),
      );
      sensors.push(...unrevocable);
      await Promise.all(unrevocable.map((s) => s.start()));
      expect(unrevocable.map((s) => s.state)).toEqual(['connected', 'connected', 'connected', 'connected']);
      await Promise.all(unrevocable.map((s) => s.stop()));
    }
    const after = parseExposition((await scrapeUnix(metricsSocket)).body);
    expect(sampleValue(after, 'edge_gatewayd_sensor_admitted_without_revocation_info', label)).toBe(4);
    const row = (await status()).sensorTrust.revocation.cas.find(
      (ca: { subject: string }) => ca.subject === label.ca,
    );
    expect(row.admittedWithoutRevocationInfo).toBe(4);
    expect(row.lastWarning).toMatch(/no CRL of its issuer is stored/);
    expect(
      sampleValue(after, 'edge_gatewayd_sensor_accepted_without_fresh_crl_total'),
    ).toBeGreaterThanOrEqual(8);
  });

  it('is off by default: a daemon with no [metrics] listens on no TCP port', async () => {
    const plain = gatewayFixture();
    fixtures.push(plain);
    const daemon = startDaemon(plain.configPath);
    services.push(daemon);
    await daemon.waitReady();
    const { pid } = await status(plain);
    expect(readFileSync(plain.configPath, 'utf8')).not.toContain('[metrics]');
    expect(listeningTcpSockets(pid)).toEqual([]);
    expect(daemon.stdout).not.toContain('Prometheus metrics on');
    expect(service.stdout).toContain('Prometheus metrics on');
  });
});
