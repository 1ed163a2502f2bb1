import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import {
  type GatewayFixture,
  gatewayFixture,
  provisionFactory,
  startDaemon,
} from '../helpers/daemon-harness.js';
import { provisionedSensorGateway } from '../helpers/sensor-daemon.js';
import { sensorGatewayWorkspace } from '../helpers/sensor-gateway-workspace.js';
import { SilentServers } from '../helpers/silent-servers.js';

/**
 * A start that fails late, once worker threads, sockets and the database are up, must end the
 * process with the failure's exit status (under systemd: the unit fails and restarts instead of
 * sitting in "activating" until TimeoutStartSec), after stopping what had started — an EST request in
 * flight to a server that never answers included. Each cause is real: a port or socket another
 * process holds, an EST server that accepts and never answers.
 */

let work: string;
let factoryDir: string;
let sensorCaFile: string;
const services: ServiceSupervisor[] = [];
/** Servers someone else runs: they hold a port or socket path, and answer nothing. */
const occupants = new SilentServers();

beforeAll(() => {
  const workspace = sensorGatewayWorkspace('egw-failed-start-');
  work = workspace.work;
  factoryDir = workspace.factoryDir;
  sensorCaFile = workspace.sensorCa.certificateFile as string;
});

afterEach(async () => {
  for (const service of services.splice(0)) await service.dispose();
  await occupants.close();
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A gateway with its sensor endpoint in-process (software key), `extra` TOML after it. */
function softwareKeyGateway(extra: string): Promise<GatewayFixture> {
  return provisionedSensorGateway(factoryDir, [sensorCaFile], extra);
}

/** The identity key in the ATECC608A (simulator, on its device worker), sensors on 2 worker threads. */
async function deviceWorkerGateway(): Promise<GatewayFixture> {
  const fixture = gatewayFixture();
  writeFileSync(
    fixture.configPath,
    `[store]\npath = "${fixture.dbPath}"\n[control]\nsocket = "${fixture.socketPath}"\n` +
      `[identity]\ncertificate_dir = "${fixture.dir}/identity"\n[identity.key]\nbackend = "atecc608"\n` +
      `[identity.key.atecc608]\nsimulator_state = "${join(fixture.dir, 'atecc608.json')}"\n` +
      '[downstream.dtls]\nenabled = true\nhost = "127.0.0.1"\nport = 0\nworkers = 2\n' +
      `sensor_ca_files = ["${sensorCaFile}"]\n`,
  );
  await provisionFactory(fixture.configPath, factoryDir, '--yes');
  return fixture;
}

interface Stage {
  name: string;
  /** The gateway, and what makes its start fail. */
  setUp(): Promise<GatewayFixture>;
  /** Log lines (msg) that show what had started before the failure. */
  startedFirst: string[];
  code: string;
  message: RegExp;
}

const stages: Stage[] = [
  {
    name: 'the metrics listener, whose port another process holds (sensor endpoint and control socket up)',
    setUp: async () => softwareKeyGateway(`[metrics]\nlisten = "${await occupants.listen({ port: 0 })}"\n`),
    startedFirst: ['sensor endpoint (CoAP over DTLS) listening', 'control socket listening'],
    code: 'EGW_METRICS_LISTEN',
    message: /^start-up failed: cannot serve metrics on 127\.0\.0\.1:\d+: .*EADDRINUSE/,
  },
  {
    name: 'the control socket, which another process listens on (device worker, 2 sensor worker threads up)',
    setUp: async () => {
      const fixture = await deviceWorkerGateway();
      mkdirSync(join(fixture.dir, 'run'), { recursive: true });
      await occupants.listen({ path: fixture.socketPath });
      return fixture;
    },
    startedFirst: ['sensor endpoint on 2 worker threads (SO_REUSEPORT)'],
    code: 'EGW_CONTROL_IN_USE',
    message: /^start-up failed: another edge-gatewayd is already listening on /,
  },
];

describe('a start that fails late', () => {
  it.each(stages)(
    'at $name: stops what had started, exits 1 naming the cause and what to do',
    async (stage) => {
      const fixture = await stage.setUp();
      const service = startDaemon(fixture.configPath);
      services.push(service);
      expect(await service.exited).toEqual({ code: 1, signal: null });

      const records = service.logRecords();
      const messages = records.map((record) => String(record.msg));
      for (const line of stage.startedFirst) expect(messages.some((m) => m.startsWith(line))).toBe(true);
      const fatal = records.find((record) => record.level === 60);
      expect(fatal).toMatchObject({ code: stage.code });
      expect(String(fatal?.msg)).toMatch(stage.message);
      expect(String(fatal?.hint ?? '')).not.toBe('');
      await service.notify.waitFor((m) => m.some((line) => line.startsWith('STATUS=failed: ')));
      expect(service.notify.messages.some((m) => m.includes('READY=1'))).toBe(false);
      // systemd shows the last STATUS= as the failed unit's StatusText: the failure, not the stop after it.
      service.notify.drain();
      const statuses = service.notify.messages.flat().filter((line) => line.startsWith('STATUS='));
      expect(statuses.at(-1)).toMatch(/^STATUS=failed: /);

      // What had started was stopped before the exit: the graceful stop ran to its end, and the state
      // database was closed (SQLite removes the WAL file when its last connection closes).
      const fatalAt = records.indexOf(fatal as Record<string, unknown>);
      expect(messages.slice(fatalAt)).toContain('edge-gatewayd stopped');
      expect(existsSync(`${fixture.dbPath}-wal`)).toBe(false);
    },
  );

  it('a failed start with an EST request in flight stops cleanly (the request is abandoned)', async () => {
    const est = await occupants.listen({ port: 0 });
    const fixture = await softwareKeyGateway(
      `[metrics]\nlisten = "${await occupants.listen({ port: 0 })}"\n` +
        // The enrolment in flight would give up only after 600 s: the stop abandons it instead.
        `[identity.est]\nurl = "https://${est}"\ntrust_anchor_file = "${join(factoryDir, 'root.crt')}"\n` +
        'timeout_ms = 600000\n',
    );
    const service = startDaemon(fixture.configPath);
    services.push(service);
    expect(await service.exited).toEqual({ code: 1, signal: null });

    const records = service.logRecords();
    const messages = records.map((record) => String(record.msg));
    expect(messages).toContain('identity lifecycle started (EST)');
    expect(records.find((record) => record.level === 60)).toMatchObject({ code: 'EGW_METRICS_LISTEN' });
    expect(messages).toContain('EST request abandoned: stopping');
    expect(messages.some((m) => m.startsWith('stopping what had started did not finish within'))).toBe(false);
    expect(messages).toContain('edge-gatewayd stopped');
    expect(existsSync(`${fixture.dbPath}-wal`)).toBe(false);
  });
});
