import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import type { DtlsClient } from '../../src/tls/index.js';
import { coapCode, coapGet } from '../bench/dtls/coap-get.js';
import {
  fakeClockEnv,
  type GatewayFixture,
  gatewayctl,
  gatewayFixture,
  provisionFactory,
} from '../helpers/daemon-harness.js';
import { connectDaemonSensor, makeFactoryCaKit } from '../helpers/daemon-sensor-client.js';
import { freePort, OpensslOcspPki } from '../helpers/openssl-ocsp-pki.js';
import {
  sensorDaemonStatus as daemonStatus,
  provisionedSensorGateway,
  startSensorDaemon,
} from '../helpers/sensor-daemon.js';
import { buildTestCrl, type TestCa, type TestCertificate, TestPkiDir } from '../helpers/test-crl.js';

/**
 * Sensor trust in the running daemon: the DTLS endpoint asks the trust module (chainVerification
 * 'application'), gatewayctl edits trust offline and tells the daemon, and live sessions follow:
 * a blocked, revoked or disenrolled sensor's session is closed at once. Revocation works from the
 * cache with the distribution point unreachable for the whole test, and at a 1970 boot.
 */
let caDir: string;
let gatewayRoot: Uint8Array;
let pki: TestPkiDir;
let sensorCa: TestCa;
/** A distribution point nobody answers: a port that was free a moment ago. */
let deadCdp: string;
const services: ServiceSupervisor[] = [];
const clients: DtlsClient[] = [];

beforeAll(async () => {
  ({ caDir, gatewayRoot } = makeFactoryCaKit('egw-trust-factory-'));
  pki = new TestPkiDir('egw-trust-daemon-');
  sensorCa = pki.ca('sensor-ca', { cn: 'Sensor CA' });
  deadCdp = `http://127.0.0.1:${await closedPort()}/sensor-ca.crl`;
});
afterAll(() => pki?.remove());
afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  for (const service of services.splice(0)) await service.dispose();
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A provisioned gateway with the DTLS endpoint on and the sensor CA as a configured anchor. */
function trustGateway(extra = ''): Promise<GatewayFixture> {
  return provisionedSensorGateway(
    caDir,
    [sensorCa.certFile],
    `[trust.revocation]\nretry_initial_ms = 100\nretry_max_ms = 400\nfetch_timeout_ms = 500\n${extra}`,
  );
}

function run(
  fixture: GatewayFixture,
  env?: NodeJS.ProcessEnv,
): Promise<{ service: ServiceSupervisor; port: number }> {
  return startSensorDaemon(fixture, services, env);
}

function connect(port: number, sensor: Pick<TestCertificate, 'certDer' | 'keyFile'>): Promise<DtlsClient> {
  return connectDaemonSensor(port, gatewayRoot, sensor).then((client) => {
    clients.push(client);
    return client;
  });
}

const closed = (client: DtlsClient) => new Promise<void>((resolve) => client.once('close', () => resolve()));
const sha256 = (der: Uint8Array) => createHash('sha256').update(der).digest('hex');

