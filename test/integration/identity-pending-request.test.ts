import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey, X509Certificate as NodeX509 } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type EstAuditEntry, EstServer } from '../../hw-sim/est-server/index.js';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import { type GatewayFixture, gatewayctl, gatewayFixture } from '../helpers/daemon-harness.js';
import { readyDaemon, waitForIdentity } from '../helpers/identity-status.js';

/**
 * RFC 7030 §4.2.3 against a CA that approves per public key (like an RA with manual approval): a 202
 * is followed by the SAME request (same key, same CSR) after Retry-After — with key rotation, across a
 * daemon restart, and for an operator's `renew --now` — until it is issued or abandoned. The built
 * daemon, the hw-sim EST server over HTTPS, gatewayctl.
 */
const factoryCa = new URL('../../scripts/factory-ca.sh', import.meta.url).pathname;
let caDir: string;
const services: ServiceSupervisor[] = [];
const servers: EstServer[] = [];

beforeAll(() => {
  caDir = join(mkdtempSync(join(tmpdir(), 'egw-pending-factory-')), 'factory');
  execFileSync(factoryCa, ['init', caDir], { stdio: 'pipe' });
});
afterEach(async () => {
  for (const service of services.splice(0)) await service.dispose();
  for (const server of servers.splice(0)) {
    await server.stop();
    rmSync(server.ca.stateDir, { recursive: true, force: true });
  }
});

async function startEst(options: Partial<Parameters<typeof EstServer.start>[0]> = {}): Promise<EstServer> {
  const server = await EstServer.start({
    stateDir: mkdtempSync(join(tmpdir(), 'egw-pending-est-')),
    factoryCaPem: [readFileSync(join(caDir, 'root.crt'), 'utf8')],
    ...options,
  });
  servers.push(server);
  return server;
}

/** A provisioned gateway with key rotation and fast retries, configured for `est`. */
async function rotatingGateway(est: EstServer, renewal = ''): Promise<GatewayFixture> {
  const fixture = gatewayFixture();
  const anchor = join(fixture.dir, 'est-root.pem');
  writeFileSync(anchor, est.rootPem);
  fixture.writeConfig(
    `[identity.est]\nurl = "${est.url}"\ntrust_anchor_file = "${anchor}"\ntimeout_ms = 5000\n` +
      `[identity.renewal]\nrotate_key = true\njitter_fraction = 0\nretry_initial_ms = 200\nretry_max_ms = 1000\n${renewal}`,
  );
  const provisioned = await gatewayctl('provision', 'factory', '-c', fixture.configPath, '--ca-dir', caDir);
  expect(provisioned.code, provisioned.stderr).toBe(0);
  return fixture;
}

