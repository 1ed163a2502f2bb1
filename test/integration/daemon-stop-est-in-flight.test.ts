import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EstServer } from '../../hw-sim/est-server/index.js';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import {
  type GatewayFixture,
  gatewayctl,
  gatewayFixture,
  provisionFactory,
  startDaemon,
} from '../helpers/daemon-harness.js';
import { readyDaemon, waitForIdentity } from '../helpers/identity-status.js';
import { sensorGatewayWorkspace } from '../helpers/sensor-gateway-workspace.js';
import { SilentServers } from '../helpers/silent-servers.js';
import { until } from '../helpers/upstream-peers.js';

/**
 * `systemctl stop` while the enrolment is stuck on an EST server that accepts and never answers (a
 * black-holed server at 3 a.m.): the request in flight is abandoned, so the stop closes everything
 * after it (key store, state database) and the daemon exits 0 — not after daemon.shutdown_timeout_ms
 * with exit 1 and the database left open. The identity state is as it was before the attempt.
 */

let work: string;
let factoryDir: string;
const services: ServiceSupervisor[] = [];
/** EST servers that accept and never answer (a black-holed server). */
const silent = new SilentServers();
const estServers: EstServer[] = [];
/** The proof test's proxy, and the connections it passes on (both ends) or holds unanswered. */
const proxies: Server[] = [];
const piped: Socket[] = [];
const heldByProxy: Socket[] = [];

beforeAll(() => {
  const workspace = sensorGatewayWorkspace('egw-stop-est-');
  work = workspace.work;
  factoryDir = workspace.factoryDir;
});

