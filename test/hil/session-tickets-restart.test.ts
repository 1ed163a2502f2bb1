import { createHmac, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import koffi from 'koffi';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SensorCa, type SensorCredentials } from '../../hw-sim/sensors/index.js';
import { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import { TicketKeyRecords, ticketWrappingKey } from '../../src/downstream/index.js';
import type { Pointer } from '../../src/native/openssl/libssl.js';
import { Store } from '../../src/store/index.js';
import { DtlsClient, privateKeyFromPkcs8 } from '../../src/tls/index.js';
import { coapGet } from '../bench/dtls/coap-get.js';
import { builtEntry, type GatewayFixture, gatewayctl, gatewayFixture } from '../helpers/daemon-harness.js';
import { makeFactoryCaKit } from '../helpers/daemon-sensor-client.js';

/**
 * Sessions that survive a restart: the daemon issues RFC 5077 tickets under keys it keeps in the state
 * DB wrapped by a systemd credential; after kill -9 and a restart the sensors resume without a
 * signature, a revoked one cannot, and the stored keys are useless without the credential.
 */
let work: string;
let caDir: string;
let gatewayRoot: Uint8Array;
let sensorCa: SensorCa;
const services: ServiceSupervisor[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'egw-tickets-'));
  ({ caDir, gatewayRoot } = makeFactoryCaKit('egw-tickets-ca-'));
  sensorCa = SensorCa.open(join(work, 'sensor-ca'));
  sensorCa.writeCrl();
});
afterAll(() => rmSync(work, { recursive: true, force: true }));
afterEach(async () => {
  for (const service of services.splice(0)) await service.dispose();
});

