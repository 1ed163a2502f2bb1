import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import type { DtlsClient } from '../../src/tls/index.js';
import type { SensorTrustStatus } from '../../src/trust/index.js';
import { builtEntry, type GatewayFixture, gatewayctl, gatewayFixture } from '../helpers/daemon-harness.js';
import { connectDaemonSensor, makeFactoryCaKit } from '../helpers/daemon-sensor-client.js';
import { buildTestCrl, type TestCa, type TestCertificate, TestPkiDir } from '../helpers/test-crl.js';

/**
 * Issue 15: revocation keyed by the signer, in the running daemon. A sensor issued by an
 * intermediate CA that is not in the bundle presents it; the gateway learns it, so its CRL can be
 * imported (and one never seen can be given with --issuer-cert); the CRL then revokes that CA's
 * sensor at the DTLS handshake. Sensors admitted without revocation information are counted per CA
 * and shown, with a warning, by `gatewayctl status`.
 */
let caDir: string;
let gatewayRoot: Uint8Array;
let pki: TestPkiDir;
let rootCa: TestCa;
const services: ServiceSupervisor[] = [];
const clients: DtlsClient[] = [];

beforeAll(() => {
  ({ caDir, gatewayRoot } = makeFactoryCaKit('egw-signer-factory-'));
  pki = new TestPkiDir('egw-signer-');
  rootCa = pki.ca('root-ca', { cn: 'Sensor Root CA' });
});
afterAll(() => pki?.remove());
afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  for (const service of services.splice(0)) await service.dispose();
});

async function startGateway(): Promise<{
  fixture: GatewayFixture;
  service: ServiceSupervisor;
  port: number;
}> {
  const fixture = gatewayFixture(
    '[downstream.dtls]\nenabled = true\nhost = "127.0.0.1"\nport = 0\n' +
      `sensor_ca_files = ["${rootCa.certFile}"]\n`,
  );
  const provisioned = await gatewayctl('provision', 'factory', '-c', fixture.configPath, '--ca-dir', caDir);
  expect(provisioned.code, provisioned.stderr).toBe(0);
  const service = ServiceSupervisor.start({
    command: [process.execPath, builtEntry('daemon'), '--config', fixture.configPath],
  });
  services.push(service);
  await service.waitReady();
  const status = await daemonStatus(fixture);
  return { fixture, service, port: Number(String(status.sensorEndpoint.listening).split(':').at(-1)) };
}

