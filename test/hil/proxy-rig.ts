import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MosquittoBroker, TelemetrySubscriber } from '../../hw-sim/broker/index.js';
import { EstServer } from '../../hw-sim/est-server/index.js';
import {
  type BadActorCounts,
  SensorCa,
  SensorFleet,
  SimulatedSensor,
  type SimulatedSensorOptions,
} from '../../hw-sim/sensors/index.js';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import type { IdentityStatus } from '../../src/identity/index.js';
import { pemBlocks } from '../../src/pki/index.js';
import type { UpstreamStatus } from '../../src/upstream/index.js';
import {
  type GatewayFixture,
  gatewayctl,
  gatewayFixture,
  provisionFactory,
  startDaemon,
} from '../helpers/daemon-harness.js';

const factoryCaScript = new URL('../../scripts/factory-ca.sh', import.meta.url).pathname;

/** What `gatewayctl status --json` says, the parts the HIL tests read. */
export interface GatewayStatus {
  identity: IdentityStatus;
  upstream: UpstreamStatus | null;
}

/**
 * Sensors' options for the rig: quick to notice a dead session (the gateway was killed) and quick
 * to come back, and patient enough to outlast a daemon restart.
 */
const SENSOR_OPTIONS: Partial<SimulatedSensorOptions> = {
  responseTimeoutMs: 6_000,
  reconnectDelay: { initialMs: 100, maxMs: 1_000 },
  connectAttempts: 1_000,
  maxAttempts: 1_000,
};

/** A fleet with every acknowledgement recorded per sensor (the promises the gateway must keep). */
export interface TrackedFleet {
  fleet: SensorFleet;
  /** Sensor name → seqs the gateway acknowledged (2.xx), in order. */
  acknowledged: Map<string, number[]>;
}

/**
 * The whole proxy on one machine, everything real: a factory CA kit, the hw-sim EST server, mosquitto
 * with persistence (hw-sim/broker), an independent backend subscriber on it, a sensor CA, and the
 * built daemon started as systemd would, provisioned with a factory certificate, enrolling over EST
 * with zero touch and forwarding to the broker. The DTLS port is fixed so a restarted daemon is
 * found again by the sensors.
 */
export class ProxyRig {
  readonly work: string;
  readonly fixture: GatewayFixture;
  readonly est: EstServer;
  readonly broker: MosquittoBroker;
  readonly subscriber: TelemetrySubscriber;
  readonly sensorCa: SensorCa;
  readonly dtlsPort: number;
  readonly gatewayCa: Uint8Array[];
  /** http://127.0.0.1:<port>/metrics when started with { metrics: true }. */
  readonly metricsUrl: string | undefined;
  service: ServiceSupervisor;
  /** Every daemon started, for their logs when something fails. */
  readonly services: ServiceSupervisor[] = [];
  readonly #standalone: SimulatedSensor[] = [];
  readonly #fleets: SensorFleet[] = [];

  private constructor(parts: {
    work: string;
    fixture: GatewayFixture;
    est: EstServer;
    broker: MosquittoBroker;
    subscriber: TelemetrySubscriber;
    sensorCa: SensorCa;
    dtlsPort: number;
    gatewayCa: Uint8Array[];
    service: ServiceSupervisor;
    metricsUrl?: string;
  }) {
    this.work = parts.work;
    this.fixture = parts.fixture;
    this.est = parts.est;
    this.broker = parts.broker;
    this.subscriber = parts.subscriber;
    this.sensorCa = parts.sensorCa;
    this.dtlsPort = parts.dtlsPort;
    this.gatewayCa = parts.gatewayCa;
    this.metricsUrl = parts.metricsUrl;
    this.service = parts.service;
    this.services.push(parts.service);
  }

