import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import { SoftwareKeyDevice } from '../../src/keys/index.js';
import { MIGRATIONS } from '../../src/store/index.js';
import { builtEntry, gatewayctl, gatewayFixture, startDaemon } from '../helpers/daemon-harness.js';

const version = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
const latestSchema = Math.max(...MIGRATIONS.map((m) => m.version));
const services: ServiceSupervisor[] = [];
const track = (service: ServiceSupervisor) => {
  services.push(service);
  return service;
};
const readyCount = (service: ServiceSupervisor) =>
  service.notify.messages.filter((message) => message.includes('READY=1')).length;

async function statusJson(socketPath: string) {
  const result = await gatewayctl('status', '--json', '--socket', socketPath);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout);
}

async function reload(service: ServiceSupervisor) {
  const before = readyCount(service);
  const reloadingBefore = service.notify.messages.filter((m) => m.includes('RELOADING=1')).length;
  service.child.kill('SIGHUP');
  await service.notify.waitFor(() => readyCount(service) > before, 30_000, 'READY=1 after SIGHUP');
  const reloading = service.notify.messages.filter((m) => m.includes('RELOADING=1'));
  expect(reloading.length).toBe(reloadingBefore + 1);
  return reloading.at(-1) ?? [];
}

/** The STATUS= sent with the latest READY=1 (watchdog pings interleave, so not simply the last message). */
const lastReadyStatus = (service: ServiceSupervisor) =>
  service.notify.messages
    .filter((message) => message.includes('READY=1'))
    .at(-1)
    ?.find((line) => line.startsWith('STATUS='));

afterEach(async () => {
  for (const service of services.splice(0)) await service.dispose();
});

