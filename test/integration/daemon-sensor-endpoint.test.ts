import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import { DtlsClient } from '../../src/tls/index.js';
import { coapCode, coapGet } from '../bench/dtls/coap-get.js';
import { gatewayctl, gatewayFixture, startDaemon } from '../helpers/daemon-harness.js';
import { addSensor, type DtlsPki, makeDtlsPki, run } from '../helpers/dtls-pki.js';

/**
 * The daemon's CoAP/DTLS endpoint for sensors, signing its handshakes with the gateway identity
 * (here the software backend, provisioned by gatewayctl against a factory CA kit).
 */
const factoryCa = new URL('../../scripts/factory-ca.sh', import.meta.url).pathname;
let sensors: DtlsPki;
let caDir: string;
const services: ServiceSupervisor[] = [];

beforeAll(() => {
  sensors = makeDtlsPki();
  caDir = join(mkdtempSync(join(tmpdir(), 'egw-sensor-ca-')), 'factory');
  execFileSync(factoryCa, ['init', caDir], { stdio: 'pipe' });
});
afterAll(() => sensors?.remove());
afterEach(async () => {
  for (const service of services.splice(0)) await service.dispose();
});

const dtlsConfig = (extra = '') =>
  `[downstream.dtls]\nenabled = true\nhost = "127.0.0.1"\nport = 0\nsensor_ca_files = ["${sensors.file('ca.pem')}"]\n${extra}`;

async function status(socketPath: string) {
  const result = await gatewayctl('status', '--json', '--socket', socketPath);
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout);
}

