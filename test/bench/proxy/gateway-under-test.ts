import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { MosquittoBroker } from '../../../hw-sim/broker/index.js';
import { SENSOR_CA_FILES, SensorCa } from '../../../hw-sim/sensors/index.js';
import { ServiceSupervisor } from '../../../hw-sim/systemd/index.js';
import { controlRequest, type DaemonStatus } from '../../../src/control/index.js';
import {
  builtEntry,
  type GatewayFixture,
  gatewayctl,
  gatewayFixture,
  repositoryRoot,
} from '../../helpers/daemon-harness.js';

const factoryCaScript = join(repositoryRoot, 'scripts/factory-ca.sh');

/** The outbox settings the bench runs with: the shipped defaults, stated in the results. */
export const OUTBOX_DEFAULTS = { commit_interval_ms: 5, commit_batch: 256 };

/** A provisioned gateway state directory (software key, factory certificate) and its config. */
export interface GatewaySetup {
  fixture: GatewayFixture;
  factoryDir: string;
  sensorCaDir: string;
  /** PEM of the factory root: what sensors trust the gateway's DTLS certificate by. */
  factoryRootFile: string;
}

/** The factory CA kit (root + signer): the broker trusts its root for gateway client certificates. */
export function makeFactoryCa(work: string): { dir: string; rootFile: string } {
  const dir = join(work, 'factory-ca');
  execFileSync(factoryCaScript, ['init', dir], { stdio: 'pipe' });
  return { dir, rootFile: join(dir, 'root.crt') };
}

/**
 * A gateway as a technician leaves it: a software identity key provisioned by the factory CA, the
 * sensor CA trusted, the broker as upstream. Log level "warn" keeps logging out of the measurement;
 * all simulated sensors come from 127.0.0.1, so the handshake budget and half-open caps are lifted.
 */
export async function provisionGateway(
  work: string,
  factory: { dir: string; rootFile: string },
  broker: MosquittoBroker,
  /** More [downstream.dtls] keys (TOML lines), e.g. the session limits for the dtls bench's 10k sessions. */
  dtlsExtra = '',
): Promise<GatewaySetup> {
  const sensorCaDir = join(work, 'sensor-ca');
  SensorCa.open(sensorCaDir);
  const fixture = gatewayFixture(gatewayConfig(sensorCaDir, broker, dtlsExtra));
  await gatewayctlOrThrow('provision', 'factory', '-c', fixture.configPath, '--ca-dir', factory.dir);
  return { fixture, factoryDir: factory.dir, sensorCaDir, factoryRootFile: factory.rootFile };
}

/** Points the (stopped) gateway at another broker; its identity and state stay. */
export function pointAt(setup: GatewaySetup, broker: MosquittoBroker): void {
  setup.fixture.writeConfig(gatewayConfig(setup.sensorCaDir, broker));
}

function gatewayConfig(sensorCaDir: string, broker: MosquittoBroker, dtlsExtra = ''): string {
  return (
    '[log]\nlevel = "warn"\n' +
    '[downstream.dtls]\nenabled = true\nhost = "127.0.0.1"\nport = 0\n' +
    `sensor_ca_files = ["${join(sensorCaDir, SENSOR_CA_FILES.certificate)}"]\n` +
    'handshakes_per_second_per_address = 100000\nhandshake_burst_per_address = 100000\n' +
    'handshakes_per_second = 100000\nhandshake_burst = 100000\n' +
    'half_open_handshakes = 100000\nhalf_open_handshakes_per_address = 100000\n' +
    dtlsExtra +
    `[upstream]\nenabled = true\nbroker_url = "${broker.url}"\ntrust_anchor_file = "${broker.caFile}"\n` +
    'reconnect_initial_ms = 100\nreconnect_max_ms = 1000\n'
  );
}

/** gatewayctl, failing loudly: the bench cannot go on without what it asked for. */
async function gatewayctlOrThrow(...args: string[]): Promise<string> {
  const result = await gatewayctl(...args);
  if (result.code !== 0)
    throw new Error(`gatewayctl ${args.slice(0, 3).join(' ')} failed: ${result.stderr.trim()}`);
  return result.stdout;
}

/** The daemon started as systemd would (Type=notify), with node flags of our choosing. */
export class RunningGateway {
  readonly service: ServiceSupervisor;
  readonly setup: GatewaySetup;
  readonly port: number;

  private constructor(service: ServiceSupervisor, setup: GatewaySetup, port: number) {
    this.service = service;
    this.setup = setup;
    this.port = port;
  }

  /** Starts the daemon, waits for READY=1 and the upstream connection; imports the sensor CA's CRL once. */
  static async start(
    setup: GatewaySetup,
    nodeFlags: string[] = [],
    importCrl = false,
    /** The daemon's built main.js (another build, e.g. a worktree of an earlier commit, to compare). */
    entry = builtEntry('daemon'),
  ): Promise<RunningGateway> {
    const service = ServiceSupervisor.start({
      command: [process.execPath, ...nodeFlags, entry, '--config', setup.fixture.configPath],
    });
    try {
      await service.waitReady();
      const status = await waitFor(setup, (s) => Boolean(s.upstream?.connected && s.sensorEndpoint));
      const port = Number(status.sensorEndpoint?.listening.split(':').at(-1));
      // With the (empty) CRL imported the sensors are judged by it, not accepted with a warning each.
      if (importCrl)
        await gatewayctlOrThrow(
          'trust',
          'crl',
          'import',
          join(setup.sensorCaDir, SENSOR_CA_FILES.crlPem),
          '--config',
          setup.fixture.configPath,
        );
      return new RunningGateway(service, setup, port);
    } catch (error) {
      await service.dispose();
      throw error;
    }
  }

  get pid(): number | undefined {
    return this.service.child.pid;
  }

  status(): Promise<DaemonStatus> {
    return controlRequest(this.setup.fixture.socketPath, 'status') as Promise<DaemonStatus>;
  }

  /** SIGTERM (a graceful stop, which also writes a --cpu-prof profile), SIGKILL after 30 s. */
  async stop(): Promise<void> {
    const killer = setTimeout(() => this.service.child.kill('SIGKILL'), 30_000);
    try {
      await this.service.stop('SIGTERM');
    } finally {
      clearTimeout(killer);
      await this.service.dispose();
    }
  }

  /** The daemon's warnings and errors (pino levels 40 and up), counted by message. */
  problems(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const record of this.service.logRecords()) {
      if (typeof record.level !== 'number' || record.level < 40) continue;
      const key = `${record.level >= 50 ? 'error' : 'warn'}: ${String(record.msg)}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  }
}

async function waitFor(
  setup: GatewaySetup,
  condition: (status: DaemonStatus) => boolean,
): Promise<DaemonStatus> {
  // A ceiling against hangs, not a timing requirement.
  const giveUpAt = Date.now() + 30_000;
  for (;;) {
    const status = (await controlRequest(setup.fixture.socketPath, 'status')) as DaemonStatus;
    if (condition(status)) return status;
    if (Date.now() > giveUpAt)
      throw new Error(`the gateway did not come up: ${JSON.stringify(status.upstream?.lastError)}`);
    await new Promise((resolvePromise) => setTimeout(resolvePromise, 100));
  }
}
