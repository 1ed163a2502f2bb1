import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import type { DtlsClient } from '../../src/tls/index.js';
import { CertificateFacts } from '../../src/trust/validation/index.js';
import { type GatewayFixture, gatewayctl } from '../helpers/daemon-harness.js';
import { connectDaemonSensor, makeFactoryCaKit } from '../helpers/daemon-sensor-client.js';
import { respelledCa } from '../helpers/respelled-ca.js';
import {
  sensorDaemonStatus as daemonStatus,
  provisionedSensorGateway,
  startSensorDaemon,
} from '../helpers/sensor-daemon.js';
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

async function startGateway(caFiles: readonly string[] = [rootCa.certFile]): Promise<{
  fixture: GatewayFixture;
  service: ServiceSupervisor;
  port: number;
}> {
  const fixture = await provisionedSensorGateway(caDir, caFiles);
  return { fixture, ...(await startSensorDaemon(fixture, services)) };
}

function connect(port: number, sensor: TestCertificate, issuer: TestCa): Promise<DtlsClient> {
  return connectDaemonSensor(port, gatewayRoot, sensor, [issuer.certDer]).then((client) => {
    clients.push(client);
    return client;
  });
}

function crlRevoking(
  issuer: Pick<TestCa, 'certDer' | 'privateKey'>,
  sensor: TestCertificate,
  name: string,
  crlNumber = 1n,
  ageMs = 60_000,
): string {
  const now = Date.now();
  return pki.write(
    name,
    buildTestCrl({
      issuer,
      entries: [{ serial: sensor.serial, revokedAt: new Date(now - 60_000), reason: 1 }],
      thisUpdate: new Date(now - ageMs),
      nextUpdate: new Date(now + 86_400_000),
      crlNumber,
    }),
  );
}

async function importCrl(fixture: GatewayFixture, file: string): Promise<Record<string, unknown>> {
  const result = await gatewayctl('trust', 'crl', 'import', file, '-c', fixture.configPath, '--json');
  expect(result.code, result.stdout + result.stderr).toBe(0);
  return JSON.parse(result.stdout);
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
    // The live sessions follow their certificates' time: none closed yet, the next deadline shown.
    expect(text.stdout).toMatch(/sensors +coaps on .*; 0 closed by time, next \d{4}-\d\d-\d\dT/);
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

  it('same-DN CAs with competing CRLs: the newer CRL of B never un-revokes the sensor A revoked', async () => {
    // Two anchors, one DN, two keys (a re-key, or two vendors' generic name).
    const caA = pki.ca('same-dn-a', { cn: 'Sensors CA' });
    const caB = pki.ca('same-dn-b', { cn: 'Sensors CA' });
    expect(Buffer.from(caA.facts.subjectDer).equals(Buffer.from(caB.facts.subjectDer))).toBe(true);
    const revokedA = pki.leaf('same-dn-a-revoked', caA);
    const keptA = pki.leaf('same-dn-a-kept', caA);
    const revokedB = pki.leaf('same-dn-b-revoked', caB);
    const { fixture, port } = await startGateway([caA.certFile, caB.certFile]);

    const fromA = await importCrl(fixture, crlRevoking(caA, revokedA, 'same-dn-a.crl', 1n, 120_000));
    expect(fromA).toMatchObject({ appliedTo: { sha256: caA.facts.sha256 }, daemon: 'reloaded' });
    // B's CRL is newer (thisUpdate, cRLNumber) and does not list A's sensor.
    const fromB = await importCrl(fixture, crlRevoking(caB, revokedB, 'same-dn-b.crl', 7n, 60_000));

    await expect(connect(port, revokedA, caA)).rejects.toThrow();
    await expect(connect(port, revokedB, caB)).rejects.toThrow();
    await connect(port, keptA, caA);
    expect(fromB).toMatchObject({ appliedTo: { sha256: caB.facts.sha256 }, replaced: false });
    const trust = (await daemonStatus(fixture)).sensorTrust;
    expect(trust.refused.revoked).toBe(2);
    // Each CA keeps its own cRLNumber: A's next CRL (2 < B's 7) is still A's newer one.
    const nextA = await importCrl(fixture, crlRevoking(caA, revokedA, 'same-dn-a-2.crl', 2n, 30_000));
    expect(nextA).toMatchObject({ appliedTo: { sha256: caA.facts.sha256 }, replaced: true, crlNumber: '2' });
    await expect(connect(port, revokedA, caA)).rejects.toThrow();
  });

  it('a sensor whose issuer Name differs from its CA subject only in case and spacing is refused as revoked', async () => {
    const ca = pki.ca('spelled-ca', { cn: 'Spelled Sensor CA' });
    // The sensor's issuer field reads "cn=spelled  sensor ca": the CA's name as §7.1 compares it.
    const twin = respelledCa(pki, ca, 'spelled-ca-twin', '/CN=spelled  SENSOR ca');
    const revoked = pki.leaf('spelled-revoked', twin);
    const kept = pki.leaf('spelled-kept', twin);
    expect(CertificateFacts.parse(revoked.certDer).issuerDer).toEqual(twin.facts.subjectDer);
    expect(Buffer.from(twin.facts.subjectDer).equals(Buffer.from(ca.facts.subjectDer))).toBe(false);
    const { fixture, port } = await startGateway([ca.certFile]);
    const imported = await importCrl(fixture, crlRevoking(ca, revoked, 'spelled.crl'));
    expect(imported).toMatchObject({ appliedTo: { sha256: ca.facts.sha256 } });
    await expect(connect(port, revoked, ca)).rejects.toThrow();
    await connect(port, kept, ca);
    expect((await daemonStatus(fixture)).sensorTrust.refused.revoked).toBe(1);
  });

  it("a CRL whose issuer Name differs from its CA's subject only in case and spacing revokes that CA's sensor", async () => {
    const ca = pki.ca('crl-spelled-ca', { cn: 'CRL Spelled CA' });
    // The CA's CRL software writes its name another way: other bytes, the same name (§7.1).
    const twin = respelledCa(pki, ca, 'crl-spelled-ca-twin', '/CN=crl  spelled CA ');
    const revoked = pki.leaf('crl-spelled-revoked', ca);
    const kept = pki.leaf('crl-spelled-kept', ca);
    const { fixture, port } = await startGateway([ca.certFile]);
    const imported = await importCrl(fixture, crlRevoking(twin, revoked, 'crl-spelled.crl'));
    // Applied to the CA as its certificate names it, whatever the CRL's spelling.
    expect(imported).toMatchObject({ appliedTo: { sha256: ca.facts.sha256, subject: 'CN=CRL Spelled CA' } });
    await expect(connect(port, revoked, ca)).rejects.toThrow();
    await connect(port, kept, ca);
    const trust = (await daemonStatus(fixture)).sensorTrust;
    expect(trust.refused.revoked).toBe(1);
    const signerKey = (imported.appliedTo as { signerKey: string }).signerKey;
    expect(trust.revocation.cas.find((entry) => entry.signerKey === signerKey)?.crl).toMatchObject({
      stale: false,
    });
  });
});