/** A credentials directory as systemd makes it for LoadCredentialEncrypted= (here: a plain file). */
function credentialsDirectory(name: string): string {
  const dir = join(work, `credentials-${name}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'dtls-ticket-key'), randomBytes(32), { mode: 0o400 });
  return dir;
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

async function provisionedGateway(port: number): Promise<GatewayFixture> {
  const fixture = gatewayFixture(
    `[downstream.dtls]\nenabled = true\nhost = "127.0.0.1"\nport = ${port}\n` +
      `sensor_ca_files = ["${sensorCa.certificateFile}"]\n`,
  );
  const provisioned = await gatewayctl('provision', 'factory', '-c', fixture.configPath, '--ca-dir', caDir);
  expect(provisioned.code).toBe(0);
  return fixture;
}

async function startGateway(fixture: GatewayFixture, credentials: string | undefined) {
  const env: NodeJS.ProcessEnv = { CREDENTIALS_DIRECTORY: credentials ?? '' };
  const service = ServiceSupervisor.start({
    command: [process.execPath, builtEntry('daemon'), '--config', fixture.configPath],
    env,
  });
  services.push(service);
  await service.waitReady();
  return service;
}

async function status(fixture: GatewayFixture) {
  const result = await gatewayctl('status', '--json', '--socket', fixture.socketPath);
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout);
}

/** A sensor's first session (or a resumption of `resume`), one CoAP request answered, the session kept. */
async function serve(port: number, sensor: SensorCredentials, resume?: Pointer): Promise<DtlsClient> {
  const key = privateKeyFromPkcs8(sensor.privateKeyPkcs8);
  const client = await DtlsClient.connect({
    host: '127.0.0.1',
    port,
    ca: [gatewayRoot],
    certificateChain: sensor.certificateChain,
    privateKey: key,
    handshakeTimeoutMs: 5000,
    ...(resume ? { resume } : {}),
  });
  await client.request(coapGet(1));
  return client;
}

const ticketOf = (() => {
  let get0Ticket: ((session: Pointer, out: [bigint | null], length: [number]) => void) | undefined;
  return (session: Pointer): Buffer => {
    get0Ticket ??= koffi
      .load(null as unknown as string)
      .func('void SSL_SESSION_get0_ticket(void *, _Out_ void **, _Out_ size_t *)');
    const out: [bigint | null] = [null];
    const length: [number] = [0];
    get0Ticket(session, out, length);
    return Buffer.from(koffi.view(out[0] as bigint, length[0]));
  };
})();

/** The ticket's HMAC checks out under `hmacKey` (RFC 5077 §4 layout, as OpenSSL writes it). */
function macChecks(ticket: Buffer, hmacKey: Buffer): boolean {
  const signed = ticket.subarray(0, ticket.length - 32);
  return createHmac('sha256', hmacKey)
    .update(signed)
    .digest()
    .equals(ticket.subarray(ticket.length - 32));
}

describe('DTLS sessions across a kill -9 and a restart (session tickets)', () => {
  it('sensors resume without a signature; a sensor revoked meanwhile cannot; the stored keys are wrapped', async () => {
    const port = await freeUdpPort();
    const fixture = await provisionedGateway(port);
    const credentials = credentialsDirectory('a');
    const first = await startGateway(fixture, credentials);
    expect((await status(fixture)).sessionTickets).toMatchObject({ enabled: true, survivesRestart: true });
    const fleet = Array.from({ length: 4 }, (_, i) => sensorCa.issue({ commonName: `ticket-sensor-${i}` }));
    const saved: Pointer[] = [];
    for (const sensor of fleet) {
      const client = await serve(port, sensor);
      saved.push(client.saveSession());
      client.destroy();
    }
    expect((await status(fixture)).sensorEndpoint.handshakes.signatures).toBe(fleet.length);

    await first.stop('SIGKILL');
    // One sensor is revoked while the gateway is down.
    const revoked = fleet[3] as SensorCredentials;
    sensorCa.revoke(revoked);
    sensorCa.writeCrl();
    await startGateway(fixture, credentials);
    expect(
      (await gatewayctl('trust', 'crl', 'import', sensorCa.crlFile as string, '-c', fixture.configPath)).code,
    ).toBe(0);

    for (const [index, sensor] of fleet.slice(0, 3).entries()) {
      const client = await serve(port, sensor, saved[index]);
      expect(client.resumed).toBe(true);
      client.destroy();
    }
    await expect(serve(port, revoked, saved[3])).rejects.toThrow();
    const after = await status(fixture);
    expect(after.sessionTickets).toMatchObject({ survivesRestart: true, keysRestored: 1, keysUnreadable: 0 });
    expect(after.sensorEndpoint.handshakes.signatures).toBe(0);
    expect(after.sensorEndpoint.handshakesResumed).toBe(3);
    expect(after.sensorEndpoint.handshakesFailed).toBeGreaterThanOrEqual(1);

    // The database holds the key's name and a wrapped blob: no 32 bytes of it key the ticket's HMAC,
    // while the credential opens it into the key that does.
    const ticket = ticketOf(saved[0] as Pointer);
    // A second connection to the live database (WAL: the rows may not be in the main file yet).
    const db = new Database(fixture.dbPath);
    const rows = db.prepare('SELECT name, wrapped FROM dtls_ticket_keys').all() as {
      name: Buffer;
      wrapped: Buffer;
    }[];
    db.close();
    expect(rows).toHaveLength(1);
    expect((rows[0] as { name: Buffer }).name.equals(ticket.subarray(0, 16))).toBe(true);
    const wrapped = (rows[0] as { wrapped: Buffer }).wrapped;
    for (let at = 0; at + 32 <= wrapped.length; at++) {
      expect(macChecks(ticket, wrapped.subarray(at, at + 32))).toBe(false);
    }
    const wrapping = ticketWrappingKey('dtls-ticket-key', { CREDENTIALS_DIRECTORY: credentials });
    const store = Store.open(fixture.dbPath);
    try {
      const opened = new TicketKeyRecords(store, wrapping.key as Buffer, 'credential:dtls-ticket-key').load();
      expect(opened.keys).toHaveLength(1);
      expect(macChecks(ticket, (opened.keys[0] as { hmacKey: Buffer }).hmacKey)).toBe(true);
    } finally {
      store.close();
    }
    for (const session of saved) DtlsClient.freeSession(session);
  });

  it('a database copied to a machine without the credential cannot decrypt: full handshakes, said so', async () => {
    const port = await freeUdpPort();
    const fixture = await provisionedGateway(port);
    const first = await startGateway(fixture, credentialsDirectory('b'));
    const sensor = sensorCa.issue({ commonName: 'copied-db-sensor' });
    const client = await serve(port, sensor);
    const saved = client.saveSession();
    client.destroy();
    await first.stop('SIGKILL');

    // "Another machine": the same database and identity, another credential.
    await startGateway(fixture, credentialsDirectory('c'));
    const again = await serve(port, sensor, saved);
    expect(again.resumed).toBe(false);
    again.destroy();
    const other = await status(fixture);
    expect(other.sessionTickets).toMatchObject({ survivesRestart: true, keysRestored: 0, keysUnreadable: 1 });
    expect(other.sensorEndpoint.handshakes.signatures).toBe(1);
    DtlsClient.freeSession(saved);
  });

  it('without a credential, tickets work within the run and the daemon says sessions will not survive', async () => {
    const port = await freeUdpPort();
    const fixture = await provisionedGateway(port);
    const service = await startGateway(fixture, undefined);
    const sensor = sensorCa.issue({ commonName: 'no-credential-sensor' });
    const client = await serve(port, sensor);
    const saved = client.saveSession();
    client.destroy();
    const resumed = await serve(port, sensor, saved);
    expect(resumed.resumed).toBe(true);
    resumed.destroy();
    DtlsClient.freeSession(saved);
    const now = await status(fixture);
    expect(now.sessionTickets).toMatchObject({ enabled: true, survivesRestart: false });
    expect(now.sessionTickets.reason).toContain('CREDENTIALS_DIRECTORY');
    expect(
      service.logRecords().some((record) => String(record.msg).includes('will NOT survive a restart')),
    ).toBe(true);
  });
});
