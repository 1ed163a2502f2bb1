import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pemBlocks } from '../../src/pki/index.js';
import { DtlsClient, privateKeyFromPkcs8 } from '../../src/tls/index.js';
import type { TestCertificate } from './test-crl.js';

const factoryCaScript = new URL('../../scripts/factory-ca.sh', import.meta.url).pathname;

/**
 * A factory CA kit (`scripts/factory-ca.sh init`) in a new temporary folder, for `gatewayctl provision
 * factory --ca-dir`, and its root: the gateway's DTLS server certificate chains to it.
 */
export function makeFactoryCaKit(prefix: string): { caDir: string; gatewayRoot: Uint8Array } {
  const caDir = join(mkdtempSync(join(tmpdir(), prefix)), 'factory');
  execFileSync(factoryCaScript, ['init', caDir], { stdio: 'pipe' });
  const gatewayRoot = pemBlocks(readFileSync(join(caDir, 'root.crt'), 'utf8'))[0] as Uint8Array;
  return { caDir, gatewayRoot };
}

/**
 * A DTLS session to a daemon's sensor endpoint on 127.0.0.1:`port` as `sensor`, presenting its
 * certificate and then `intermediates` (DER), trusting the gateway by `gatewayRoot`.
 */
export function connectDaemonSensor(
  port: number,
  gatewayRoot: Uint8Array,
  sensor: Pick<TestCertificate, 'certDer' | 'keyFile'>,
  intermediates: readonly Uint8Array[] = [],
): Promise<DtlsClient> {
  const pkcs8 = execFileSync('openssl', [
    'pkcs8',
    '-topk8',
    '-nocrypt',
    '-in',
    sensor.keyFile,
    '-outform',
    'DER',
  ]);
  return DtlsClient.connect({
    host: '127.0.0.1',
    port,
    ca: [gatewayRoot],
    certificateChain: [sensor.certDer, ...intermediates],
    privateKey: privateKeyFromPkcs8(pkcs8),
    handshakeTimeoutMs: 3000,
  });
}
