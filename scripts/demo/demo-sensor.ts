import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The sensor a technician tries by hand with libcoap's coap-client. Not named like the fleet's
 * sensors ("sensor-0001"…): both would publish to the same devices/{sensorId}/telemetry topic.
 */
export const CLI_SENSOR_NAME = 'coap-client-0001';

/**
 * A sensor vendor's CA and one sensor certificate (ECDSA P-256, EKU clientAuth), made with plain
 * openssl as a fleet operator would receive them: ca.pem, sensor.pem, sensor.key in `dir`.
 */
export function makeCliSensor(dir: string): {
  caFile: string;
  crlFile: string;
  certFile: string;
  keyFile: string;
} {
  mkdirSync(dir, { recursive: true });
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const p256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...p256,
    '-keyout',
    'ca.key',
    '-subj',
    '/CN=Demo Sensor CA',
    '-days',
    '2',
    '-out',
    'ca.pem',
  );
  openssl(
    'req',
    '-new',
    ...p256,
    '-keyout',
    'sensor.key',
    '-subj',
    `/CN=${CLI_SENSOR_NAME}`,
    '-out',
    'sensor.csr',
  );
  writeFileSync(join(dir, 'sensor.ext'), 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'sensor.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'sensor.ext',
    '-out',
    'sensor.pem',
  );
  // An empty CRL: without one the gateway accepts the vendor's sensors only under the grace policy,
  // with a warning in its log on every handshake.
  writeFileSync(
    join(dir, 'ca.cnf'),
    '[ca]\ndefault_ca = demo\n[demo]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 2\n',
  );
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'crlnumber'), '01\n');
  openssl(
    'ca',
    '-config',
    'ca.cnf',
    '-gencrl',
    '-keyfile',
    'ca.key',
    '-cert',
    'ca.pem',
    '-out',
    'ca.crl.pem',
  );
  return {
    caFile: join(dir, 'ca.pem'),
    crlFile: join(dir, 'ca.crl.pem'),
    certFile: join(dir, 'sensor.pem'),
    keyFile: join(dir, 'sensor.key'),
  };
}