async function daemonStatus(
  fixture: GatewayFixture,
): Promise<{ sensorEndpoint: { listening: string }; sensorTrust: SensorTrustStatus }> {
  const result = await gatewayctl('status', '--json', '--socket', fixture.socketPath);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

function connect(port: number, sensor: TestCertificate, issuer: TestCa): Promise<DtlsClient> {
  return connectDaemonSensor(port, gatewayRoot, sensor, [issuer.certDer]).then((client) => {
    clients.push(client);
    return client;
  });
}

function crlRevoking(issuer: TestCa, sensor: TestCertificate, name: string): string {
  const now = Date.now();
  return pki.write(
    name,
    buildTestCrl({
      issuer,
      entries: [{ serial: sensor.serial, revokedAt: new Date(now - 60_000), reason: 1 }],
      thisUpdate: new Date(now - 60_000),
      nextUpdate: new Date(now + 86_400_000),
      crlNumber: 1n,
    }),
  );
}

const closed = (client: DtlsClient) => new Promise<void>((resolve) => client.once('close', () => resolve()));

describe('revocation keyed by the signer, in the daemon', () => {
  it('counts sensors admitted without revocation information per CA; the CRL of a learned intermediate revokes its sensor at the handshake', async () => {
    const issuing = pki.ca('issuing-ca', { cn: 'Issuing CA', issuer: rootCa });
    const revoked = pki.leaf('learned-revoked', issuing);
    const kept = pki.leaf('learned-kept', issuing);
    const { fixture, service, port } = await startGateway();
    const session = await connect(port, revoked, issuing);
    await connect(port, kept, issuing);

    // The gap, visible: both sensors (grace, no CRL, no distribution point) counted under their CA.
    const trust = (await daemonStatus(fixture)).sensorTrust;
    const ca = trust.revocation.cas.find((entry) => entry.subject === 'CN=Issuing CA');
    expect(ca).toMatchObject({
      ski: issuing.facts.subjectKeyId,
      crl: null,
      admittedWithoutRevocationInfo: 2,
    });
    expect(trust.revocation.cas.find((entry) => entry.subject === 'CN=Sensor Root CA')).toMatchObject({
      admittedWithoutRevocationInfo: 1, // the intermediate itself
    });
    expect(trust.revocation.admittedWithoutRevocationInfo).toBe(3);
    const text = await gatewayctl('status', '--socket', fixture.socketPath);
    expect(text.stdout).toMatch(
      /revocation +CN=Issuing CA \(SKI [0-9a-f]+\): no CRL; WARNING: 2 sensor certificate\(s\) admitted without revocation information/,
    );
    expect(
      service
        .logRecords()
        .some((record) => /CA "CN=Issuing CA".*admitted without revocation/.test(String(record.msg))),
    ).toBe(true);

    // The intermediate is not in the bundle, but was seen on a validated path: its CRL is accepted.
    const ended = closed(session);
    const result = await gatewayctl(
      'trust',
      'crl',
      'import',
      crlRevoking(issuing, revoked, 'issuing.crl'),
      '-c',
      fixture.configPath,
      '--json',
    );
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      entries: 1,
      appliedTo: {
        subject: 'CN=Issuing CA',
        ski: issuing.facts.subjectKeyId,
        sha256: issuing.facts.sha256,
        origin: 'seen on a sensor path',
      },
      daemon: 'reloaded',
    });
    await ended;
    await expect(connect(port, revoked, issuing)).rejects.toThrow();
    await connect(port, kept, issuing);
    const after = (await daemonStatus(fixture)).sensorTrust;
    expect(after.refused.revoked).toBe(2); // the live session's re-check and the new handshake
    expect(after.revocation.cas.find((entry) => entry.subject === 'CN=Issuing CA')?.crl).toMatchObject({
      stale: false,
    });
  });

  it('imports the CRL of an intermediate never seen when given with --issuer-cert, only if it chains to an anchor', async () => {
    const issuing = pki.ca('unseen-ca', { cn: 'Unseen Issuing CA', issuer: rootCa });
    const stranger = pki.ca('stranger-ca', { cn: 'Unseen Issuing CA' }); // same name, self-signed
    const revoked = pki.leaf('unseen-revoked', issuing);
    const { fixture, port } = await startGateway();
    const crlFile = crlRevoking(issuing, revoked, 'unseen.crl');
    const plain = await gatewayctl('trust', 'crl', 'import', crlFile, '-c', fixture.configPath, '--json');
    expect(plain.code).toBe(1);
    expect(plain.stdout).toMatch(/unknown issuer/);
    const foreign = await gatewayctl(
      'trust',
      'crl',
      'import',
      crlRevoking(stranger, revoked, 'stranger.crl'),
      '--issuer-cert',
      stranger.certFile,
      '-c',
      fixture.configPath,
      '--json',
    );
    expect(foreign.code).toBe(1);
    expect(foreign.stdout).toMatch(/does not chain to a trust anchor/);
    const given = await gatewayctl(
      'trust',
      'crl',
      'import',
      crlFile,
      '--issuer-cert',
      issuing.certFile,
      '-c',
      fixture.configPath,
    );
    expect(given.code, given.stdout + given.stderr).toBe(0);
    expect(given.stdout).toMatch(
      new RegExp(
        `applied to CA CN=Unseen Issuing CA \\(SKI ${issuing.facts.subjectKeyId}, sha256 ${issuing.facts.sha256}, --issuer-cert\\)`,
      ),
    );
    await expect(connect(port, revoked, issuing)).rejects.toThrow();
    expect((await daemonStatus(fixture)).sensorTrust.refused.revoked).toBe(1);
  });
});
