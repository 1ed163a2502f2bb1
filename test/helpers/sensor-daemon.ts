import { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import type { SensorTrustStatus } from '../../src/trust/index.js';
import { builtEntry, type GatewayFixture, gatewayctl, gatewayFixture } from './daemon-harness.js';

/**
 * The daemon with its sensor endpoint, as the daemon-level trust tests start it: a gateway config with
 * the DTLS endpoint on 127.0.0.1 (any port) and the sensor CAs as anchors, provisioned from a factory
 * CA kit, then the built daemon started as systemd would.
 */

/** A provisioned gateway whose DTLS endpoint trusts `sensorCaFiles`; `extra` is more TOML after it. */
export async function provisionedSensorGateway(
  caDir: string,
  sensorCaFiles: readonly string[],
  extra = '',
): Promise<GatewayFixture> {
  const fixture = gatewayFixture(
    '[downstream.dtls]\nenabled = true\nhost = "127.0.0.1"\nport = 0\n' +
      `sensor_ca_files = [${sensorCaFiles.map((file) => `"${file}"`).join(', ')}]\n` +
      extra,
  );
  const provisioned = await gatewayctl('provision', 'factory', '-c', fixture.configPath, '--ca-dir', caDir);
  if (provisioned.code !== 0) throw new Error(`gatewayctl provision factory failed: ${provisioned.stderr}`);
  return fixture;
}

/** The daemon on `fixture`, READY, and its sensor endpoint's port; `services` gets it for disposal. */
export async function startSensorDaemon(
  fixture: GatewayFixture,
  services: ServiceSupervisor[],
  env?: NodeJS.ProcessEnv,
): Promise<{ service: ServiceSupervisor; port: number }> {
  const service = ServiceSupervisor.start({
    command: [process.execPath, builtEntry('daemon'), '--config', fixture.configPath],
    ...(env ? { env } : {}),
  });
  services.push(service);
  await service.waitReady();
  const status = await sensorDaemonStatus(fixture);
  return { service, port: Number(String(status.sensorEndpoint.listening).split(':').at(-1)) };
}

/** `gatewayctl status --json` of the daemon on `fixture`: its sensor endpoint and sensor trust. */
export async function sensorDaemonStatus(
  fixture: GatewayFixture,
): Promise<{ sensorEndpoint: { listening: string }; sensorTrust: SensorTrustStatus }> {
  const result = await gatewayctl('status', '--json', '--socket', fixture.socketPath);
  if (result.code !== 0) throw new Error(`gatewayctl status failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout);
}
