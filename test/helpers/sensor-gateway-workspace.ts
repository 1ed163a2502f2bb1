import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SensorCa } from '../../hw-sim/sensors/index.js';
import { type GatewayFixture, gatewayctl } from './daemon-harness.js';

const factoryCaScript = new URL('../../scripts/factory-ca.sh', import.meta.url).pathname;

/**
 * What a daemon-level sensor gateway test starts from (gateway check, sensor workers, metrics): its
 * own folder, a factory CA kit to provision the gateway from (`factoryDir`: root.crt beside it),
 * and a sensor CA with a CRL written (nextUpdate a week on), for `importCrl` once the daemon runs.
 */
export function sensorGatewayWorkspace(prefix: string): {
  work: string;
  factoryDir: string;
  sensorCa: SensorCa;
} {
  const work = mkdtempSync(join(tmpdir(), prefix));
  const factoryDir = join(work, 'factory');
  execFileSync(factoryCaScript, ['init', factoryDir], { stdio: 'pipe' });
  const sensorCa = SensorCa.open(join(work, 'sensor-ca'));
  sensorCa.writeCrl();
  return { work, factoryDir, sensorCa };
}

/** `gatewayctl trust crl import` of `crlFile` into the gateway of `fixture`; throws when it is refused. */
export async function importCrl(fixture: GatewayFixture, crlFile: string): Promise<void> {
  const imported = await gatewayctl('trust', 'crl', 'import', crlFile, '-c', fixture.configPath);
  if (imported.code !== 0) throw new Error(`CRL import failed: ${imported.stderr}`);
}