describe('sensor endpoint in the daemon', () => {
  it('serves CoAP over DTLS with the identity key and certificate; refuses a rogue sensor; counts both', async () => {
    const fixture = gatewayFixture(dtlsConfig());
    const provisioned = await gatewayctl('provision', 'factory', '-c', fixture.configPath, '--ca-dir', caDir);
    expect(provisioned.code).toBe(0);
    const service = startDaemon(fixture.configPath);
    services.push(service);
    await service.waitReady();

    const before = await status(fixture.socketPath);
    expect(before.sensorEndpoint).toMatchObject({
      serverKey: expect.stringMatching(/^identity key \(software key/),
    });
    const port = Number(String(before.sensorEndpoint.listening).split(':').at(-1));

    const root = new Uint8Array(
      Buffer.from(readFileSync(join(caDir, 'root.crt'), 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64'),
    );
    const client = await DtlsClient.connect({
      host: '127.0.0.1',
      port,
      ca: [root], // the sensor checks the gateway's factory chain
      certificateChain: [sensors.der('sensor')],
      privateKey: sensors.key('sensor'),
    });
    const response = await client.request(coapGet(7));
    // The routes are served without the upstream too (GET /time, /.well-known/core): no rule allows GET /.
    expect(coapCode(response)).toBe('4.03');
    client.close();

    await expect(
      DtlsClient.connect({
        host: '127.0.0.1',
        port,
        ca: [root],
        certificateChain: [sensors.der('rogue-sensor')],
        privateKey: sensors.key('rogue-sensor'),
        handshakeTimeoutMs: 3000,
      }),
    ).rejects.toThrow();

    const after = (await status(fixture.socketPath)).sensorEndpoint;
    expect(after.handshakesCompleted).toBe(1);
    expect(after.handshakesFailed).toBe(1);
    const human = await gatewayctl('status', '--socket', fixture.socketPath);
    expect(human.stdout).toMatch(
      /sensors\s+coaps on 127\.0\.0\.1:\d+, \d+ sessions, 1 handshakes \(0 resumed, 1 refused\)/,
    );
    // the handshake budget, sized from the identity key's measured signing rate (software: capped at 1000/s)
    expect(after.handshakes).toMatchObject({
      signer: { source: 'measured' },
      signatures: 2,
      signaturesRefusedPerAddress: 0,
      halfOpen: 0,
      limits: { halfOpenPerAddress: 8, halfOpenGlobal: 256, ipv6PrefixLength: 64, cookieLifetimeMs: 30_000 },
    });
    expect(after.handshakes.limits.perAddress.ratePerSecond).toBeLessThan(after.handshakes.signer.perSecond);
    expect(human.stdout).toMatch(
      /handshakes\s+2 signatures \(budget [\d.]+\/s, [\d.]+\/s per address; signer [\d.]+\/s measured\)/,
    );
    expect((await service.stop()).code).toBe(0);
  });

  it('refuses to start when the identity has no certificate to present, and says what to do', async () => {
    const fixture = gatewayFixture(dtlsConfig());
    await gatewayctl(
      'provision',
      'factory',
      '-c',
      fixture.configPath,
      '--csr-out',
      join(fixture.dir, 'x.csr'),
    );
    const service = startDaemon(fixture.configPath);
    services.push(service);
    expect((await service.exited).code).toBe(1);
    const fatal = service.logRecords().find((record) => record.level === 60);
    expect(fatal).toMatchObject({
      code: 'EGW_DOWNSTREAM_CREDENTIALS',
      hint: 'provision the gateway first: gatewayctl provision factory',
    });
    expect(service.notify.messages.some((m) => m.includes('READY=1'))).toBe(false);
  });

  it('can use a dedicated key file instead of the identity', async () => {
    const fixture = gatewayFixture(
      dtlsConfig(
        `server_key = "file"\nkey_file = "${sensors.file('server.key')}"\ncertificate_file = "${sensors.file('server.pem')}"\n`,
      ),
    );
    const service = startDaemon(fixture.configPath);
    services.push(service);
    await service.waitReady();
    const endpoint = (await status(fixture.socketPath)).sensorEndpoint;
    expect(endpoint.serverKey).toBe(`dedicated key ${sensors.file('server.key')}`);
    const port = Number(String(endpoint.listening).split(':').at(-1));
    const client = await DtlsClient.connect({
      host: '127.0.0.1',
      port,
      ca: [sensors.der('ca')],
      certificateChain: [sensors.der('sensor')],
      privateKey: sensors.key('sensor'),
    });
    expect(coapCode(await client.request(coapGet(1)))).toBe('4.03'); // routed, and no rule allows GET /
    client.close();
  });

  it('refuses a sensor whose RSA key is under 2048 bits (weak-key, bad_certificate as OpenSSL would); RSA-2048 over CCM_8 passes', async () => {
    addSensor(sensors, 'rsa1024-sensor', { key: 'rsa:1024' });
    addSensor(sensors, 'rsa2048-sensor', { key: 'rsa:2048' });
    const fixture = gatewayFixture(
      dtlsConfig(
        `server_key = "file"\nkey_file = "${sensors.file('server.key')}"\ncertificate_file = "${sensors.file('server.pem')}"\n`,
      ),
    );
    const service = startDaemon(fixture.configPath);
    services.push(service);
    await service.waitReady();
    const port = Number(
      String((await status(fixture.socketPath)).sensorEndpoint.listening)
        .split(':')
        .at(-1),
    );
    // s_client at @SECLEVEL=0, so the refusal is the gateway's; RFC 7925's CCM_8 suite only.
    const sClient = (sensor: string) =>
      run('openssl', [
        's_client',
        '-dtls1_2',
        '-connect',
        `127.0.0.1:${port}`,
        '-cert',
        sensors.file(`${sensor}.pem`),
        '-key',
        sensors.file(`${sensor}.key`),
        '-CAfile',
        sensors.file('ca.pem'),
        '-cipher',
        'ECDHE-ECDSA-AES128-CCM8:@SECLEVEL=0',
      ]);
    const weak = await sClient('rsa1024-sensor');
    expect(weak.code).not.toBe(0);
    expect(weak.stderr).toMatch(/alert bad certificate/);
    const strong = await sClient('rsa2048-sensor');
    expect(strong.code, strong.stderr).toBe(0);
    expect(strong.stdout).toContain('Cipher is ECDHE-ECDSA-AES128-CCM8');
    const after = await status(fixture.socketPath);
    expect(after.sensorTrust.refused).toEqual({ 'weak-key': 1 });
    expect(after.sensorEndpoint.handshakesFailed).toBe(1);
  });
});
