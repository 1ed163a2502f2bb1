import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, X509Certificate as NodeX509 } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EstServer } from '../../hw-sim/est-server/index.js';
import { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import { SwtpmProcess } from '../../hw-sim/tpm/index.js';
import type { IdentityStatus } from '../../src/identity/index.js';
import { ASSUME_UNSYNCHRONIZED_ENV } from '../../src/trust/clock-floor.js';
import {
  builtEntry,
  fakeClockEnv,
  type GatewayFixture,
  gatewayctl,
  gatewayFixture,
} from '../helpers/daemon-harness.js';
import { identityStatus, readyDaemon, waitForIdentity } from '../helpers/identity-status.js';

/**
 * Zero-touch bootstrap and renewal over EST, end to end: the built daemon, started as systemd would,
 * provisioned with a factory certificate by gatewayctl, against the hw-sim EST server (a real HTTPS
 * RFC 7030 server in this process). Nothing but configuration tells the daemon to enrol.
 */
const factoryCa = new URL('../../scripts/factory-ca.sh', import.meta.url).pathname;
let caDir: string;
const services: ServiceSupervisor[] = [];
const servers: EstServer[] = [];

beforeAll(() => {
  caDir = join(mkdtempSync(join(tmpdir(), 'egw-est-factory-')), 'factory');
  execFileSync(factoryCa, ['init', caDir], { stdio: 'pipe' });
});
afterEach(async () => {
  for (const service of services.splice(0)) await service.dispose();
  for (const server of servers.splice(0)) {
    await server.stop();
    rmSync(server.ca.stateDir, { recursive: true, force: true });
  }
});
afterAll(() => undefined);

async function startEst(options: Partial<Parameters<typeof EstServer.start>[0]> = {}): Promise<EstServer> {
  const server = await EstServer.start({
    stateDir: mkdtempSync(join(tmpdir(), 'egw-est-')),
    factoryCaPem: [readFileSync(join(caDir, 'root.crt'), 'utf8')],
    ...options,
  });
  servers.push(server);
  return server;
}

/** A provisioned gateway configured for `est`, with fast retries so tests do not wait long. */
async function provisionedGateway(
  est: { url: string; rootPem: string },
  extra = '',
): Promise<GatewayFixture> {
  const fixture = gatewayFixture();
  const anchor = join(fixture.dir, 'est-root.pem');
  writeFileSync(anchor, est.rootPem);
  fixture.writeConfig(
    `[identity.est]\nurl = "${est.url}"\ntrust_anchor_file = "${anchor}"\ntimeout_ms = 5000\n` +
      `[identity.renewal]\nretry_initial_ms = 200\nretry_max_ms = 1000\n${extra}`,
  );
  const provisioned = await gatewayctl('provision', 'factory', '-c', fixture.configPath, '--ca-dir', caDir);
  expect(provisioned.code, provisioned.stderr).toBe(0);
  return fixture;
}

const runDaemon = (fixture: GatewayFixture) => readyDaemon(fixture, services);

describe('zero-touch identity over EST', () => {
  it('enrols on first start with the factory identity, commits, stores the upstream bundle, and shows it', async () => {
    const est = await startEst();
    const fixture = await provisionedGateway(est);
    await runDaemon(fixture);
    const status = await waitForIdentity(fixture, (s) => s.state === 'operational');
    expect(status.presenting).toBe('operational');
    expect(status.subject).toMatch(/^CN=device-([0-9A-F]+), serialNumber=\1$/);
    expect(status.keyBackend).toBe('software');
    const issued = est.auditEntries().filter((entry) => entry.issued);
    expect(issued).toHaveLength(1);
    expect(status.issuer).toBe(issued[0]?.issued?.issuer);
    expect(issued[0]?.path).toContain('/simpleenroll');
    expect(issued[0]?.client?.issuer).toBeDefined();
    expect(status.serial?.toLowerCase()).toBe(issued[0]?.issued?.serial.toLowerCase());

    const db = new Database(fixture.dbPath, { readonly: true });
    try {
      const bundle = db
        .prepare("SELECT source, subject FROM trust_certificates WHERE bundle = 'upstream'")
        .all();
      expect(bundle.length).toBeGreaterThanOrEqual(1);
      expect(bundle.every((row) => (row as { source: string }).source === 'est')).toBe(true);
    } finally {
      db.close();
    }

    const overall = await gatewayctl('status', '--socket', fixture.socketPath);
    expect(overall.stdout).toMatch(/identity\s+operational: CN=device-/);
  });

  it('renews before expiry with simplereenroll under the operational identity', async () => {
    const est = await startEst({ lifetimeSeconds: 8 });
    const fixture = await provisionedGateway(est, 'jitter_fraction = 0\n');
    await runDaemon(fixture);
    const first = await waitForIdentity(fixture, (s) => s.state === 'operational');
    const renewed = await waitForIdentity(
      fixture,
      (s) => s.state === 'operational' && s.serial !== first.serial,
    );
    expect(renewed.subject).toBe(first.subject);
    const reenrolls = est
      .auditEntries()
      .filter((entry) => entry.issued && entry.path.includes('simplereenroll'));
    expect(reenrolls.length).toBeGreaterThanOrEqual(1);
    // Re-enrolment is authenticated by the operational certificate, not the factory one.
    expect(reenrolls[0]?.client?.serial.toLowerCase()).toBe(first.serial?.toLowerCase());
  });

  it('keeps the factory identity while the EST server answers 503, then recovers', async () => {
    const est = await startEst();
    // Failing until the test has seen it fail (a count would race the gateway's fast retries).
    est.faults.failNext = { status: 503, count: 1_000_000, body: 'maintenance' };
    const fixture = await provisionedGateway(est);
    await runDaemon(fixture);
    const failing = await waitForIdentity(fixture, (s) => s.attempts >= 1);
    expect(failing.presenting).toBe('factory');
    expect(failing.lastError).toMatch(/503: maintenance/);
    delete est.faults.failNext;
    const recovered = await waitForIdentity(fixture, (s) => s.state === 'operational');
    expect(recovered.attempts).toBe(0);
  });

  it('honours 202 Retry-After, then enrols', async () => {
    const est = await startEst();
    est.faults.pending = { count: 1, retryAfterSeconds: 1 };
    const fixture = await provisionedGateway(est);
    await runDaemon(fixture);
    await waitForIdentity(fixture, (s) => s.state === 'operational');
    const statuses = est.auditEntries().map((entry) => entry.status);
    expect(statuses).toContain(202);
  });

  it('refuses a certificate issued by the wrong CA, keeps its identity, recovers when the server is fixed', async () => {
    const est = await startEst();
    est.faults.wrongCa = true;
    const fixture = await provisionedGateway(est);
    await runDaemon(fixture);
    const refused = await waitForIdentity(fixture, (s) => s.attempts >= 1);
    expect(refused.presenting).toBe('factory');
    expect(refused.lastError).toMatch(/does not chain to the EST CA/);
    est.faults.wrongCa = false;
    await waitForIdentity(fixture, (s) => s.state === 'operational');
  });

  it('gatewayctl identity renew --now and rollback', async () => {
    const est = await startEst();
    const fixture = await provisionedGateway(est);
    await runDaemon(fixture);
    const first = await waitForIdentity(fixture, (s) => s.state === 'operational');
    const renew = await gatewayctl('identity', 'renew', '--now', '--json', '--socket', fixture.socketPath);
    expect(renew.code, renew.stderr).toBe(0);
    const renewed = JSON.parse(renew.stdout) as IdentityStatus;
    expect(renewed.serial).not.toBe(first.serial);
    const rollback = await gatewayctl('identity', 'rollback', '--json', '--socket', fixture.socketPath);
    expect(rollback.code, rollback.stderr).toBe(0);
    expect((JSON.parse(rollback.stdout) as IdentityStatus).serial).toBe(first.serial);
    const again = await gatewayctl('identity', 'rollback', '--json', '--socket', fixture.socketPath);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout).code).toBe('EGW_IDENTITY_NOTHING_TO_ROLL_BACK');
  });

  it('boots at 1970 (no RTC) with its cached identity: still operational, judged at the clock floor', async () => {
    const est = await startEst();
    const fixture = await provisionedGateway(est);
    // The floor's only evidence here is the issued certificate (the host's clock may be NTP-synced).
    process.env[ASSUME_UNSYNCHRONIZED_ENV] = '1';
    const first = await runDaemon(fixture).finally(() => delete process.env[ASSUME_UNSYNCHRONIZED_ENV]);
    const enrolled = await waitForIdentity(fixture, (s) => s.state === 'operational');
    const floor = await gatewayctl('clock', '--json', '-c', fixture.configPath);
    expect(JSON.parse(floor.stdout)).toMatchObject({
      source: 'certificate',
      detail: `operational certificate ${enrolled.serial}`,
    });
    await first.stop();
    const calls = est.auditEntries().length;
    // libfaketime: the daemon's clock (and OpenSSL's) reads 2 January 1970.
    const service = ServiceSupervisor.start({
      command: [process.execPath, builtEntry('daemon'), '--config', fixture.configPath],
      env: fakeClockEnv('1970-01-02 00:00:00'),
    });
    services.push(service);
    await service.waitReady();
    const status = await identityStatus(fixture);
    expect(status.state).toBe('operational');
    expect(status.presenting).toBe('operational');
    expect(status.serial).toBe(enrolled.serial);
    expect(status.expired).toBe(false);
    expect(status.clockBehindFloor).toBe(true);
    expect(Date.parse(status.clockUsed)).toBeGreaterThan(Date.parse('2026-01-01'));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(est.auditEntries().length).toBe(calls); // no panic re-enrolment
    const overall = await gatewayctl('identity', 'status', '--socket', fixture.socketPath);
    expect(overall.stdout).toMatch(/system clock behind the floor/);
  });

  it('refuses a certificate from an expired issuing CA, keeps its identity, recovers', async () => {
    const est = await startEst({ enrollResponse: 'chain' }); // the expired CA comes with the leaf
    est.faults.expiredIssuingCa = true;
    const fixture = await provisionedGateway(est);
    await runDaemon(fixture);
    const refused = await waitForIdentity(fixture, (s) => s.attempts >= 1);
    expect(refused.presenting).toBe('factory');
    expect(refused.lastError).toMatch(/its CA ".*" expired at/);
    est.faults.expiredIssuingCa = false;
    await waitForIdentity(fixture, (s) => s.state === 'operational');
  });

  it('waits out an EST server that is down, then slow, and enrols when it is back', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'egw-est-'));
    const factoryCaPem = [readFileSync(join(caDir, 'root.crt'), 'utf8')];
    const first = await EstServer.start({ stateDir, factoryCaPem });
    const { url, port, rootPem } = first;
    await first.stop();
    const fixture = await provisionedGateway({ url, rootPem }, '');
    writeFileSync(
      fixture.configPath,
      readFileSync(fixture.configPath, 'utf8').replace('timeout_ms = 5000', 'timeout_ms = 1000'),
    );
    await runDaemon(fixture);
    const down = await waitForIdentity(fixture, (s) => s.attempts >= 2);
    expect(down.presenting).toBe('factory');
    expect(down.lastError).toMatch(/ECONNREFUSED|failed/);
    const back = await startEst({ stateDir, port });
    back.faults.stallMs = 3000; // slower than identity.est.timeout_ms
    const slow = await waitForIdentity(fixture, (s) => /no answer within 1000 ms/.test(s.lastError ?? ''));
    expect(slow.presenting).toBe('factory');
    back.faults.stallMs = 0;
    await waitForIdentity(fixture, (s) => s.state === 'operational');
  });

  it('re-bootstraps with the factory identity, loudly, when the operational certificate expired', async () => {
    const est = await startEst({ lifetimeSeconds: 4 });
    const fixture = await provisionedGateway(est);
    const service = await runDaemon(fixture);
    await waitForIdentity(fixture, (s) => s.state === 'operational');
    await service.stop();
    const db = new Database(fixture.dbPath, { readonly: true });
    const { not_after: notAfter } = db
      .prepare("SELECT not_after FROM identity_certificates WHERE status = 'active'")
      .get() as { not_after: number };
    db.close();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, notAfter - Date.now()) + 300));
    const enrolmentsBefore = est
      .auditEntries()
      .filter((e) => e.issued && e.path.endsWith('/simpleenroll')).length;
    const again = await runDaemon(fixture);
    const status = await waitForIdentity(fixture, (s) => s.state === 'operational' && !s.expired);
    expect(status.presenting).toBe('operational');
    const enrolments = est.auditEntries().filter((e) => e.issued && e.path.endsWith('/simpleenroll'));
    expect(enrolments.length).toBe(enrolmentsBefore + 1);
    const loud = again.logRecords().find((record) => record.event === 'identity.rebootstrap');
    expect(loud?.level).toBe(50); // pino "error"
  });

  it('rotates to a fresh key on each renewal (A/B), and rolls back to the previous key', async () => {
    const est = await startEst();
    const fixture = await provisionedGateway(est, 'rotate_key = true\n');
    await runDaemon(fixture);
    const first = await waitForIdentity(fixture, (s) => s.state === 'operational');
    expect(first.keyLocation).toBe(fixture.keyPath); // enrolment certifies the factory key
    const renew = () => renewNow(fixture);
    const second = await renew();
    expect(second.keyLocation).toBe('rotated key A');
    expect(activeCertificateKey(fixture)).toBe(softwareKey(`${fixture.keyPath}.rotated-a`));
    const third = await renew();
    expect(third.keyLocation).toBe('rotated key B');
    expect(activeCertificateKey(fixture)).toBe(softwareKey(`${fixture.keyPath}.rotated-b`));
    expect(softwareKey(`${fixture.keyPath}.rotated-b`)).not.toBe(softwareKey(`${fixture.keyPath}.rotated-a`));
    const rollback = await gatewayctl('identity', 'rollback', '--json', '--socket', fixture.socketPath);
    expect(rollback.code, rollback.stdout).toBe(0);
    const back = JSON.parse(rollback.stdout) as IdentityStatus;
    expect(back.serial).toBe(second.serial);
    expect(back.keyLocation).toBe('rotated key A');
    // Re-enrolment after rotation goes back to the factory key (what the factory certificate is for).
    const enrol = await gatewayctl('identity', 'enroll', '--json', '--socket', fixture.socketPath);
    expect(enrol.code, enrol.stdout).toBe(0);
    expect((JSON.parse(enrol.stdout) as IdentityStatus).keyLocation).toBe(fixture.keyPath);
  });

  it('rotates keys in the TPM (swtpm): the renewed certificate is for a fresh key at the next handle', async () => {
    const swtpm = await SwtpmProcess.start();
    try {
      const est = await startEst();
      const fixture = await hardwareGateway(
        est,
        `[identity.key]\nbackend = "tpm"\n[identity.key.tpm]\ntcti = "${swtpm.tcti}"\npersistent_handle = 0x81000300\n`,
      );
      const service = await runDaemon(fixture);
      const first = await waitForIdentity(fixture, (s) => s.state === 'operational');
      expect(first.keyLocation).toBe('persistent handle 0x81000300');
      const factoryKey = activeCertificateKey(fixture);
      expect((await renewNow(fixture)).keyLocation).toBe('rotated key A');
      expect(activeCertificateKey(fixture)).not.toBe(factoryKey);
      // The proof (a mutual-TLS connection) was signed by the new key inside the TPM.
      const events = service.logRecords().map((record) => record.event);
      expect(events).toContain('identity.key_created');
      await service.stop();
    } finally {
      await swtpm.stop();
    }
  });

  it('rotates keys in the ATECC608A (simulator): GenKey in spare slots 1 then 2, factory key in slot 0 kept', async () => {
    const est = await startEst();
    const statePath = join(mkdtempSync(join(tmpdir(), 'egw-it-atecc-rotate-')), 'atecc608.json');
    const fixture = await hardwareGateway(
      est,
      `[identity.key]\nbackend = "atecc608"\n[identity.key.atecc608]\nsimulator_state = "${statePath}"\n`,
    );
    const service = await runDaemon(fixture);
    const first = await waitForIdentity(fixture, (s) => s.state === 'operational');
    expect(first.keyLocation).toBe('slot 0');
    const factoryKey = simulatorKey(statePath, 0);
    expect(activeCertificateKey(fixture)).toBe(factoryKey);
    expect((await renewNow(fixture)).keyLocation).toBe('rotated key A');
    expect(activeCertificateKey(fixture)).toBe(simulatorKey(statePath, 1));
    expect((await renewNow(fixture)).keyLocation).toBe('rotated key B');
    expect(activeCertificateKey(fixture)).toBe(simulatorKey(statePath, 2));
    // Each renewal's proof was signed inside the part by the new key (the factory key's worker and
    // the rotated keys' workers share the bus); the factory key is untouched.
    expect(simulatorKey(statePath, 0)).toBe(factoryKey);
    await service.stop();
    // After a restart the daemon opens rotated key B again, and the next rotation reuses slot 1.
    await runDaemon(fixture);
    const again = await waitForIdentity(fixture, (s) => s.state === 'operational');
    expect(again.keyLocation).toBe('rotated key B');
    expect((await renewNow(fixture)).keyLocation).toBe('rotated key A');
    expect(activeCertificateKey(fixture)).toBe(simulatorKey(statePath, 1));
  });
});

