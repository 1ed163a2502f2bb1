import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { simulatedAtecc608Bus } from '../../../src/daemon/simulated-atecc608-bus.js';
import { createDevice as createAteccDevice } from '../../../src/keys/atecc608/index.js';
import { type KeyStore, WorkerKeyStore } from '../../../src/keys/index.js';
import type { Pointer } from '../../../src/native/openssl/libssl.js';
import { buildCsr } from '../../../src/pki/index.js';
import { keyStorePrivateKey } from '../../../src/tls/index.js';

/**
 * The bench server's identity in the ATECC608A simulator with modelled execution times (Sign ≈55 ms),
 * certified by the bench CA: what a gateway whose DTLS key is in its secure element looks like.
 */
export async function ateccServerIdentity(
  dir: string,
): Promise<{ chain: Uint8Array[]; key: Pointer; store: KeyStore }> {
  const params = {
    bus: 1,
    address: 0x60,
    keySlot: 0,
    i2cBus: simulatedAtecc608Bus({ statePath: join(dir, 'atecc.json'), timing: true }),
  };
  const device = createAteccDevice(params);
  device.connect();
  device.generateKey({ overwrite: true });
  device.close();
  const store = await WorkerKeyStore.open('atecc608', params);
  const csr = await buildCsr(store, {
    serial: store.info.serial,
    commonName: 'localhost',
    sanDns: ['localhost'],
    sanUri: [],
    serverAuth: true,
    deviceType: 'edge-gateway',
    deviceTypeOid: '1.3.6.1.4.1.12345.1.1',
  });
  writeFileSync(join(dir, 'atecc.csr'), csr.pem);
  execFileSync(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      'atecc.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-copy_extensions',
      'copy',
      '-out',
      'atecc.pem',
    ],
    { cwd: dir, stdio: 'pipe' },
  );
  const der = new Uint8Array(
    Buffer.from(readFileSync(join(dir, 'atecc.pem'), 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64'),
  );
  return { chain: [der], key: keyStorePrivateKey(store, await store.publicKey()), store };
}
