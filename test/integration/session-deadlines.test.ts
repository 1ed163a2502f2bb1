import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { SensorEndpoint } from '../../src/downstream/index.js';
import { Store } from '../../src/store/index.js';
import { DtlsClient } from '../../src/tls/dtls/dtls-client.js';
import { privateKeyFromPkcs8 } from '../../src/tls/openssl-objects.js';
import { ClockFloor, CrlStore, SensorTrust } from '../../src/trust/index.js';
import { type DtlsPki, makeDtlsPki, until, waitFor } from '../helpers/dtls-pki.js';
import { buildTestCrl } from '../helpers/test-crl.js';
import { type TestCertificate, TestPki } from '../helpers/test-pki.js';

/**
 * Time alone ends a live sensor session (issue 15, item 5): at its certificate's notAfter, at an
 * intermediate's earlier notAfter, when its issuer's CRL passes nextUpdate under hard-fail — and a
 * CRL refreshed before that deadline keeps it. The gateway judges time at an injected clock, a day
 * ahead of the system's: certificates "expire" a few seconds after the handshake by that clock while
 * they are still valid for the system clock, so a deadline taken from the system clock would never
 * close anything. No durations are asserted: each test waits for the close (or for a later event).
 */

const SKEW_MS = 86_400_000;
const clockNow = () => new Date(Date.now() + SKEW_MS);
/** A whole second (certificate times have no milliseconds) `ms` after the injected clock's now. */
const inClock = (ms: number) => new Date(Math.ceil((clockNow().getTime() + ms) / 1000) * 1000);

let pki: DtlsPki;
let sensors: TestPki;
let root: TestCertificate;
let dir: string;
let store: Store;
let trust: SensorTrust;
let endpoint: SensorEndpoint;
let port: number;
let crlNumber = 1n;
const clients: DtlsClient[] = [];
const closes: Record<string, unknown>[] = [];
const log = {
  info(fields: object, message: string) {
    if (message.startsWith('sensor session closed at its deadline'))
      closes.push(fields as Record<string, unknown>);
  },
  warn() {},
  debug() {},
};

/** Imports a CRL of `ca` (no entries) with `nextUpdate`, as gatewayctl would, and tells the trust module. */
function importCrl(ca: TestCertificate, nextUpdate: Date): void {
  const der = buildTestCrl({
    issuer: { certDer: ca.der, privateKey: ca.keyPair.privateKey },
    thisUpdate: new Date(clockNow().getTime() - 60_000),
    nextUpdate,
    crlNumber: crlNumber++,
  });
  new CrlStore(store).import(der, [ca.der], 'test', clockNow());
  trust.reload('CRL imported');
}

async function connect(sensor: TestCertificate, chain: Uint8Array[] = []): Promise<DtlsClient> {
  const client = await DtlsClient.connect({
    host: '127.0.0.1',
    port,
    ca: [pki.der('ca')],
    certificateChain: [sensor.der, ...chain],
    privateKey: privateKeyFromPkcs8(sensor.keyPair.privateKey.export({ type: 'pkcs8', format: 'der' })),
  });
  clients.push(client);
  return client;
}

const closedFor = (name: string) => closes.filter((fields) => String(fields.sensor).includes(`CN=${name}`));

beforeAll(async () => {
  pki = makeDtlsPki();
  sensors = await TestPki.create();
  root = await sensors.root({ commonName: 'Deadline Root CA', notAfter: inClock(30 * 86_400_000) });
  dir = mkdtempSync(join(tmpdir(), 'egw-session-deadlines-'));
  store = Store.open(join(dir, 'state.db'));
  const settings = parseConfigText(
    '[downstream.dtls]\nenabled = true\nhost = "127.0.0.1"\nport = 0\nserver_key = "file"\n' +
      `key_file = "${pki.file('server.key')}"\ncertificate_file = "${pki.file('server.pem')}"\n` +
      '[trust.bundles.sensors]\ncrl_policy = "hard-fail"\n[trust.revocation]\nfetch = false\n',
    'session-deadlines.toml',
  );
  trust = new SensorTrust({
    store,
    settings: settings.trust,
    clock: new ClockFloor(store, { systemNow: clockNow }),
    log,
    fileAnchors: [root.der],
  });
  importCrl(root, inClock(30 * 86_400_000));
  endpoint = await SensorEndpoint.start(settings.downstream.dtls, undefined, log, {
    trust,
    limits: settings.downstream.coap,
  });
  port = Number(endpoint.status().listening.split(':').at(-1));
});

afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
});

afterAll(async () => {
  await endpoint?.close();
  store?.close();
  pki?.remove();
  sensors?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('live sessions follow time', () => {
  it('closes a session when its sensor certificate expires (at the injected clock), counted and logged', async () => {
    const notAfter = inClock(3_000);
    const sensor = await sensors.sensor(root, { commonName: 'expiring-leaf', notAfter });
    const client = await connect(sensor);
    const closed = waitFor(client, 'close');
    expect(endpoint.status().deadlines?.tracked).toBe(1);
    await closed;
    await until(() => closedFor('expiring-leaf').length === 1);
    const [fields] = closedFor('expiring-leaf');
    expect(fields).toMatchObject({ reason: 'expired', cause: 'certificate-expiry' });
    // notAfter's whole second is still valid: the deadline is the next second.
    expect(fields?.deadline).toBe(new Date(notAfter.getTime() + 1000).toISOString());
    const status = endpoint.status().deadlines;
    expect(status?.closedBy.expired).toBeGreaterThanOrEqual(1);
    expect(status?.tracked).toBe(0);
  }, 30_000);

  it('closes it when an intermediate on its path expires before the sensor certificate', async () => {
    const notAfter = inClock(3_000);
    const intermediate = await sensors.intermediate(root, {
      commonName: 'Short-lived Intermediate',
      notAfter,
    });
    importCrl(intermediate, inClock(30 * 86_400_000));
    const sensor = await sensors.sensor(intermediate, {
      commonName: 'leaf-under-expiring-ca',
      notAfter: inClock(10 * 86_400_000),
    });
    const client = await connect(sensor, [intermediate.der]);
    await waitFor(client, 'close');
    await until(() => closedFor('leaf-under-expiring-ca').length === 1);
    const [fields] = closedFor('leaf-under-expiring-ca');
    expect(fields).toMatchObject({ reason: 'expired', cause: 'certificate-expiry' });
    expect(fields?.deadline).toBe(new Date(notAfter.getTime() + 1000).toISOString());
    expect(String(fields?.detail)).toContain('Short-lived Intermediate');
  }, 30_000);

  it("closes it when its issuer's CRL passes nextUpdate under hard-fail", async () => {
    const ca = await sensors.intermediate(root, { commonName: 'Stale CRL CA' });
    const nextUpdate = inClock(4_000);
    importCrl(ca, nextUpdate);
    const sensor = await sensors.sensor(ca, { commonName: 'crl-goes-stale' });
    const client = await connect(sensor, [ca.der]);
    await waitFor(client, 'close');
    await until(() => closedFor('crl-goes-stale').length === 1);
    const [fields] = closedFor('crl-goes-stale');
    expect(fields).toMatchObject({ reason: 'crl-stale', cause: 'revocation' });
    expect(fields?.deadline).toBe(new Date(nextUpdate.getTime() + 1).toISOString());
    expect(endpoint.status().deadlines?.closedBy['crl-stale']).toBeGreaterThanOrEqual(1);
  }, 30_000);

  it('keeps it when a refreshed CRL arrives before that deadline (re-judged, not closed blindly)', async () => {
    const ca = await sensors.intermediate(root, { commonName: 'Refreshed CRL CA' });
    const firstNextUpdate = inClock(4_000);
    importCrl(ca, firstNextUpdate);
    const kept = await sensors.sensor(ca, { commonName: 'crl-refreshed' });
    const keptClient = await connect(kept, [ca.der]);
    let keptClosed = false;
    keptClient.on('close', () => {
      keptClosed = true;
    });
    importCrl(ca, inClock(30 * 86_400_000));
    // A witness expiring after the first CRL's nextUpdate: once it is closed, that deadline has passed.
    const witness = await sensors.sensor(root, {
      commonName: 'witness',
      notAfter: new Date(firstNextUpdate.getTime() + 1_000),
    });
    const witnessClient = await connect(witness);
    await waitFor(witnessClient, 'close');
    await until(() => closedFor('witness').length === 1);
    expect(trust.now().getTime()).toBeGreaterThan(firstNextUpdate.getTime());
    expect(closedFor('crl-refreshed')).toEqual([]);
    expect(keptClosed).toBe(false);
    keptClient.send(Buffer.from('still here'));
    expect(endpoint.status().deadlines?.tracked).toBe(1);
  }, 30_000);
});
