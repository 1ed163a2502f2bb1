import { execFile } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MosquittoBroker } from '../../hw-sim/broker/index.js';
import { EstServer } from '../../hw-sim/est-server/index.js';
import { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import type { CheckReport } from '../../src/gateway-check/index.js';
import { MIGRATIONS, Store } from '../../src/store/index.js';
import { ASSUME_UNSYNCHRONIZED_ENV } from '../../src/trust/clock-floor.js';
import type { Verdict } from '../../src/verdicts/index.js';
import {
  builtEntry,
  fakeClockEnv,
  type GatewayFixture,
  gatewayctl,
  gatewayctlWith,
  provisionFactory,
  startDaemon,
} from '../helpers/daemon-harness.js';
import { identityStatus, readyDaemon, waitForIdentity } from '../helpers/identity-status.js';
import {
  inProtectedClockOf,
  protectClockUnavailableReason,
  protectedClockCommand,
  TIMESYNCD_FLAG,
  timesyncdFlagOf,
} from '../helpers/protect-clock.js';
import { provisionedSensorGateway } from '../helpers/sensor-daemon.js';
import { importCrl, sensorGatewayWorkspace } from '../helpers/sensor-gateway-workspace.js';

/**
 * `gatewayctl check` against a real gateway: the built daemon provisioned by gatewayctl, enrolled
 * over EST with the hw-sim EST server, connected to mosquitto with mutual TLS, a sensor CA with its
 * CRL imported. Then each fault an operator meets, and the check that must name it with its fix.
 * Times (near expiry, stale CRL, clock behind the floor) are shifted for gatewayctl only, with
 * libfaketime, as the other daemon tests shift the daemon's.
 */
const execFileAsync = promisify(execFile);
const DAY_MS = 86_400_000;
const protectClockUnavailable = protectClockUnavailableReason();
if (protectClockUnavailable)
  console.warn(
    `SKIPPED the ProtectClock=yes cases of test/integration/gateway-check.test.ts: ${protectClockUnavailable}`,
  );
let work: string;
let est: EstServer;
let broker: MosquittoBroker;
let fixture: GatewayFixture;
let service: ServiceSupervisor | undefined;
const services: ServiceSupervisor[] = [];
let notAfter: Date;

beforeAll(async () => {
  const workspace = sensorGatewayWorkspace('egw-check-');
  work = workspace.work;
  const { factoryDir, sensorCa } = workspace;
  // A long lifetime, so the daemon is not renewing while the test looks.
  est = await EstServer.start({
    stateDir: join(work, 'est'),
    factoryCaPem: [readFileSync(join(factoryDir, 'root.crt'), 'utf8')],
    lifetimeSeconds: 400 * 86_400,
  });
  const estRoot = join(work, 'est-root.pem');
  writeFileSync(estRoot, est.rootPem);
  broker = await MosquittoBroker.start({ dir: join(work, 'broker'), caFiles: [estRoot] });
  fixture = await provisionedSensorGateway(
    factoryDir,
    [sensorCa.certificateFile as string],
    `[identity.est]\nurl = "${est.url}"\ntrust_anchor_file = "${estRoot}"\ntimeout_ms = 5000\n` +
      `[upstream]\nenabled = true\nbroker_url = "${broker.url}"\ntrust_anchor_file = "${broker.caFile}"\n` +
      'reconnect_initial_ms = 100\nreconnect_max_ms = 500\n',
  );
  service = await readyDaemon(fixture, services);
  await importCrl(fixture, sensorCa.crlFile as string);
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
  options: { env?: NodeJS.ProcessEnv; config?: string; args?: string[] } = {},
): Promise<{ code: number | null; report: CheckReport; byName: Map<string, Verdict> }> {
  // TZ=UTC: libfaketime's times below are written in UTC.
  const result = await gatewayctlWith(
    { TZ: 'UTC', ...options.env },
    'check',
    '-c',
    options.config ?? fixture.configPath,
    '--json',
    ...(options.args ?? []),
  );
  let report: CheckReport;
  try {
    report = JSON.parse(result.stdout) as CheckReport;
  } catch {
    throw new Error(
      `gatewayctl check printed no report (exit ${result.code}): ${result.stdout}${result.stderr}`,
    );
  }
  if (!Array.isArray(report.checks))
    throw new Error(`gatewayctl check could not run (exit ${result.code}): ${result.stdout}`);
  return {
    code: result.code,
    report,
    byName: new Map(report.checks.map((verdict) => [verdict.name, verdict])),
  };
}

/** The fixture's config with the state database (and, when given, the control socket) elsewhere. */
function configWith(name: string, dbPath: string, socketPath?: string): string {
  const config = join(dirname(dbPath), `${name}.toml`);
  let text = readFileSync(fixture.configPath, 'utf8').replace(
    `path = "${fixture.dbPath}"`,
    `path = "${dbPath}"`,
  );
  if (socketPath) text = text.replace(`socket = "${fixture.socketPath}"`, `socket = "${socketPath}"`);
  writeFileSync(config, text);
  return config;
}

/** A consistent copy of the gateway's state database at `to` (VACUUM INTO, read-only beside it). */
function copyState(to: string): void {
  const db = new Database(fixture.dbPath, { readonly: true });
  try {
    db.exec(`VACUUM INTO '${to}'`);
  } finally {
    db.close();
  }
}

/**
 * `gatewayctl check --json` as an operator who is not the database's owner: as root, as nobody
 * (setpriv; root reads any file); as anyone else, as themselves (the caller makes the file mode 000).
 */
async function checkAsOther(config: string): Promise<CheckReport> {
  const run =
    process.getuid?.() === 0
      ? await execFileAsync('setpriv', [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          '--',
          process.execPath,
          builtEntry('cli'),
          'check',
          '-c',
          config,
          '--json',
        ]).catch((error: { stdout: string }) => error)
      : await gatewayctl('check', '-c', config, '--json');
  return JSON.parse(run.stdout) as CheckReport;
}

/** Every check other than those named passes (n/a counts: it is not a finding). */
function othersPass(byName: Map<string, Verdict>, except: string[]): void {
  for (const [name, verdict] of byName) {
    if (except.includes(name)) continue;
    expect(['pass', 'n/a'], `${name}: ${verdict.status} ${verdict.detail}`).toContain(verdict.status);
  }
}

describe('gatewayctl check with the daemon running', () => {
  it('a healthy gateway on a rig (--allow-simulated) passes every check, its key still said SIMULATED', async () => {
    const { code, report, byName } = await check({ args: ['--allow-simulated'] });
    expect(report.view).toBe('daemon');
    expect(report.allowSimulated).toBe(true);
    // NTP is this host's own state (the kernel's word, which no test may fake for the daemon): the
    // check says what `gatewayctl clock` says. Every other check passes, or is n/a (systemd). All
    // pass, NTP included, through the flag path: the ProtectClock=yes cases below.
    const clock = JSON.parse((await gatewayctl('clock', '-c', fixture.configPath, '--json')).stdout);
    const ntp = byName.get('NTP synchronisation');
    expect(ntp?.status).toBe(clock.synchronized ? 'pass' : 'warn');
    othersPass(byName, ['NTP synchronisation']);
    for (const name of [
      'config',
      'daemon',
      'identity key',
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
    expect(byName.get('systemd unit')?.status).toBe('n/a');
    const key = byName.get('identity key');
    expect(key?.detail).toMatch(/^SIMULATED, not hardware: software.*allowed by --allow-simulated/);
    expect(key?.fix).toBeUndefined();
    // The machine-readable marker, passing or not (scripts need not parse the detail).
    expect(key?.simulated).toBe(true);
    // All pass: exit 0 — on this host only if NTP synchronised it; otherwise that warning is the only finding.
    expect(report.status).toBe(clock.synchronized ? 'pass' : 'warn');
    expect(code).toBe(clock.synchronized ? 0 : 1);

    const text = await gatewayctl('check', '-c', fixture.configPath, '--allow-simulated');
    expect(text.stdout).toMatch(/\[PASS\] identity key: SIMULATED, not hardware: .*--allow-simulated/);
    expect(text.stdout).toMatch(/\[PASS\] broker reachable \(mutual TLS\): the daemon is connected to /);
    expect(text.stdout).toMatch(
      clock.synchronized
        ? /^result: PASS \(\d+ pass, 0 warn, 0 fail, 1 n\/a\)$/m
        : /^result: WARN \(\d+ pass, 1 warn, 0 fail, 1 n\/a\)$/m,
    );
  });

  // This host's kernel says STA_UNSYNC and no test may change the host's clock or NTP state. The
  // shipped unit's ProtectClock=yes makes adjtimex fail with EPERM, and then systemd-timesyncd's flag
  // decides (kernelClockSync): that path runs here for real, the daemon restarted on its state under
  // the same seccomp filter in a private mount namespace holding the flag, gatewayctl entered into it.
  describe.skipIf(protectClockUnavailable)(
    `under ProtectClock=yes (adjtimex refused) with systemd-timesyncd's flag${protectClockUnavailable ? ` (skipped: ${protectClockUnavailable})` : ''}`,
    () => {
      let protectedDaemon: ServiceSupervisor;
      let pid: number;

      beforeAll(async () => {
        await service?.dispose();
        protectedDaemon = ServiceSupervisor.start({
          command: protectedClockCommand(
            [process.execPath, builtEntry('daemon'), '--config', fixture.configPath],
            'synchronized',
          ),
        });
        services.push(protectedDaemon);
        await protectedDaemon.waitReady();
        pid = protectedDaemon.child.pid as number;
        await until('the broker connection', async () => (await daemonStatus()).upstream?.connected === true);
      }, 60_000);

      afterAll(async () => {
        // The plain daemon back for the cases below.
        await protectedDaemon?.dispose();
        service = await readyDaemon(fixture, services);
        await until('the broker connection', async () => (await daemonStatus()).upstream?.connected === true);
      }, 60_000);

      /** gatewayctl check in the daemon's namespace, under the same filter. */
      async function protectedCheck(...args: string[]): Promise<{ code: number; stdout: string }> {
        const [executable, ...rest] = inProtectedClockOf(pid, [
          process.execPath,
          builtEntry('cli'),
          'check',
          '-c',
          fixture.configPath,
          '--allow-simulated',
          ...args,
        ]);
        return execFileAsync(executable as string, rest).then(
          ({ stdout }) => ({ code: 0, stdout }),
          (error: { code: number; stdout: string; stderr: string }) => ({
            code: error.code,
            stdout: `${error.stdout}${error.stderr}`,
          }),
        );
      }

      function parsed(run: { code: number; stdout: string }): Map<string, Verdict> {
        const report = JSON.parse(run.stdout) as CheckReport;
        return new Map(report.checks.map((verdict) => [verdict.name, verdict]));
      }

      it('a healthy gateway passes every check and exits 0, NTP synchronised by the flag', async () => {
        const run = await protectedCheck('--json');
        const report = JSON.parse(run.stdout) as CheckReport;
        expect(report.view).toBe('daemon');
        const byName = parsed(run);
        for (const [name, verdict] of byName) {
          if (name === 'systemd unit') continue;
          expect(verdict.status, `${name}: ${verdict.detail}`).toBe('pass');
        }
        // The namespace's /run/systemd is the test's tmpfs: no systemd runs in it, which is not a finding.
        expect(byName.get('systemd unit')?.status).toBe('n/a');
        expect(byName.get('systemd unit')?.reason).toMatch(/^systemd is not the init system here/);
        const ntp = byName.get('NTP synchronisation');
        expect(ntp?.detail).toMatch(/^synchronized \(adjtimex unavailable \(seccomp\); /);
        expect(ntp?.detail).toContain(`${TIMESYNCD_FLAG} present`);
        expect(report.status).toBe('pass');
        expect(run.code).toBe(0);

        const text = await protectedCheck();
        expect(text.code).toBe(0);
        expect(text.stdout).toMatch(/^ *\[PASS\] NTP synchronisation: synchronized \(adjtimex unavailable/m);
        expect(text.stdout).toMatch(/^result: PASS \(\d+ pass, 0 warn, 0 fail, 1 n\/a\)$/m);
      });

      it('without the flag (timesyncd has not synchronised this boot) NTP warns with the fix (exit 1)', async () => {
        unlinkSync(timesyncdFlagOf(pid));
        try {
          const run = await protectedCheck('--json');
          const byName = parsed(run);
          othersPass(byName, ['NTP synchronisation']);
          const ntp = byName.get('NTP synchronisation');
          expect(ntp?.status).toBe('warn');
          expect(ntp?.detail).toMatch(
            /^NOT synchronized \(none: adjtimex refused \(seccomp, e\.g\. ProtectClock=yes\) and no /,
          );
          expect(ntp?.detail).toContain(TIMESYNCD_FLAG);
          expect(ntp?.fix).toContain('timedatectl set-ntp true');
          expect(run.code).toBe(1);
        } finally {
          writeFileSync(timesyncdFlagOf(pid), '');
        }
      });
    },
  );

  it('a simulated key warns without --allow-simulated, saying SIMULATED with the hardware fix (exit 1)', async () => {
    const { code, report, byName } = await check();
    expect(report.allowSimulated).toBe(false);
    othersPass(byName, ['identity key', 'NTP synchronisation']);
    const key = byName.get('identity key');
    expect(key?.status).toBe('warn');
    expect(key?.detail).toMatch(/^SIMULATED, not hardware: software/);
    expect(key?.detail).not.toContain('--allow-simulated');
    expect(key?.simulated).toBe(true);
    expect(key?.fix).toMatch(/backend = "tpm" or "atecc608"/);
    expect(report.status).toBe('warn');
    expect(code).toBe(1);

    const text = await gatewayctl('check', '-c', fixture.configPath);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/\[WARN\] identity key: SIMULATED, not hardware: .*; fix: /);
    expect(text.stdout).toMatch(/^result: WARN \(\d+ pass, [12] warn, 0 fail, \d+ n\/a\)$/m);
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
    copyState(copy);
    // Overwrite the second page (a b-tree page) with garbage; the header stays, so it opens.
    const fd = openSync(copy, 'r+');
    try {
      writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, 4096);
    } finally {
      closeSync(fd);
    }
    const { code, byName } = await check({ config: configWith('corrupt', copy) });
    const verdict = byName.get('state database integrity');
    expect(verdict?.status, verdict?.detail).toBe('fail');
    expect(verdict?.fix).toContain('move the file aside');
    expect(byName.get('sensor CRLs fresh')?.status).toBe('n/a');
    expect(code).toBe(2);
  });
});

describe('gatewayctl check never creates or migrates the state database', () => {
  it('a missing database warns that the daemon has not run, its readers say n/a, and none is created', async () => {
    const dbPath = join(work, 'never-ran', 'state.db');
    mkdirSync(dirname(dbPath));
    const { byName } = await check({ config: configWith('never-ran', dbPath) });
    const verdict = byName.get('state database integrity');
    expect(verdict?.status).toBe('warn');
    expect(verdict?.detail).toMatch(/^no state database yet at .*: the daemon has not run/);
    expect(verdict?.fix).toContain('systemctl start edge-gatewayd');
    for (const name of ['clock vs floor', 'sensor CRLs fresh']) {
      expect(byName.get(name)?.status, name).toBe('n/a');
      expect(byName.get(name)?.reason, name).toBe('no state database yet: the daemon has not run');
    }
    expect(readdirSync(dirname(dbPath))).toEqual(['never-ran.toml']);
  });

  it('a database of an older schema is read as it is and not migrated (warns: the daemon migrates it)', async () => {
    const latest = Math.max(...MIGRATIONS.map((m) => m.version));
    const dbPath = join(mkdtempSync(join(work, 'old-schema-')), 'state.db');
    Store.open(
      dbPath,
      MIGRATIONS.filter((m) => m.version < latest),
    ).close();
    const { byName } = await check({ config: configWith('old-schema', dbPath) });
    const verdict = byName.get('state database integrity');
    expect(verdict?.status, verdict?.detail).toBe('warn');
    expect(verdict?.detail).toContain(`schema version ${latest - 1}, older than this release's ${latest}`);
    expect(verdict?.fix).toContain('systemctl restart edge-gatewayd');
    expect(byName.get('clock vs floor')?.reason).toMatch(/older schema/);
    const db = new Database(dbPath, { readonly: true });
    try {
      expect(db.prepare('SELECT max(version) AS v FROM schema_migrations').get()).toEqual({ v: latest - 1 });
    } finally {
      db.close();
    }
  });

  it('a database the user may not read fails with a permissions fix, not the corrupt-database one', async () => {
    // Somewhere another user can reach (the test's folder is 0700), the database 0600 root's.
    const dir = mkdtempSync(join(tmpdir(), 'egw-check-perm-'));
    try {
      chmodSync(dir, 0o755);
      const dbPath = join(dir, 'state.db');
      copyState(dbPath);
      const config = configWith('unreadable', dbPath, join(dir, 'control.sock'));
      chmodSync(config, 0o644);
      chmodSync(dbPath, process.getuid?.() === 0 ? 0o600 : 0o000);
      const report = await checkAsOther(config);
      const verdict = report.checks.find((each) => each.name === 'state database integrity');
      expect(verdict?.status, verdict?.detail).toBe('fail');
      expect(verdict?.detail).toMatch(/cannot read it .*not a sign of damage/);
      expect(verdict?.fix).toMatch(/^permissions: run check as root or as the service user/);
      expect(verdict?.fix).not.toContain('move the file aside');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a database in a directory the user may not enter (StateDirectoryMode=0700) fails with the permissions fix, not 'the daemon has not run'", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egw-check-statedir-'));
    try {
      chmodSync(dir, 0o755);
      const stateDir = join(dir, 'state');
      mkdirSync(stateDir, { mode: 0o700 });
      const dbPath = join(stateDir, 'state.db');
      copyState(dbPath);
      const config = configWith('statedir', dbPath, join(dir, 'control.sock'));
      // configWith writes beside the database: put the config where the operator can read it.
      const readableConfig = join(dir, 'statedir.toml');
      writeFileSync(readableConfig, readFileSync(config, 'utf8'), { mode: 0o644 });
      chmodSync(readableConfig, 0o644);
      // As root the directory is root's 0700 and check runs as nobody; as anyone else, mode 000.
      if (process.getuid?.() !== 0) chmodSync(stateDir, 0o000);
      let report: CheckReport;
      try {
        report = await checkAsOther(readableConfig);
      } finally {
        chmodSync(stateDir, 0o700); // or the directory cannot be removed below
      }
      const verdict = report.checks.find((each) => each.name === 'state database integrity');
      expect(verdict?.status, verdict?.detail).toBe('fail');
      expect(verdict?.detail).toMatch(/cannot read it \(EACCES.*not a sign of damage/);
      expect(verdict?.detail).not.toContain('has not run');
      expect(verdict?.fix).toMatch(/^permissions: run check as root or as the service user/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // SQLite's read-only WAL rules: absent -wal/-shm are created by the reader and stay after it.
  // Run as root (sudo gatewayctl check), they must stay the database owner's, so its daemon opens them.
  it.skipIf(process.getuid?.() !== 0)(
    "run as root, the -wal/-shm SQLite leaves beside another user's database are that user's and not world-readable",
    async () => {
      const dir = mkdtempSync(join(work, 'wal-owner-'));
      const dbPath = join(dir, 'state.db');
      copyState(dbPath);
      const db = new Database(dbPath);
      db.pragma('journal_mode = WAL');
      db.close();
      expect(readdirSync(dir)).toEqual(['state.db']);
      chownSync(dbPath, 65534, 65534);
      chmodSync(dbPath, 0o600);
      const { byName } = await check({ config: configWith('wal-owner', dbPath) });
      expect(byName.get('state database integrity')?.status).toBe('pass');
      for (const suffix of ['-wal', '-shm']) {
        const stats = statSync(`${dbPath}${suffix}`);
        expect({ suffix, uid: stats.uid, gid: stats.gid }).toEqual({ suffix, uid: 65534, gid: 65534 });
        expect((stats.mode & 0o077).toString(8), suffix).toBe('0');
      }
    },
  );
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
    await provisionFactory(config, join(work, 'factory'), '--yes');

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