describe('edge-gatewayd under a systemd-style supervisor', () => {
  it('reports READY, STATUS and WATCHDOG, answers gatewayctl, reloads, and stops with STOPPING', async () => {
    const fixture = gatewayFixture();
    const service = track(startDaemon(fixture.configPath, 400_000));

    const ready = await service.waitReady();
    expect(ready.find((line) => line.startsWith('STATUS='))).toBe(
      `STATUS=running, state database schema ${latestSchema}; identity key unavailable: EGW_KEY_NOT_FOUND`,
    );
    // Progress STATUS= messages come before READY=1, READY=1 before the first keep-alive.
    const messages = service.notify.messages;
    const readyIndex = messages.findIndex((m) => m.includes('READY=1'));
    expect(messages.slice(0, readyIndex).some((m) => m[0]?.startsWith('STATUS=opening state database'))).toBe(
      true,
    );
    await service.notify.waitFor(
      (m) => m.includes('WATCHDOG=1') && service.notify.messages.indexOf(m) > readyIndex,
      30_000,
      'WATCHDOG=1',
    );
    await service.notify.waitFor(
      () => service.notify.messages.filter((m) => m.includes('WATCHDOG=1')).length >= 2,
      30_000,
      'a second WATCHDOG=1',
    );

    const status = await statusJson(fixture.socketPath);
    expect(status).toMatchObject({
      state: 'running',
      version,
      pid: service.child.pid,
      configPath: fixture.configPath,
      database: { path: fixture.dbPath, schemaVersion: latestSchema },
      logLevel: 'info',
      restartRequiredFor: [],
      lastReload: null,
      supervisor: { notifySocket: true, watchdogUsec: 400_000 },
      identityKey: { available: false, backend: 'software', error: { code: 'EGW_KEY_NOT_FOUND' } },
    });
    expect(Number.isInteger(status.uptimeSeconds)).toBe(true);

    const human = await gatewayctl('status', '--config', fixture.configPath);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^edge-gatewayd running\n/);
    const columns = human.stdout.replace(/ +/g, ' ');
    expect(columns).toContain(`database ${fixture.dbPath} (schema ${latestSchema})`);
    expect(columns).toContain('supervisor systemd, watchdog 0.4 s');
    expect(columns).toContain(
      `identity key software: UNAVAILABLE (EGW_KEY_NOT_FOUND: no software identity key at ${fixture.keyPath})`,
    );

    // Reload: log.level applies at once, store.path is reported as needing a restart.
    fixture.writeConfig('[log]\nlevel = "debug"\n');
    writeFileSync(
      fixture.configPath,
      readFileSync(fixture.configPath, 'utf8').replace('state.db', 'other.db'),
    );
    const reloading = await reload(service);
    expect(reloading).toContain('RELOADING=1');
    expect(reloading.find((line) => line.startsWith('MONOTONIC_USEC='))).toMatch(/^MONOTONIC_USEC=\d+$/);
    expect(lastReadyStatus(service)).toBe(
      `STATUS=running, state database schema ${latestSchema}; identity key unavailable: EGW_KEY_NOT_FOUND; restart needed for store.path`,
    );
    const reloaded = await statusJson(fixture.socketPath);
    expect(reloaded.logLevel).toBe('debug');
    expect(reloaded.database.path).toBe(fixture.dbPath);
    expect(reloaded.restartRequiredFor).toEqual(['store.path']);
    expect(reloaded.lastReload).toMatchObject({
      ok: true,
      message: 'applied: log.level; needs restart: store.path',
    });

    // A broken file on reload changes nothing and says so.
    writeFileSync(fixture.configPath, '[log]\nlevel = "shouting"\n');
    await reload(service);
    const afterBadReload = await statusJson(fixture.socketPath);
    expect(afterBadReload.state).toBe('running');
    expect(afterBadReload.logLevel).toBe('debug');
    expect(afterBadReload.lastReload.ok).toBe(false);
    expect(afterBadReload.lastReload.message).toContain('log.level: expected one of');
    expect(lastReadyStatus(service)).toBe(
      `STATUS=running, state database schema ${latestSchema}; identity key unavailable: EGW_KEY_NOT_FOUND; last reload failed (see journal), previous config in use; restart needed for store.path`,
    );

    const exit = await service.stop('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    const stopping = service.notify.messages.find((m) => m.includes('STOPPING=1'));
    expect(stopping).toEqual(['STOPPING=1', 'STATUS=stopping (SIGTERM)']);
    expect(existsSync(fixture.socketPath)).toBe(false);

    // journald gets one JSON object per line, and the level change took effect.
    const records = service.logRecords();
    expect(records.length).toBeGreaterThan(3);
    expect(records.map((r) => r.msg)).toEqual(
      expect.arrayContaining(['edge-gatewayd ready', 'edge-gatewayd stopped']),
    );
    expect(
      service.stdout
        .trim()
        .split('\n')
        .every((line) => line.startsWith('{')),
    ).toBe(true);
  });

  it('opens the identity key at start-up and reports a software key as not hardware-backed', async () => {
    const fixture = gatewayFixture();
    new SoftwareKeyDevice({ path: fixture.keyPath, certificateDir: fixture.dir }).generateKey({
      overwrite: false,
    });
    const service = track(startDaemon(fixture.configPath));
    const ready = await service.waitReady();
    expect(ready).toContain(
      `STATUS=running, state database schema ${latestSchema}; identity key: software (NOT hardware-backed)`,
    );
    const status = await statusJson(fixture.socketPath);
    expect(status.identityKey).toMatchObject({
      available: true,
      backend: 'software',
      hardwareBacked: false,
      keyLocation: fixture.keyPath,
    });
    const warning = service.logRecords().find((record) => record.level === 40);
    expect(warning?.msg).toContain('identity key is NOT hardware-backed');
    const human = await gatewayctl('status', '--socket', fixture.socketPath);
    expect(human.stdout).toContain('NOT hardware-backed (development only)');
  });

  it('runs without systemd: no NOTIFY_SOCKET means the notifications are silent no-ops', async () => {
    const fixture = gatewayFixture();
    const env = { ...process.env };
    delete env.NOTIFY_SOCKET;
    delete env.WATCHDOG_USEC;
    const child = spawn(process.execPath, [builtEntry('daemon'), '--config', fixture.configPath], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let stdout = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', () => stdout.includes('edge-gatewayd ready') && resolve());
      exited.then((code) => reject(new Error(`daemon exited with ${code}: ${stdout}`)));
    });
    const status = await statusJson(fixture.socketPath);
    expect(status.supervisor).toEqual({ notifySocket: false, watchdogUsec: null });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('exits 78 (EX_CONFIG) on an invalid config, naming the key, and tells systemd why', async () => {
    const fixture = gatewayFixture('[log]\nlevel = "loud"\n');
    const service = track(startDaemon(fixture.configPath));
    expect(await service.exited).toEqual({ code: 78, signal: null });
    expect(service.stderr).toBe(
      `edge-gatewayd: invalid config ${fixture.configPath}:\n` +
        '  - log.level: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent"; found "loud"\n' +
        `  hint: fix ${fixture.configPath} (every key is documented in config/gateway.example.toml), then check it with \`gatewayctl config check ${fixture.configPath}\`\n`,
    );
    await service.notify.waitForLine(`STATUS=failed: invalid configuration ${fixture.configPath}`);
    expect(service.notify.messages.some((m) => m.includes('READY=1'))).toBe(false);
  });

  it('refuses to start on a corrupt database (exit 65, EX_DATAERR: not restarted), naming it, and never recreates it', async () => {
    const fixture = gatewayFixture();
    const service = track(startDaemon(fixture.configPath));
    await service.waitReady();
    await service.stop();
    writeFileSync(fixture.dbPath, Buffer.alloc(4096, 0x42));

    const again = track(startDaemon(fixture.configPath));
    expect(await again.exited).toEqual({ code: 65, signal: null });
    const fatal = again.logRecords().find((record) => record.level === 60);
    expect(fatal).toMatchObject({ code: 'EGW_STORE_CORRUPT' });
    expect(String(fatal?.msg)).toContain(`state database ${fixture.dbPath} is corrupt`);
    await again.notify.waitFor((m) =>
      m.some((line) => line.startsWith(`STATUS=failed: state database ${fixture.dbPath}`)),
    );
    expect(readFileSync(fixture.dbPath)).toEqual(Buffer.alloc(4096, 0x42));
  });

  it('a second daemon on the same control socket fails and leaves the first serving', async () => {
    const fixture = gatewayFixture();
    const first = track(startDaemon(fixture.configPath));
    await first.waitReady();
    const second = track(startDaemon(fixture.configPath));
    expect((await second.exited).code).toBe(1);
    expect(second.logRecords().find((record) => record.level === 60)).toMatchObject({
      code: 'EGW_CONTROL_IN_USE',
    });
    expect((await statusJson(fixture.socketPath)).pid).toBe(first.child.pid);
  });
});

describe('gatewayctl', () => {
  it('status exits 3 with a clear message when the daemon is not running', async () => {
    const fixture = gatewayFixture();
    const result = await gatewayctl('status', '--socket', fixture.socketPath);
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `gatewayctl: edge-gatewayd is not running (nothing answers on ${fixture.socketPath}: ENOENT)\n` +
        '  hint: start it with `systemctl start edge-gatewayd`, or pass --socket / --config if it uses another control socket\n',
    );
    const json = await gatewayctl('status', '--json', '--socket', fixture.socketPath);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, code: 'EGW_CONTROL_NOT_RUNNING' });
  });

  it('config check validates without starting anything', async () => {
    const fixture = gatewayFixture();
    const good = await gatewayctl('config', 'check', fixture.configPath);
    expect(good).toEqual({ code: 0, stdout: `${fixture.configPath}: valid\n`, stderr: '' });
    expect(existsSync(fixture.dbPath)).toBe(false);

    const example = new URL('../../config/gateway.example.toml', import.meta.url).pathname;
    expect((await gatewayctl('config', 'check', example)).code).toBe(0);

    fixture.writeConfig('[daemon]\nshutdown_timeout_ms = "soon"\n[sotre]\n');
    const bad = await gatewayctl('config', 'check', fixture.configPath);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`gatewayctl: invalid config ${fixture.configPath}:\n`);
    expect(bad.stderr).toContain('  - daemon.shutdown_timeout_ms: expected a number, found "soon"\n');
    expect(bad.stderr).toContain('  - sotre: unknown key; did you mean "store"?\n');

    const json = JSON.parse((await gatewayctl('config', 'check', '--json', fixture.configPath)).stdout);
    expect(json.code).toBe('EGW_CONFIG_INVALID');
    expect(json.problems).toContainEqual({ path: 'sotre', message: 'unknown key; did you mean "store"?' });
  });
});
