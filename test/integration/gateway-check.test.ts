import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MosquittoBroker } from '../../hw-sim/broker/index.js';
import { EstServer } from '../../hw-sim/est-server/index.js';
import { SensorCa } from '../../hw-sim/sensors/index.js';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import type { CheckReport } from '../../src/gateway-check/index.js';
import { ASSUME_UNSYNCHRONIZED_ENV } from '../../src/trust/clock-floor.js';
import type { Verdict } from '../../src/verdicts/index.js';
import {
  fakeClockEnv,
  type GatewayFixture,
  gatewayctl,
  gatewayctlWith,
  startDaemon,
} from '../helpers/daemon-harness.js';
import { identityStatus, readyDaemon, waitForIdentity } from '../helpers/identity-status.js';
import { provisionedSensorGateway } from '../helpers/sensor-daemon.js';

/**
 * `gatewayctl check` against a real gateway: the built daemon provisioned by gatewayctl, enrolled
 * over EST with the hw-sim EST server, connected to mosquitto with mutual TLS, a sensor CA with its
 * CRL imported. Then each fault an operator meets, and the check that must name it with its fix.
 * Times (near expiry, stale CRL, clock behind the floor) are shifted for gatewayctl only, with
 * libfaketime, as the other daemon tests shift the daemon's.
 */
const factoryCa = new URL('../../scripts/factory-ca.sh', import.meta.url).pathname;
const DAY_MS = 86_400_000;
let work: string;
let est: EstServer;
let broker: MosquittoBroker;
let fixture: GatewayFixture;
let service: ServiceSupervisor | undefined;
const services: ServiceSupervisor[] = [];
let notAfter: Date;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'egw-check-'));
  const factoryDir = join(work, 'factory');
  execFileSync(factoryCa, ['init', factoryDir], { stdio: 'pipe' });
  // A long lifetime, so the daemon is not renewing while the test looks.
  est = await EstServer.start({
    stateDir: join(work, 'est'),
    factoryCaPem: [readFileSync(join(factoryDir, 'root.crt'), 'utf8')],
    lifetimeSeconds: 400 * 86_400,
  });
  const estRoot = join(work, 'est-root.pem');
  writeFileSync(estRoot, est.rootPem);
  broker = await MosquittoBroker.start({ dir: join(work, 'broker'), caFiles: [estRoot] });
  const sensorCa = SensorCa.open(join(work, 'sensor-ca'));
  sensorCa.writeCrl(); // nextUpdate a week from now
  fixture = await provisionedSensorGateway(
    factoryDir,
    [sensorCa.certificateFile as string],
    `[identity.est]\nurl = "${est.url}"\ntrust_anchor_file = "${estRoot}"\ntimeout_ms = 5000\n` +
      `[upstream]\nenabled = true\nbroker_url = "${broker.url}"\ntrust_anchor_file = "${broker.caFile}"\n` +
      'reconnect_initial_ms = 100\nreconnect_max_ms = 500\n',
  );
  service = await readyDaemon(fixture, services);
  const imported = await gatewayctl(
    'trust',
    'crl',
    'import',
    sensorCa.crlFile as string,
    '-c',
    fixture.configPath,
  );
  if (imported.code !== 0) throw new Error(`CRL import failed: ${imported.stderr}`);
  const identity = await waitForIdentity(fixture, (status) => status.state === 'operational');
  notAfter = new Date(identity.notAfter as string);
  await until('the broker connection', async () => (await daemonStatus()).upstream?.connected === true);
}, 120_000);

