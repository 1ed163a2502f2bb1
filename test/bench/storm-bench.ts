/**
 * `npm run bench -- storm`: the reconnect storm of issue 18. N sensors with established sessions,
 * then kill -9 of the daemon and a restart with the identity key in the TIMED ATECC608A simulator
 * (~55–65 ms a signature, as the part): the time from READY to the last sensor's first answered
 * request, with session tickets (sessions survive the restart: resumption, no signature) and without
 * them (the old behaviour: every sensor signs a full handshake, within the signature budget).
 *
 * The sessions are first established with the simulator's timing off (establishing is not what is
 * measured, and 1,000 timed signatures would take two minutes); the restart turns it on. Sensors come
 * from 127.0.0.2 … (4 per address), as a fleet of separate hosts would, so the per-address limits do
 * not measure themselves. A sensor notices the restart as a real one does on its next message (ICMP
 * port unreachable) and retries every 250–750 ms (jittered) until a resumed or new session answers
 * GET /time. Figures are wall time (the storm is a latency), with the daemon's CPU seconds beside.
 *
 * BENCH_STORM_SENSORS (default 1000) and BENCH_STORM_SENSORS_NO_TICKETS (default 200: at the
 * ATECC608A's ~7 budgeted signatures a second, 1,000 take over two minutes) size the two runs.
 */

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SensorCa, type SensorCredentials } from '../../hw-sim/sensors/index.js';
import { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import { libcrypto } from '../../src/native/openssl/index.js';
import type { Pointer } from '../../src/native/openssl/libssl.js';
import { pemBlocks } from '../../src/pki/index.js';
import { DtlsClient, type DtlsClientContext, privateKeyFromPkcs8 } from '../../src/tls/index.js';
import {
  builtEntry,
  gatewayctl,
  gatewayFixture,
  provisionFactory,
  repositoryRoot,
} from '../helpers/daemon-harness.js';
import { round } from './measure.js';
import { cpuSeconds } from './proxy/proc-stats.js';

export interface StormRun {
  sensors: number;
  sessionTickets: boolean;
  /** READY of the restarted daemon to the last sensor's first answered request, seconds. */
  stormSeconds: number;
  /** Sensors served again (within the ceiling). */
  served: number;
  resumed: number;
  /** Signatures the (timed) ATECC608A made after the restart, for the sensors. */
  signaturesAfterRestart: number;
  /** kill -9 to READY of the restarted daemon, seconds (start-up, not the storm). */
  restartToReadySeconds: number;
  /** Daemon CPU seconds from READY to the last sensor served. */
  daemonCpuSeconds: number;
  /** Sensors served before READY (the DTLS port opens a little earlier). */
  servedBeforeReady: number;
  /** When the sensors were served, seconds after READY: p50, p90. */
  servedAfterReadySeconds: { p50: number; p90: number };
  /** Connection attempts the sensors made from the kill to the last one served. */
  attempts: number;
  /** CPU seconds of this (load) process from the kill to READY, and from READY to the end. */
  loadCpuSeconds: { down: number; storm: number };
  /** Datagrams the kernel dropped for full receive buffers meanwhile (whole machine: /proc/net/snmp). */
  udpReceiveBufferDrops: number;
  /** The restarted daemon's refusals and retransmissions (what could slow the storm besides CPU). */
  daemonCounters: Record<string, number>;
}

export interface StormFigures {
  /** With session tickets (the gateway's default): the headline figure. */
  stormSeconds: number;
  withTickets: StormRun;
  withoutTickets: StormRun | null;
  note: string;
}

const SENSORS = Number(process.env.BENCH_STORM_SENSORS ?? 1000);
const SENSORS_NO_TICKETS = Number(process.env.BENCH_STORM_SENSORS_NO_TICKETS ?? 200);
const PER_ADDRESS = 4;
/**
 * Sensors' longest wait between handshake retransmissions (DtlsClient maxRetransmitMs): without a
 * cap, one that began while the gateway was down (and got no ICMP: Linux sends at most ~1,000 a
 * second) retransmits 1, 2, 4, 8 … s later.
 */
const MAX_RETRANSMIT_MS = Number(process.env.BENCH_STORM_MAX_RETRANSMIT_MS ?? 2000);
/** A ceiling against a run that cannot finish, not a figure. */
const CEILING_MS = Number(process.env.BENCH_STORM_CEILING_S ?? 300) * 1000;

interface Sensor {
  credentials: SensorCredentials;
  /** Set up once, as on a device: CA, certificate, key. */
  context: DtlsClientContext;
  localAddress: string;
  saved: Pointer | undefined;
  client: DtlsClient | undefined;
  servedAt: number | undefined;
  resumed: boolean;
}

/** GET /time, confirmable, 2-byte token. */
function timeRequest(id: number): Buffer {
  const header = Buffer.alloc(6);
  header[0] = 0x42;
  header[1] = 0x01;
  header.writeUInt16BE(id & 0xffff, 2);
  header.writeUInt16BE(id & 0xffff, 4);
  return Buffer.concat([header, Buffer.from([0xb4]), Buffer.from('time')]);
}

/** Udp RcvbufErrors of the whole machine (/proc/net/snmp). */
function udpReceiveBufferErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('Udp:'));
  const names = (lines[0] ?? '').split(/\s+/);
  const values = (lines[1] ?? '').split(/\s+/);
  return Number(values[names.indexOf('RcvbufErrors')] ?? 0);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no answer')), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