async function ctl(fixture: GatewayFixture, ...args: string[]): Promise<Record<string, unknown>> {
  const result = await gatewayctl(...args, '-c', fixture.configPath, '--json');
  expect(result.code, result.stdout + result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

describe('sensor trust in the daemon', () => {
  it('closes a live session when the sensor is blocked, refuses it afterwards, keeps the others', async () => {
    const fixture = await trustGateway();
    const { service, port } = await run(fixture);
    const blocked = pki.leaf('blocked-sensor', sensorCa);
    const other = pki.leaf('other-sensor', sensorCa);
    const session = await connect(port, blocked);
    const bystander = await connect(port, other);
    let bystanderClosed = false;
    bystander.once('close', () => {
      bystanderClosed = true;
    });
    const ended = closed(session);
    const answer = await ctl(fixture, 'sensors', 'block', sha256(blocked.certDer), '--reason', 'stolen');
    expect(answer.daemon).toBe('reloaded');
    await ended;
    await expect(connect(port, blocked)).rejects.toThrow();
    expect(bystanderClosed).toBe(false);
    expect(coapCode(await bystander.request(coapGet(1)))).toBe('4.03'); // still served (no rule allows GET /)
    const trust = (await daemonStatus(fixture)).sensorTrust;
    // Verdicts: the live session's re-check and the new handshake.
    expect(trust.refused.denied).toBe(2);
    expect(trust.accepted).toBeGreaterThanOrEqual(2);
    const log = service
      .logRecords()
      .find((record) => record.msg === 'sensor session closed: no longer trusted');
    expect(String(log?.reason)).toMatch(/^denied: on the local deny list/);
  });

  it('applies an imported CRL to live sessions at once; other sensors stay', async () => {
    const fixture = await trustGateway();
    const { port } = await run(fixture);
    const revoked = pki.leaf('revoked-sensor', sensorCa);
    const kept = pki.leaf('kept-sensor', sensorCa);
    const session = await connect(port, revoked);
    const ended = closed(session);
    const now = Date.now();
    const crl = buildTestCrl({
      issuer: sensorCa,
      entries: [{ serial: revoked.serial, revokedAt: new Date(now - 60_000), reason: 1 }],
      thisUpdate: new Date(now - 60_000),
      nextUpdate: new Date(now + 86_400_000),
      crlNumber: 1n,
    });
    const crlFile = pki.write('sensor-ca.crl', crl);
    const imported = await ctl(fixture, 'trust', 'crl', 'import', crlFile);
    expect(imported).toMatchObject({ entries: 1, daemon: 'reloaded' });
    await ended;
    await expect(connect(port, revoked)).rejects.toThrow();
    await connect(port, kept);
    const trust = (await daemonStatus(fixture)).sensorTrust;
    expect(trust.refused.revoked).toBe(2); // the live session's re-check and the new handshake
    expect(trust.crls).toMatchObject([{ issuer: 'CN=Sensor CA', entries: 1, stale: false }]);
  });

  it('registers a CA with proof of possession; its sensors get in only then, and a disabled group closes them', async () => {
    const fixture = await trustGateway();
    const { port } = await run(fixture);
    const otherCa = pki.ca('vendor-ca', { cn: 'Vendor CA' });
    const vendorSensor = pki.leaf('vendor-sensor', otherCa);
    await expect(connect(port, vendorSensor)).rejects.toThrow(); // unknown issuer
    const added = await ctl(fixture, 'sensors', 'ca', 'add', otherCa.certFile);
    const nonce = String((added.registration as { nonce: string }).nonce);
    pki.openssl('req', '-new', '-key', 'vendor-ca.key', '-subj', `/CN=${nonce}`, '-out', 'verification.csr');
    pki.openssl(
      'x509',
      '-req',
      '-in',
      'verification.csr',
      '-CA',
      'vendor-ca.pem',
      '-CAkey',
      'vendor-ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-out',
      'verification.pem',
    );
    const verified = await ctl(fixture, 'sensors', 'ca', 'verify', '--cert', pki.file('verification.pem'));
    expect(verified.daemon).toBe('reloaded');
    const session = await connect(port, vendorSensor);
    const ended = closed(session);
    await ctl(fixture, 'sensors', 'disable', '--group', sha256(otherCa.certDer));
    await ended;
    await expect(connect(port, vendorSensor)).rejects.toThrow();
    const trust = (await daemonStatus(fixture)).sensorTrust;
    expect(trust.refused['unknown-issuer']).toBe(1);
    expect(trust.refused['enrollment-disabled']).toBe(2);
  });

  it('works offline: the distribution point never answers; hard-fail refuses without a CRL, soft-fail accepts a stale one', async () => {
    const sensor = pki.leaf('offline-sensor', sensorCa, { crlUrl: deadCdp });
    const fixture = await trustGateway('[trust.bundles.sensors]\ncrl_policy = "hard-fail"\n');
    const hard = await run(fixture);
    await expect(connect(hard.port, sensor)).rejects.toThrow();
    expect((await daemonStatus(fixture)).sensorTrust.refused['crl-missing']).toBe(1);
    // The daemon tried the distribution point (and keeps retrying with backoff).
    const giveUpAt = Date.now() + 20_000;
    while (!hard.service.logRecords().some((record) => record.url === deadCdp)) {
      if (Date.now() > giveUpAt) throw new Error('no CRL fetch attempt was logged');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await hard.service.stop();

    // A CRL past its nextUpdate, cached; the policy now soft-fail: accepted, and said so.
    const now = Date.now();
    const stale = buildTestCrl({
      issuer: sensorCa,
      entries: [],
      thisUpdate: new Date(now - 3 * 3_600_000),
      nextUpdate: new Date(now - 3_600_000),
      crlNumber: 2n,
    });
    await ctl(fixture, 'trust', 'crl', 'import', pki.write('stale.crl', stale));
    const config = readFileSync(fixture.configPath, 'utf8').replace(
      'crl_policy = "hard-fail"',
      'crl_policy = "soft-fail"',
    );
    writeFileSync(fixture.configPath, config);
    const soft = await run(fixture);
    await connect(soft.port, sensor);
    const trust = (await daemonStatus(fixture)).sensorTrust;
    expect(trust.acceptedWithoutFreshCrl).toBe(1);
    expect(trust.crls[0]?.stale).toBe(true);
    expect(soft.service.logRecords().some((record) => /without a fresh CRL/.test(String(record.msg)))).toBe(
      true,
    );
  });

  it('asks OCSP responders when configured: a good answer stands in for a missing CRL, a revoked one refuses', async () => {
    const ocsp = new OpensslOcspPki();
    const port = await freePort();
    const responderUrl = `http://127.0.0.1:${port}`;
    ocsp.ca('ocsp-ca', '/CN=OCSP Sensor CA');
    const good = ocsp.leaf('good', 'ocsp-ca', {
      serial: '1101',
      ocspUrl: responderUrl,
      extendedKeyUsage: 'clientAuth',
    });
    const bad = ocsp.leaf('bad', 'ocsp-ca', {
      serial: '1102',
      ocspUrl: responderUrl,
      extendedKeyUsage: 'clientAuth',
    });
    const index = ocsp.writeIndex([
      { certificate: 'good' },
      {
        certificate: 'bad',
        revoked: { at: new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000), reason: 'keyCompromise' },
      },
    ]);
    const responder = await ocsp.startResponder(port, index, {
      ca: 'ocsp-ca',
      signer: 'ocsp-ca',
      nextUpdateMinutes: 10,
    });
    try {
      const fixture = gatewayFixture(
        '[downstream.dtls]\nenabled = true\nhost = "127.0.0.1"\nport = 0\n' +
          `sensor_ca_files = ["${ocsp.path('ocsp-ca.pem')}"]\n` +
          '[trust.bundles.sensors]\ncrl_policy = "hard-fail"\n' +
          '[trust.revocation]\nocsp = true\nretry_initial_ms = 100\nretry_max_ms = 400\n',
      );
      await provisionFactory(fixture.configPath, caDir);
      const { port: gatewayPort } = await run(fixture);
      const sensor = (facts: { der: Uint8Array }, name: string) => ({
        certDer: facts.der,
        keyFile: ocsp.path(`${name}.key`),
      });
      // The first handshake is judged by the CRL policy (no CRL: hard-fail refuses) while the
      // answer is fetched in the background; once cached, it decides.
      const eventually = async (attempt: () => Promise<unknown>, done: () => Promise<boolean>) => {
        const giveUpAt = Date.now() + 20_000;
        for (;;) {
          await attempt().catch(() => undefined);
          if (await done()) return;
          if (Date.now() > giveUpAt) throw new Error('the OCSP answer never decided');
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      };
      let accepted = false;
      await eventually(
        async () => {
          await connect(gatewayPort, sensor(good, 'good'));
          accepted = true;
        },
        async () => accepted,
      );
      await eventually(
        () => connect(gatewayPort, sensor(bad, 'bad')),
        async () => ((await daemonStatus(fixture)).sensorTrust.refused.revoked ?? 0) > 0,
      );
      const trust = (await daemonStatus(fixture)).sensorTrust;
      expect(trust.decidedByOcsp).toBeGreaterThanOrEqual(2);
      expect(trust.refused['crl-missing']).toBeGreaterThanOrEqual(1);
      // A verified answer's producedAt is evidence of the time: it raised the clock floor.
      expect(await ctl(fixture, 'clock')).toMatchObject({ source: 'ocsp' });
    } finally {
      await responder.stop();
      ocsp.remove();
    }
  });

  it('validates sensors at the clock floor when it boots at 1970 with no RTC', async () => {
    const fixture = await trustGateway();
    const sensor = pki.leaf('rtc-less-sensor', sensorCa);
    const first = await run(fixture);
    await connect(first.port, sensor);
    // Signed evidence of a good time (the floor never takes it from an unsynchronised clock alone).
    const crl = buildTestCrl({
      issuer: sensorCa,
      thisUpdate: new Date(),
      nextUpdate: new Date(Date.now() + 86_400_000),
    });
    await ctl(fixture, 'trust', 'crl', 'import', pki.write('rtc-less.crl', crl));
    await first.service.stop();
    // libfaketime: the daemon's clock (and OpenSSL's) reads 2 January 1970.
    const faked = await run(fixture, fakeClockEnv('1970-01-02 00:00:00'));
    await connect(faked.port, sensor); // at 1970 it would be "not yet valid"
    const trust = (await daemonStatus(fixture)).sensorTrust;
    expect(trust.clockBehindFloor).toBe(true);
    expect(trust.refused['not-yet-valid']).toBeUndefined();
  });
});