afterEach(async () => {
  for (const service of services.splice(0)) await service.dispose();
  await silent.close();
  for (const socket of [...heldByProxy.splice(0), ...piped.splice(0)]) socket.destroy();
  for (const est of estServers.splice(0)) {
    await est.stop();
    rmSync(est.ca.stateDir, { recursive: true, force: true });
  }
  await Promise.all(proxies.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The hw-sim EST server trusting the factory CA, stopped after the case. */
async function startEstServer(): Promise<EstServer> {
  const est = await EstServer.start({
    stateDir: mkdtempSync(join(tmpdir(), 'egw-est-')),
    factoryCaPem: [readFileSync(join(factoryDir, 'root.crt'), 'utf8')],
  });
  estServers.push(est);
  return est;
}

/** A provisioned gateway enrolling at `url` (default: the server's own), trusting `est`'s root. */
async function estGateway(est: EstServer, url = est.url): Promise<GatewayFixture> {
  const fixture = gatewayFixture();
  const anchor = join(fixture.dir, 'est-root.pem');
  writeFileSync(anchor, est.rootPem);
  fixture.writeConfig(
    `[identity.est]\nurl = "${url}"\ntrust_anchor_file = "${anchor}"\ntimeout_ms = 600000\n`,
  );
  await provisionFactory(fixture.configPath, factoryDir, '--yes');
  return fixture;
}

describe('a stop while an EST request is in flight', () => {
  it('abandons the request, closes everything and exits 0 with the identity state unchanged', async () => {
    const est = await silent.listen();
    const fixture = gatewayFixture(
      // The enrolment would give up only after 600 s; the stop has the default 10 s.
      `[identity.est]\nurl = "https://${est}"\ntrust_anchor_file = "${join(factoryDir, 'root.crt')}"\n` +
        'timeout_ms = 600000\n',
    );
    await provisionFactory(fixture.configPath, factoryDir, '--yes');
    const service = startDaemon(fixture.configPath);
    services.push(service);
    await service.waitReady();
    await until('the daemon connected to the EST server', () => silent.held > 0);

    expect(await service.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    const records = service.logRecords();
    const messages = records.map((record) => String(record.msg));
    expect(records.find((record) => record.msg === 'EST request abandoned: stopping')).toMatchObject({
      level: 30,
      event: 'identity.abandoned',
    });
    // Not an attempt that failed: no retry scheduled, nothing counted.
    expect(records.some((record) => record.event === 'identity.retry')).toBe(false);
    expect(messages).not.toContain('graceful stop timed out; exiting');
    expect(messages.at(-1)).toBe('edge-gatewayd stopped');
    // The state database was closed (SQLite removes the WAL file when its last connection closes).
    expect(existsSync(`${fixture.dbPath}-wal`)).toBe(false);

    const db = new Database(fixture.dbPath, { readonly: true });
    try {
      expect(db.prepare('SELECT state, attempts, last_error FROM identity_state WHERE id = 1').get()).toEqual(
        {
          state: 'factory',
          attempts: 0,
          last_error: null,
        },
      );
      expect(db.prepare('SELECT COUNT(*) AS n FROM identity_certificates').get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  });

  it('abandons a renewal stuck on a stalled EST server: the operational certificate stays, nothing pending', async () => {
    const est = await startEstServer();
    const fixture = await estGateway(est);
    const service = await readyDaemon(fixture, services);
    const enrolled = await waitForIdentity(fixture, (status) => status.state === 'operational');

    // The server now answers nothing for 10 minutes; the operator's renewal waits on it.
    est.faults.stallMs = 600_000;
    const renewal = gatewayctl('identity', 'renew', '--now', '--socket', fixture.socketPath);
    await until('the renewal began', () => service.stdout.includes('renewing over EST simplereenroll'));

    expect(await service.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect((await renewal).code).not.toBe(0);
    const messages = service.logRecords().map((record) => String(record.msg));
    expect(messages).toContain('EST request abandoned: stopping');
    expect(messages).not.toContain('graceful stop timed out; exiting');
    expect(messages.at(-1)).toBe('edge-gatewayd stopped');
    expect(existsSync(`${fixture.dbPath}-wal`)).toBe(false);

    const db = new Database(fixture.dbPath, { readonly: true });
    try {
      expect(db.prepare('SELECT state, attempts FROM identity_state WHERE id = 1').get()).toEqual({
        state: 'operational',
        attempts: 0,
      });
      expect(db.prepare('SELECT status, serial FROM identity_certificates ORDER BY id').all()).toEqual([
        { status: 'active', serial: enrolled.serial },
      ]);
    } finally {
      db.close();
    }
  });

  it('abandons the proof of a new certificate: it stays pending (not rolled back) and is proven after the next start', async () => {
    const est = await startEstServer();
    // Between the daemon and the server: the enrolment's cacerts, csrattrs and simpleenroll
    // connections pass; the next one (the new certificate's proof) is held unanswered.
    let passing = 3;
    const proxy = createServer((client) => {
      if (passing-- <= 0) {
        heldByProxy.push(client);
        return;
      }
      const upstream = connect(Number(new URL(est.url).port), '127.0.0.1');
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      piped.push(client, upstream);
      client.pipe(upstream).pipe(client);
    });
    proxies.push(proxy);
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyPort = (proxy.address() as { port: number }).port;

    const fixture = await estGateway(est, `https://127.0.0.1:${proxyPort}`);
    const first = await readyDaemon(fixture, services);
    await until('the proof connected', () => heldByProxy.length > 0);

    expect(await first.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    const messages = first.logRecords().map((record) => String(record.msg));
    expect(messages).toContain('new certificate installed as pending');
    expect(messages).toContain('EST request abandoned: stopping');
    expect(messages.at(-1)).toBe('edge-gatewayd stopped');
    const issued = est.auditEntries().filter((entry) => entry.issued);
    expect(issued).toHaveLength(1);
    const db = new Database(fixture.dbPath, { readonly: true });
    let pendingSerial: string;
    try {
      expect(db.prepare('SELECT state, attempts FROM identity_state WHERE id = 1').get()).toEqual({
        state: 'factory',
        attempts: 0,
      });
      const rows = db.prepare('SELECT status, serial FROM identity_certificates').all() as {
        status: string;
        serial: string;
      }[];
      expect(rows.map((row) => row.status)).toEqual(['pending']);
      pendingSerial = (rows[0] as { serial: string }).serial;
    } finally {
      db.close();
    }

    passing = Number.POSITIVE_INFINITY;
    await readyDaemon(fixture, services);
    const status = await waitForIdentity(fixture, (s) => s.state === 'operational');
    expect(status.serial).toBe(pendingSerial);
    expect(est.auditEntries().filter((entry) => entry.issued)).toHaveLength(1);
  });
});