  /**
   * Starts everything and waits until the gateway is operational (EST) and connected upstream.
   * `keySection` replaces the software key store (e.g. the ATECC608A simulator's `[identity.key]`);
   * `ceilingMs` raises the ceilings on start-up for a gateway under emulation (arm64 on QEMU).
   */
  static async start(
    name: string,
    options: { metrics?: boolean; keySection?: string; ceilingMs?: number } = {},
  ): Promise<ProxyRig> {
    const work = mkdtempSync(join(tmpdir(), `egw-hil-${name}-`));
    // What is started before the rig exists is stopped again when a later step fails.
    const started: (() => Promise<unknown> | undefined)[] = [
      async () => rmSync(work, { recursive: true, force: true }),
    ];
    const undo = async () => {
      for (const stop of started.reverse()) await Promise.resolve(stop()).catch(() => undefined);
    };
    let rig: ProxyRig | undefined;
    try {
      const factoryDir = join(work, 'factory');
      execFileSync(factoryCaScript, ['init', factoryDir], { stdio: 'pipe' });
      const factoryRoot = join(factoryDir, 'root.crt');
      const est = await EstServer.start({
        stateDir: join(work, 'est-server'),
        factoryCaPem: [readFileSync(factoryRoot, 'utf8')],
      });
      started.push(() => est.stop());
      const estRoot = join(work, 'est-root.pem');
      writeFileSync(estRoot, est.rootPem);
      const broker = await MosquittoBroker.start({
        dir: join(work, 'broker'),
        caFiles: [factoryRoot, estRoot],
        persistence: true,
      });
      started.push(() => broker.stop());
      const subscriber = await TelemetrySubscriber.connect(broker, { clientId: `backend-${name}` });
      started.push(() => subscriber.close());
      const sensorCa = SensorCa.open(join(work, 'sensor-ca'));
      sensorCa.writeCrl();
      const dtlsPort = await freeUdpPort();
      const metricsPort = options.metrics ? await freeTcpPort() : undefined;
      const fixture = gatewayFixture(
        `[identity.est]\nurl = "${est.url}"\ntrust_anchor_file = "${estRoot}"\ntimeout_ms = 5000\n` +
          '[identity.renewal]\nretry_initial_ms = 200\nretry_max_ms = 1000\njitter_fraction = 0\n' +
          `[downstream.dtls]\nenabled = true\nhost = "127.0.0.1"\nport = ${dtlsPort}\n` +
          `sensor_ca_files = ["${sensorCa.certificateFile}"]\n` +
          // Every simulated sensor comes from 127.0.0.1.
          'handshakes_per_second_per_address = 500\nhandshake_burst_per_address = 500\n' +
          'half_open_handshakes_per_address = 500\n' +
          `[upstream]\nenabled = true\nbroker_url = "${broker.url}"\ntrust_anchor_file = "${broker.caFile}"\n` +
          'reconnect_initial_ms = 100\nreconnect_max_ms = 1000\n' +
          (metricsPort ? `[metrics]\nlisten = "127.0.0.1:${metricsPort}"\n` : ''),
        options.keySection,
      );
      started.push(async () => rmSync(fixture.dir, { recursive: true, force: true }));
      await provisionFactory(fixture.configPath, factoryDir);
      const service = startDaemon(fixture.configPath);
      rig = new ProxyRig({
        work,
        fixture,
        est,
        broker,
        subscriber,
        sensorCa,
        dtlsPort,
        gatewayCa: pemBlocks(readFileSync(factoryRoot, 'utf8')),
        service,
        ...(metricsPort ? { metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` } : {}),
      });
      const made: ProxyRig = rig;
      await service.waitReady(options.ceilingMs);
      await made.importSensorCrl();
      await made.until(
        'the operational identity (EST) and the broker connection',
        async () => {
          const status = await made.status();
          return status.identity.state === 'operational' && status.upstream?.connected === true;
        },
        options.ceilingMs,
      );
      return made;
    } catch (error) {
      if (rig) await rig.dispose().catch(() => undefined);
      else await undo();
      throw error;
    }
  }

  /** The sensor CA's current CRL, imported as an operator would (a running daemon applies it at once). */
  async importSensorCrl(): Promise<void> {
    const crl = await gatewayctl(
      'trust',
      'crl',
      'import',
      this.sensorCa.crlFile as string,
      '-c',
      this.fixture.configPath,
    );
    if (crl.code !== 0) throw new Error(`CRL import failed: ${crl.stderr}`);
  }

  async status(): Promise<GatewayStatus> {
    const result = await gatewayctl('status', '--json', '--socket', this.fixture.socketPath);
    if (result.code !== 0) throw new Error(`gatewayctl status failed: ${result.stderr}`);
    return JSON.parse(result.stdout) as GatewayStatus;
  }

  /** Polls `condition` (a ceiling against hangs, not a timing assertion). */
  async until(what: string, condition: () => boolean | Promise<boolean>, ceilingMs = 60_000): Promise<void> {
    const giveUpAt = Date.now() + ceilingMs;
    for (;;) {
      try {
        if (await condition()) return;
      } catch {
        // The daemon may be restarting: ask again.
      }
      if (Date.now() > giveUpAt) throw new Error(`never happened: ${what}\n${this.daemonLog()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** Honest sensors `${prefix}0001`… (and bad actors) against the gateway, acknowledgements tracked. */
  fleet(prefix: string, sensors: number, rate: number, badActors?: BadActorCounts): TrackedFleet {
    const fleet = SensorFleet.create({
      ca: this.sensorCa,
      gateway: { host: '127.0.0.1', port: this.dtlsPort },
      gatewayCa: this.gatewayCa,
      sensors,
      rate,
      namePrefix: prefix,
      format: 'mixed',
      connectRate: 50,
      ...(badActors ? { badActors } : {}),
      drainTimeoutMs: 60_000,
      sensor: SENSOR_OPTIONS,
    });
    this.#fleets.push(fleet);
    const acknowledged = new Map<string, number[]>();
    for (const sensor of fleet.sensors) {
      const seqs: number[] = [];
      acknowledged.set(sensor.name, seqs);
      sensor.on('acknowledged', (seq) => seqs.push(seq));
    }
    return { fleet, acknowledged };
  }

  /** One honest sensor outside a fleet, whose credentials the test keeps (to revoke them). */
  sensor(name: string): { sensor: SimulatedSensor; credentials: ReturnType<SensorCa['issue']> } {
    const credentials = this.sensorCa.issue({ commonName: name });
    const sensor = new SimulatedSensor({
      ...SENSOR_OPTIONS,
      connectAttempts: 3,
      credentials,
      gateway: { host: '127.0.0.1', port: this.dtlsPort },
      gatewayCa: this.gatewayCa,
    });
    this.#standalone.push(sensor);
    return { sensor, credentials };
  }

  /**
   * Waits until the backend has every acknowledged message of `tracked`, then returns, per sensor, what
   * is missing (should be nothing) and the backend's out-of-order count.
   */
  async delivered(
    tracked: TrackedFleet,
  ): Promise<{ missing: string[]; outOfOrder: number; duplicates: number; acknowledged: number }> {
    const missingNow = () => {
      const missing: string[] = [];
      for (const [name, seqs] of tracked.acknowledged) {
        const received = this.subscriber.distinct(name);
        for (const seq of seqs) if (!received.has(seq)) missing.push(`${name}#${seq}`);
      }
      return missing;
    };
    await this.until(
      'every acknowledged message at the backend',
      () => missingNow().length === 0,
      90_000,
    ).catch(() => undefined);
    let outOfOrder = 0;
    let duplicates = 0;
    let acknowledged = 0;
    for (const [name, seqs] of tracked.acknowledged) {
      acknowledged += seqs.length;
      outOfOrder += this.subscriber.stream(name)?.outOfOrder ?? 0;
      duplicates += this.subscriber.stream(name)?.duplicates ?? 0;
    }
    const result = { missing: missingNow(), outOfOrder, duplicates, acknowledged };
    // One line per scenario in the test log: the figures behind the verdict.
    process.stderr.write(
      `HIL delivery ${[...tracked.acknowledged.keys()][0] ?? ''}…: ${acknowledged} acknowledged, ` +
        `${result.missing.length} missing at the backend, ${duplicates} duplicates, ${outOfOrder} out of order\n`,
    );
    return result;
  }

  /** kill -9 of the daemon, then a new one started as systemd's Restart=on-failure would. */
  async killAndRestartDaemon(): Promise<void> {
    this.service.child.kill('SIGKILL');
    await this.service.exited;
    this.service = startDaemon(this.fixture.configPath);
    this.services.push(this.service);
    await this.service.waitReady();
  }

  daemonLog(): string {
    return this.services
      .map((service) => `${service.stderr}${service.stdout}`.split('\n').slice(-40).join('\n'))
      .join('\n--- next daemon ---\n');
  }

  async dispose(): Promise<void> {
    await Promise.all([
      ...this.#fleets.map((fleet) => fleet.stop()),
      ...this.#standalone.map((s) => s.stop()),
    ]);
    for (const service of this.services) await service.dispose();
    await this.subscriber.close().catch(() => undefined);
    await this.broker.stop();
    await this.est.stop();
    rmSync(this.work, { recursive: true, force: true });
    rmSync(this.fixture.dir, { recursive: true, force: true });
  }
}

/** A UDP port that was free a moment ago. */
function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