let requestId = 1;

/** One session and one answered GET /time; the client is kept open (the caller destroys it). */
async function session(sensor: Sensor, port: number, failWhenRefused: boolean): Promise<DtlsClient> {
  const client = await DtlsClient.connect({
    host: '127.0.0.1',
    port,
    ca: [],
    context: sensor.context,
    localAddress: sensor.localAddress,
    handshakeTimeoutMs: 15_000,
    maxRetransmitMs: MAX_RETRANSMIT_MS,
    failWhenRefused,
    ...(sensor.saved ? { resume: sensor.saved } : {}),
  });
  try {
    await withTimeout(client.request(timeRequest(requestId++)), 5_000);
  } catch (error) {
    client.destroy();
    throw error;
  }
  if (sensor.saved) DtlsClient.freeSession(sensor.saved);
  sensor.saved = client.saveSession();
  return client;
}

async function status(socketPath: string): Promise<{
  sensorEndpoint: {
    handshakes: Record<string, number> & { signatures: number };
    handshakesResumed: number;
    handshakesFailed: number;
  };
}> {
  const result = await gatewayctl('status', '--json', '--socket', socketPath);
  if (result.code !== 0) throw new Error(`gatewayctl status: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

async function stormRun(options: {
  work: string;
  caDir: string;
  gatewayRoot: Uint8Array;
  sensorCa: SensorCa;
  count: number;
  sessionTickets: boolean;
}): Promise<StormRun> {
  const { work, caDir, gatewayRoot, count, sessionTickets } = options;
  const port = await freeUdpPort();
  const credentials = join(work, `credentials-${sessionTickets ? 'on' : 'off'}`);
  mkdirSync(credentials, { recursive: true });
  writeFileSync(join(credentials, 'dtls-ticket-key'), randomBytes(32), { mode: 0o400 });
  const fixture = gatewayFixture();
  const config = (timing: boolean) =>
    writeFileSync(
      fixture.configPath,
      `[store]\npath = "${fixture.dbPath}"\n[control]\nsocket = "${fixture.socketPath}"\n` +
        `[identity]\ncertificate_dir = "${fixture.dir}/identity"\n` +
        // The identity key in the ATECC608A simulator, timed as the part (or not, to establish quickly).
        `[identity.key]\nbackend = "atecc608"\n[identity.key.atecc608]\n` +
        `simulator_state = "${fixture.dir}/atecc608.json"\nsimulator_timing = ${timing}\n` +
        `[downstream.dtls]\nenabled = true\nhost = "127.0.0.1"\nport = ${port}\n` +
        `sensor_ca_files = ["${options.sensorCa.certificateFile}"]\nsession_tickets = ${sessionTickets}\n`,
    );
  config(false);
  await provisionFactory(fixture.configPath, caDir, '--yes');
  const env = { CREDENTIALS_DIRECTORY: credentials };
  // BENCH_STORM_CPU_PROF=<dir>: the restarted daemon runs under --cpu-prof (stopped with SIGTERM at the end).
  const profileDir = process.env.BENCH_STORM_CPU_PROF;
  const start = (profiled = false) =>
    ServiceSupervisor.start({
      command: [
        process.execPath,
        ...(profiled && profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
        builtEntry('daemon'),
        '--config',
        fixture.configPath,
      ],
      env,
    });
  const sensors: Sensor[] = [];
  for (let i = 0; i < count; i++) {
    const issued = options.sensorCa.issue({ commonName: `storm-${sessionTickets ? 't' : 'n'}-${i}` });
    const key = privateKeyFromPkcs8(issued.privateKeyPkcs8);
    const context = DtlsClient.context({
      ca: [gatewayRoot],
      certificateChain: issued.certificateChain,
      privateKey: key,
    });
    libcrypto().EVP_PKEY_free(key); // the context holds its own reference
    sensors.push({
      credentials: issued,
      context,
      localAddress: `127.0.${2 + Math.floor(i / PER_ADDRESS / 250)}.${2 + (Math.floor(i / PER_ADDRESS) % 250)}`,
      saved: undefined,
      client: undefined,
      servedAt: undefined,
      resumed: false,
    });
  }
  let service = start();
  const services = [service];
  try {
    await service.waitReady();
    process.stderr.write(
      `  storm: establishing ${count} sessions (tickets ${sessionTickets ? 'on' : 'off'})\n`,
    );
    await eachLimited(sensors, 32, async (sensor) => {
      for (let attempt = 0; ; attempt++) {
        try {
          sensor.client = await session(sensor, port, false);
          return;
        } catch (error) {
          if (attempt >= 5) throw error;
          await sleep(200);
        }
      }
    });
    const killedAt = performance.now();
    service.child.kill('SIGKILL');
    await service.exited;
    config(true);
    service = start(true);
    services.push(service);
    // Each sensor's next message is refused (ICMP port unreachable): it drops the session and
    // retries, offering its saved session, until it is answered again.
    const giveUpAt = killedAt + CEILING_MS;
    let attempts = 0;
    const loadCpuAtKill = process.cpuUsage();
    const dropsAtKill = udpReceiveBufferErrors();
    const storm = Promise.all(
      sensors.map(async (sensor) => {
        sensor.client?.destroy();
        sensor.client = undefined;
        await sleep(Math.random() * 500);
        while (performance.now() < giveUpAt) {
          try {
            attempts++;
            const client = await session(sensor, port, true);
            sensor.servedAt = performance.now();
            sensor.resumed = client.resumed;
            client.destroy();
            return;
          } catch {
            await sleep(250 + Math.random() * 500);
          }
        }
      }),
    );
    await service.waitReady(60_000);
    const readyAt = performance.now();
    const pid = service.child.pid;
    const cpuAtReady = cpuSeconds(pid);
    const loadCpuAtReady = process.cpuUsage();
    await storm;
    const cpuAtEnd = cpuSeconds(pid);
    const loadCpuAtEnd = process.cpuUsage();
    const drops = udpReceiveBufferErrors() - dropsAtKill;
    const loadCpu = (from: NodeJS.CpuUsage, to: NodeJS.CpuUsage) =>
      round((to.user + to.system - from.user - from.system) / 1e6, 2);
    const afterReady = sensors
      .map((sensor) => ((sensor.servedAt ?? Number.NaN) - readyAt) / 1000)
      .filter((seconds) => !Number.isNaN(seconds))
      .sort((a, b) => a - b);
    const percentile = (p: number) => round(afterReady[Math.floor((afterReady.length - 1) * p)] ?? 0, 3);
    const served = sensors.filter((sensor) => sensor.servedAt !== undefined);
    const last = Math.max(readyAt, ...served.map((sensor) => sensor.servedAt as number));
    const after = await status(fixture.socketPath);
    if (process.env.BENCH_STORM_DEBUG) {
      const histogram: Record<string, number> = {};
      for (const sensor of served) {
        const second = Math.floor(((sensor.servedAt as number) - readyAt) / 1000);
        histogram[second] = (histogram[second] ?? 0) + 1;
      }
      process.stderr.write(`  storm debug: served per second after READY ${JSON.stringify(histogram)}\n`);
      process.stderr.write(`  storm debug: ${JSON.stringify(after.sensorEndpoint)}\n`);
    }
    return {
      sensors: count,
      sessionTickets,
      stormSeconds: round((last - readyAt) / 1000, 3),
      served: served.length,
      resumed: served.filter((sensor) => sensor.resumed).length,
      signaturesAfterRestart: after.sensorEndpoint.handshakes.signatures,
      restartToReadySeconds: round((readyAt - killedAt) / 1000, 3),
      daemonCpuSeconds: round(cpuAtEnd.user + cpuAtEnd.kernel - (cpuAtReady.user + cpuAtReady.kernel), 2),
      servedBeforeReady: served.filter((sensor) => (sensor.servedAt as number) < readyAt).length,
      servedAfterReadySeconds: { p50: percentile(0.5), p90: percentile(0.9) },
      attempts,
      loadCpuSeconds: {
        down: loadCpu(loadCpuAtKill, loadCpuAtReady),
        storm: loadCpu(loadCpuAtReady, loadCpuAtEnd),
      },
      udpReceiveBufferDrops: drops,
      daemonCounters: {
        halfOpenRefusedPerAddress: after.sensorEndpoint.handshakes.halfOpenRefusedPerAddress ?? 0,
        halfOpenRefusedGlobal: after.sensorEndpoint.handshakes.halfOpenRefusedGlobal ?? 0,
        signaturesRefusedPerAddress: after.sensorEndpoint.handshakes.signaturesRefusedPerAddress ?? 0,
        signaturesRefusedGlobal: after.sensorEndpoint.handshakes.signaturesRefusedGlobal ?? 0,
        cookiesSent: after.sensorEndpoint.handshakes.cookiesSent ?? 0,
        handshakesFailed: after.sensorEndpoint.handshakesFailed,
      },
    };
  } finally {
    for (const sensor of sensors) {
      sensor.client?.destroy();
      if (sensor.saved) DtlsClient.freeSession(sensor.saved);
      sensor.context.free();
    }
    if (profileDir) await service.stop('SIGTERM');
    for (const started of services) await started.dispose();
    rmSync(fixture.dir, { recursive: true, force: true });
  }
}

export async function benchStorm(): Promise<StormFigures> {
  const work = mkdtempSync(join(tmpdir(), 'egw-storm-'));
  const caDir = join(work, 'factory');
  execFileSync(join(repositoryRoot, 'scripts/factory-ca.sh'), ['init', caDir], { stdio: 'pipe' });
  const gatewayRoot = pemBlocks(readFileSync(join(caDir, 'root.crt'), 'utf8'))[0] as Uint8Array;
  const sensorCa = SensorCa.open(join(work, 'sensor-ca'));
  sensorCa.writeCrl();
  try {
    const common = { work, caDir, gatewayRoot, sensorCa };
    const withTickets = await stormRun({ ...common, count: SENSORS, sessionTickets: true });
    process.stderr.write(`  storm: tickets on: ${JSON.stringify(withTickets)}\n`);
    const withoutTickets =
      SENSORS_NO_TICKETS > 0
        ? await stormRun({ ...common, count: SENSORS_NO_TICKETS, sessionTickets: false })
        : null;
    process.stderr.write(`  storm: tickets off: ${JSON.stringify(withoutTickets)}\n`);
    return {
      stormSeconds: withTickets.stormSeconds,
      withTickets,
      withoutTickets,
      note:
        'wall seconds from READY of the restarted daemon (timed ATECC608A simulator) to the last sensor answered again; ' +
        'sensors retry every 250-750 ms from the kill on; tickets off = every sensor signs a full handshake within the budget',
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