/** A gateway on a hardware key backend (`keySection`), provisioned and configured for `est` with rotation. */
async function hardwareGateway(
  est: { url: string; rootPem: string },
  keySection: string,
): Promise<GatewayFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'egw-it-hw-rotate-'));
  writeFileSync(join(dir, 'est-root.pem'), est.rootPem);
  const fixture: GatewayFixture = {
    ...gatewayFixture(),
    dir,
    configPath: join(dir, 'gateway.toml'),
    dbPath: join(dir, 'state.db'),
    socketPath: join(dir, 'control.sock'),
  };
  writeFileSync(
    fixture.configPath,
    `[store]\npath = "${fixture.dbPath}"\n[control]\nsocket = "${fixture.socketPath}"\n` +
      `[identity]\ncertificate_dir = "${dir}/identity"\n${keySection}` +
      `[identity.est]\nurl = "${est.url}"\ntrust_anchor_file = "${dir}/est-root.pem"\n` +
      '[identity.renewal]\nrotate_key = true\nretry_initial_ms = 200\n',
  );
  const provisioned = await gatewayctl('provision', 'factory', '-c', fixture.configPath, '--ca-dir', caDir);
  expect(provisioned.code, provisioned.stderr).toBe(0);
  return fixture;
}

async function renewNow(fixture: GatewayFixture): Promise<IdentityStatus> {
  const result = await gatewayctl('identity', 'renew', '--now', '--json', '--socket', fixture.socketPath);
  expect(result.code, result.stdout + result.stderr).toBe(0);
  return JSON.parse(result.stdout) as IdentityStatus;
}

/** SPKI (base64) of the key the simulated ATECC608A holds in `slot` (the model keeps it in its state file). */
function simulatorKey(statePath: string, slot: number): string {
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as { keys: Record<string, string> };
  const pkcs8 = state.keys[String(slot)];
  if (!pkcs8) throw new Error(`the simulated part has no key in slot ${slot}`);
  return createPublicKey(
    createPrivateKey({ key: Buffer.from(pkcs8, 'base64'), format: 'der', type: 'pkcs8' }),
  )
    .export({ type: 'spki', format: 'der' })
    .toString('base64');
}

/** SPKI (base64) of the active operational certificate, from the state database. */
function activeCertificateKey(fixture: GatewayFixture): string {
  const db = new Database(fixture.dbPath, { readonly: true });
  try {
    const { chain_pem: pem } = db
      .prepare("SELECT chain_pem FROM identity_certificates WHERE status = 'active'")
      .get() as { chain_pem: string };
    return new NodeX509(pem).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  } finally {
    db.close();
  }
}

function softwareKey(path: string): string {
  return createPublicKey(readFileSync(path)).export({ type: 'spki', format: 'der' }).toString('base64');
}