afterAll(async () => {
  for (const each of services.splice(0)) await each.dispose();
  await broker?.stop();
  await est?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function daemonStatus(): Promise<{ upstream: { connected: boolean } | null }> {
  const result = await gatewayctl('status', '--json', '--socket', fixture.socketPath);
  if (result.code !== 0) throw new Error(`gatewayctl status failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

async function until(what: string, condition: () => Promise<boolean>): Promise<void> {
  // A ceiling against hangs (not a timing assertion).
  const giveUpAt = Date.now() + 60_000;
  while (!(await condition())) {
    if (Date.now() > giveUpAt) throw new Error(`never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** libfaketime's "YYYY-MM-DD hh:mm:ss" (UTC: TZ is set with it). */
const faketimeAt = (at: Date): string => at.toISOString().slice(0, 19).replace('T', ' ');

async function check(
  options: { env?: NodeJS.ProcessEnv; config?: string } = {},
): Promise<{ code: number | null; report: CheckReport; byName: Map<string, Verdict> }> {
  // TZ=UTC: libfaketime's times below are written in UTC.
  const result = await gatewayctlWith(
    { TZ: 'UTC', ...options.env },
    'check',
    '-c',
    options.config ?? fixture.configPath,
    '--json',
  );
  let report: CheckReport;
  try {
    report = JSON.parse(result.stdout) as CheckReport;
  } catch {
    throw new Error(
      `gatewayctl check printed no report (exit ${result.code}): ${result.stdout}${result.stderr}`,
    );
  }
  return {
    code: result.code,
    report,
    byName: new Map(report.checks.map((verdict) => [verdict.name, verdict])),
  };
}

/** Every check other than those named passes (n/a counts: it is not a finding). */
function othersPass(byName: Map<string, Verdict>, except: string[]): void {
  for (const [name, verdict] of byName) {
    if (except.includes(name)) continue;
    expect(['pass', 'n/a'], `${name}: ${verdict.status} ${verdict.detail}`).toContain(verdict.status);
  }
}

describe('gatewayctl check with the daemon running', () => {
  it('a healthy gateway passes everything but its simulated key, which it says plainly (exit 1, warn)', async () => {
    const { code, report, byName } = await check();
    expect(report.view).toBe('daemon');
    othersPass(byName, ['identity key', 'NTP synchronisation']);
    // NTP is this host's own state (the kernel's word): the check says what `gatewayctl clock` says.
    const clock = JSON.parse((await gatewayctl('clock', '-c', fixture.configPath, '--json')).stdout);
    expect(byName.get('NTP synchronisation')?.status).toBe(clock.synchronized ? 'pass' : 'warn');
    for (const name of [
      'config',
      'daemon',
      'operational certificate',
      'broker reachable (mutual TLS)',
      'EST server reachable',
      'sensor CRLs fresh',
      'clock vs floor',
      'state database integrity',
      'free disk (state)',
    ]) {
      expect(byName.get(name)?.status, `${name}: ${byName.get(name)?.detail}`).toBe('pass');
    }
    // The software key store is a stand-in: a warning with what to do on a production gateway.
    const key = byName.get('identity key');
    expect(key?.status).toBe('warn');
    expect(key?.detail).toMatch(/^SIMULATED, not hardware: software/);
    expect(key?.fix).toMatch(/backend = "tpm" or "atecc608"/);
    expect(byName.get('systemd unit')?.status).toBe('n/a');
    expect(report.status).toBe('warn');
    expect(code).toBe(1);

    const text = await gatewayctl('check', '-c', fixture.configPath);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/\[WARN\] identity key: SIMULATED, not hardware: .*; fix: /);
    expect(text.stdout).toMatch(/\[PASS\] broker reachable \(mutual TLS\): the daemon is connected to /);
    expect(text.stdout).toMatch(/^result: WARN \(\d+ pass, \d warn, 0 fail, \d+ n\/a\)$/m);
  });

  it('a certificate 3 days from expiry warns with the renewal fix', async () => {
    expect((await identityStatus(fixture)).state).toBe('operational');
    const { byName } = await check({
      env: fakeClockEnv(faketimeAt(new Date(notAfter.getTime() - 3 * DAY_MS - 3_600_000))),
    });
    const certificate = byName.get('operational certificate');
    expect(certificate?.status, certificate?.detail).toBe('warn');
    expect(certificate?.detail).toMatch(/^3 day\(s\) left \(under 14\)/);
    expect(certificate?.fix).toContain('gatewayctl identity renew --now');
  });

  it('an expired certificate fails', async () => {
    const { code, byName } = await check({
      env: fakeClockEnv(faketimeAt(new Date(notAfter.getTime() + DAY_MS))),
    });
    const certificate = byName.get('operational certificate');
    expect(certificate?.status, certificate?.detail).toBe('fail');
    expect(certificate?.detail).toMatch(/^EXPIRED: /);
    expect(code).toBe(2);
  });

  it('the broker down fails the broker check with its fix (exit 2)', async () => {
    await broker.stop();
    try {
      await until('the daemon notices', async () => (await daemonStatus()).upstream?.connected === false);
      const { code, report, byName } = await check();
      const verdict = byName.get('broker reachable (mutual TLS)');
      expect(verdict?.status).toBe('fail');
      expect(verdict?.detail).toContain('NOT connected');
      expect(verdict?.fix).toBeTruthy();
      expect(report.status).toBe('fail');
      expect(code).toBe(2);
    } finally {
      await broker.restart();
    }
  });

  it('the EST server unreachable fails the EST check with its fix (exit 2)', async () => {
    const url = est.url;
    await est.stop();
    const { code, byName } = await check();
    const verdict = byName.get('EST server reachable');
    expect(verdict?.status).toBe('fail');
    expect(verdict?.detail).toMatch(/ECONNREFUSED/);
    expect(verdict?.detail).toContain(new URL(url).origin);
    expect(verdict?.fix).toMatch(/EST server runs and is reachable/);
    expect(code).toBe(2);
  });
});

describe('gatewayctl check with the daemon stopped', () => {
  beforeAll(async () => {
    await service?.dispose();
    services.splice(0);
  });

  it('reads the state and opens the key store itself, and says the daemon is not running', async () => {
    const { report, byName } = await check();
    expect(report.view).toBe('offline');
    expect(byName.get('daemon')?.status).toBe('warn');
    expect(byName.get('daemon')?.fix).toContain('systemctl start edge-gatewayd');
    expect(byName.get('identity key')?.detail).toMatch(/^SIMULATED, not hardware: software.*opened by check/);
    expect(byName.get('operational certificate')?.status).toBe('pass');
    expect(byName.get('sensor CRLs fresh')?.status).toBe('pass');
    expect(byName.get('clock vs floor')?.status).toBe('pass');
    expect(byName.get('state database integrity')?.status).toBe('pass');
    // The broker is back (restarted above); without the daemon only its side of TLS is proven.
    const broker = byName.get('broker reachable (mutual TLS)');
    expect(broker?.status).toBe('pass');
    expect(broker?.detail).toMatch(/TLS verified against .*the gateway's own certificate was not presented/);
  });

  it('an invalid config fails first, naming the key, and nothing else is checked (exit 2)', async () => {
    const config = join(work, 'invalid.toml');
    writeFileSync(
      config,
      `${readFileSync(fixture.configPath, 'utf8')}[identity.renewal]\nlifetime_fraction = 2\n`,
    );
    const { code, report } = await check({ config });
    expect(report.view).toBe('none');
    expect(report.checks).toHaveLength(1);
    expect(report.checks[0]?.status).toBe('fail');
    expect(report.checks[0]?.detail).toContain('identity.renewal.lifetime_fraction');
    expect(report.checks[0]?.fix).toContain('gatewayctl config check');
    expect(code).toBe(2);
  });

  it('a clock NTP has not synchronised warns with the fix', async () => {
    const { byName } = await check({ env: { [ASSUME_UNSYNCHRONIZED_ENV]: '1' } });
    const verdict = byName.get('NTP synchronisation');
    expect(verdict?.status).toBe('warn');
    expect(verdict?.detail).toMatch(/^NOT synchronized \(none: /);
    expect(verdict?.fix).toContain('timedatectl set-ntp true');
  });

  it('a CRL past its nextUpdate warns with the import fix', async () => {
    const { byName } = await check({ env: fakeClockEnv(faketimeAt(new Date(Date.now() + 10 * DAY_MS))) });
    const verdict = byName.get('sensor CRLs fresh');
    expect(verdict?.status, verdict?.detail).toBe('warn');
    expect(verdict?.detail).toMatch(/^1 of 1 STALE: /);
    expect(verdict?.fix).toContain('gatewayctl trust crl import');
  });

  it('a system clock behind the clock floor fails with the fix', async () => {
    const { code, byName } = await check({ env: fakeClockEnv('2020-01-01 00:00:00') });
    const verdict = byName.get('clock vs floor');
    expect(verdict?.status, verdict?.detail).toBe('fail');
    expect(verdict?.detail).toMatch(/^system clock 2020-01-01T.* is BEHIND the floor /);
    expect(verdict?.fix).toContain('NTP');
    expect(code).toBe(2);
  });

  it('a corrupt state database fails its integrity check with the fix, and is not opened', async () => {
    const copy = join(work, 'corrupt.db');
    const db = new Database(fixture.dbPath, { readonly: true });
    try {
      db.exec(`VACUUM INTO '${copy}'`);
    } finally {
      db.close();
    }
    // Overwrite the second page (a b-tree page) with garbage; the header stays, so it opens.
    const fd = openSync(copy, 'r+');
    try {
      writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, 4096);
    } finally {
      closeSync(fd);
    }
    const config = join(work, 'corrupt.toml');
    writeFileSync(
      config,
      readFileSync(fixture.configPath, 'utf8').replace(`path = "${fixture.dbPath}"`, `path = "${copy}"`),
    );
    const { code, byName } = await check({ config });
    const verdict = byName.get('state database integrity');
    expect(verdict?.status, verdict?.detail).toBe('fail');
    expect(verdict?.fix).toContain('move the file aside');
    expect(byName.get('sensor CRLs fresh')?.status).toBe('n/a');
    expect(code).toBe(2);
  });
});

describe('gatewayctl check on the ATECC608A simulator', () => {
  it("says SIMULATED with the simulator's reason, opening the part itself only while the daemon is stopped", async () => {
    const dir = mkdtempSync(join(work, 'atecc-'));
    const config = join(dir, 'gateway.toml');
    writeFileSync(
      config,
      `[store]\npath = "${dir}/state.db"\n[control]\nsocket = "${dir}/control.sock"\n` +
        `[identity]\ncertificate_dir = "${dir}/identity"\n[identity.key]\nbackend = "atecc608"\n` +
        `[identity.key.atecc608]\nsimulator_state = "${dir}/atecc608.json"\nsimulator_timing = false\n`,
    );
    const provisioned = await gatewayctl(
      'provision',
      'factory',
      '-c',
      config,
      '--ca-dir',
      join(work, 'factory'),
      '--yes',
    );
    expect(provisioned.code, provisioned.stderr).toBe(0);

    const offline = (await check({ config })).byName.get('identity key');
    expect(offline?.status).toBe('warn');
    expect(offline?.detail).toMatch(
      /^SIMULATED, not hardware: atecc608, ATECC608A .*\(opened by check \(daemon not running\)\); the ATECC608A simulator/,
    );

    const daemon = startDaemon(config);
    services.push(daemon);
    await daemon.waitReady();
    const { report, byName } = await check({ config });
    expect(report.view).toBe('daemon');
    const live = byName.get('identity key');
    expect(live?.status).toBe('warn');
    expect(live?.detail).toMatch(
      /^SIMULATED, not hardware: atecc608, .*\(the running daemon\); the ATECC608A simulator/,
    );
  });
});