/** Polls `probe` until it returns a value; a ceiling against hangs (not a timing assertion). */
async function eventually<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const giveUpAt = Date.now() + 45_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > giveUpAt) throw new Error(`never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const reenrolls = (est: EstServer): EstAuditEntry[] =>
  est.auditEntries().filter((entry) => entry.path.endsWith('/simplereenroll'));

/** The distinct public keys (SHA-256 of the SPKI) the gateway asked certificates for with simplereenroll. */
const keysAsked = (est: EstServer) => [...new Set(reenrolls(est).map((entry) => entry.keySha256))];

/** SHA-256 of the SPKI of the active operational certificate (state database). */
function activeKeySha256(fixture: GatewayFixture): string {
  const db = new Database(fixture.dbPath, { readonly: true });
  try {
    const { chain_pem: pem } = db
      .prepare("SELECT chain_pem FROM identity_certificates WHERE status = 'active'")
      .get() as { chain_pem: string };
    return createHash('sha256')
      .update(new NodeX509(pem).publicKey.export({ type: 'spki', format: 'der' }))
      .digest('hex');
  } finally {
    db.close();
  }
}

function fileKeySha256(path: string): string {
  return createHash('sha256')
    .update(createPublicKey(readFileSync(path)).export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

const runDaemon = (fixture: GatewayFixture) => readyDaemon(fixture, services);

describe('a request pending at the EST server is the same request', () => {
  it('automatic renewal with key rotation: the same key is sent until the CA approves it', async () => {
    const est = await startEst({ lifetimeSeconds: 20 });
    const fixture = await rotatingGateway(est);
    await runDaemon(fixture);
    const first = await waitForIdentity(fixture, (s) => s.state === 'operational');
    // From now on the CA approves a key at its third request: only a client that repeats the same
    // key ever gets a certificate.
    est.faults.approvePerKey = { retryAfterSeconds: 1, approveAfterAttempts: 3 };
    const renewed = await waitForIdentity(
      fixture,
      (s) => s.serial !== first.serial && s.state === 'operational',
    );
    expect(renewed.keyLocation).toBe('rotated key A');
    expect(reenrolls(est).map((entry) => entry.status)).toEqual([202, 202, 200]);
    expect(keysAsked(est)).toHaveLength(1);
    expect(activeKeySha256(fixture)).toBe(keysAsked(est)[0]);
    expect(renewed.request).toBeNull();
  });

  it('renew --now answered 202 is retried by itself, shows what is pending, and completes after approval', async () => {
    const est = await startEst();
    const fixture = await rotatingGateway(est);
    await runDaemon(fixture);
    const first = await waitForIdentity(fixture, (s) => s.state === 'operational');
    est.faults.approvePerKey = { retryAfterSeconds: 1 };
    const renew = await gatewayctl('identity', 'renew', '--now', '--json', '--socket', fixture.socketPath);
    expect(renew.code).toBe(1);
    expect(JSON.parse(renew.stdout).code).toBe('EGW_IDENTITY_NOT_DONE');
    // The certificate is far from due: only the owed request makes the gateway ask again.
    await eventually('a repeated request', () => (reenrolls(est).length >= 3 ? true : undefined));
    expect(keysAsked(est)).toHaveLength(1);
    expect(est.approvals.waiting()).toEqual(keysAsked(est));
    // Between two attempts, not during one: while a request is on the wire there is no next attempt.
    const pending = await waitForIdentity(fixture, (s) => s.state !== 'renewing');
    expect(pending.serial).toBe(first.serial);
    expect(pending.request).toMatchObject({
      operation: 'simplereenroll',
      origin: 'operator',
      csr: { key: 'rotated key A' },
      lastAnswer: { status: 202 },
    });
    expect(pending.request?.lastAnswer?.text).toMatch(/pending approval/);
    expect(pending.request?.nextAttemptAt).not.toBeNull();
    expect(Date.parse(pending.request?.since ?? '')).toBeLessThanOrEqual(
      Date.parse(pending.request?.lastAnswer?.at ?? ''),
    );
    const text = await gatewayctl('identity', 'status', '--socket', fixture.socketPath);
    expect(text.stdout).toMatch(/owed request\s+renewal \(simplereenroll, operator\) since /);
    expect(text.stdout).toMatch(/server answered\s+202: request for public key sha256:/);

    est.approvals.approve(keysAsked(est)[0] as string);
    const renewed = await waitForIdentity(
      fixture,
      (s) => s.serial !== first.serial && s.state === 'operational',
    );
    expect(renewed.keyLocation).toBe('rotated key A');
    expect(renewed.request).toBeNull();
    expect(activeKeySha256(fixture)).toBe(keysAsked(est)[0]);
    expect(fileKeySha256(`${fixture.keyPath}.rotated-a`)).toBe(keysAsked(est)[0]);
  });

  it('continues the same request after a daemon restart (key slot not regenerated)', async () => {
    const est = await startEst();
    const fixture = await rotatingGateway(est);
    const daemon = await runDaemon(fixture);
    const first = await waitForIdentity(fixture, (s) => s.state === 'operational');
    est.faults.approvePerKey = { retryAfterSeconds: 1 };
    await gatewayctl('identity', 'renew', '--now', '--json', '--socket', fixture.socketPath);
    await eventually('a pending request', () => (reenrolls(est).length >= 1 ? true : undefined));
    await daemon.stop();
    const asked = keysAsked(est);
    expect(asked).toHaveLength(1);
    const db = new Database(fixture.dbPath, { readonly: true });
    const row = db.prepare('SELECT key_ref, csr_der FROM identity_request').get() as {
      key_ref: string;
      csr_der: Buffer;
    };
    db.close();
    expect(row.key_ref).toBe('a');
    expect(row.csr_der.length).toBeGreaterThan(100);
    const before = reenrolls(est).length;

    await runDaemon(fixture);
    await eventually('the request sent again after the restart', () =>
      reenrolls(est).length >= before + 2 ? true : undefined,
    );
    expect(keysAsked(est)).toEqual(asked);
    expect(fileKeySha256(`${fixture.keyPath}.rotated-a`)).toBe(asked[0]);
    est.approvals.approve(asked[0] as string);
    const renewed = await waitForIdentity(
      fixture,
      (s) => s.serial !== first.serial && s.state === 'operational',
    );
    expect(renewed.keyLocation).toBe('rotated key A');
    expect(activeKeySha256(fixture)).toBe(asked[0]);
  });

  it('abandons a request pending longer than identity.renewal.abandon_pending_after_ms for a new key', async () => {
    const est = await startEst();
    const fixture = await rotatingGateway(est, 'abandon_pending_after_ms = 1500\n');
    const daemon = await runDaemon(fixture);
    const first = await waitForIdentity(fixture, (s) => s.state === 'operational');
    est.faults.approvePerKey = { retryAfterSeconds: 1 };
    await gatewayctl('identity', 'renew', '--now', '--json', '--socket', fixture.socketPath);
    const keys = await eventually('a second key after abandonment', () =>
      keysAsked(est).length >= 2 ? keysAsked(est) : undefined,
    );
    expect(daemon.logRecords().some((record) => record.event === 'identity.request_abandoned')).toBe(true);
    est.approvals.approve(keys[1] as string);
    await waitForIdentity(fixture, (s) => s.serial !== first.serial && s.state === 'operational');
    expect(activeKeySha256(fixture)).toBe(keys[1]);
  });
});
