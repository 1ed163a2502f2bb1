import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwtpmProcess } from '../../hw-sim/tpm/index.js';
import { createDevice as createAteccDevice } from '../../src/keys/atecc608/index.js';
import { type KeyStore, WorkerKeyStore } from '../../src/keys/index.js';
import { DtlsClient, DtlsServer, keyStorePrivateKey, privateKeyFromPkcs8 } from '../../src/tls/index.js';
import { derOfCertFile, TestPki, tpmKeyStore } from '../helpers/tls-peers.js';

/**
 * The DTLS server signing its handshakes with the gateway identity in a key store: swtpm, and the
 * ATECC608A simulator with its modelled ~55 ms Sign, through the KeyStore's synchronous path.
 */
let dir: string;
let pki: TestPki;
let swtpm: SwtpmProcess | undefined;
const stores: KeyStore[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'egw-dtls-hw-'));
  pki = TestPki.create(dir);
});

afterAll(async () => {
  for (const store of stores) await store.close();
  await swtpm?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function echoServer(store: KeyStore): Promise<{ server: DtlsServer; port: number }> {
  const spki = await store.publicKey();
  const server = new DtlsServer({
    certificateChain: await pki.clientChain(store, store.info.serial),
    privateKey: keyStorePrivateKey(store, spki),
    ca: [derOfCertFile(pki.factoryRoot)],
  });
  server.on('message', (plaintext, peer) => server.send(peer.address, peer.port, plaintext));
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 });
  return { server, port };
}

function sensor(port: number) {
  const client = pki.softwareClient(`5E45${Math.floor(Math.random() * 1e9)}`);
  return {
    host: '127.0.0.1',
    port,
    ca: [derOfCertFile(pki.factoryRoot)],
    certificateChain: client.chain,
    privateKey: privateKeyFromPkcs8(client.pkcs8),
  };
}

describe('DTLS server key in a key store', () => {
  it('swtpm: mutual handshakes signed by the TPM, data round-trips', async () => {
    const tpm = await tpmKeyStore(dir);
    swtpm = tpm.swtpm;
    stores.push(tpm.store);
    const { server, port } = await echoServer(tpm.store);
    try {
      const client = await DtlsClient.connect(sensor(port));
      expect((await client.request(Buffer.from('ping'))).toString()).toBe('ping');
      client.close();
      expect(server.stats().handshakesCompleted).toBeGreaterThanOrEqual(1);
    } finally {
      await server.close();
    }
  });

  it('ATECC608A simulator with modelled timing: a busy session keeps its round trips across new handshakes', async () => {
    const params = {
      bus: 1,
      address: 0x60,
      keySlot: 0,
      simulator: { statePath: join(dir, 'atecc608-timed.json'), timing: true },
    };
    const device = createAteccDevice(params);
    device.connect();
    device.generateKey({ overwrite: true });
    device.close();
    const store = await WorkerKeyStore.open('atecc608', params);
    stores.push(store);
    const { server, port } = await echoServer(store);
    try {
      const busy = await DtlsClient.connect(sensor(port));
      let roundTrips = 0;
      let running = true;
      const load = (async () => {
        while (running) {
          await busy.request(Buffer.from(`n${roundTrips}`));
          roundTrips++;
        }
      })();
      const before = roundTrips;
      const newcomers = await Promise.all([1, 2, 3].map(() => DtlsClient.connect(sensor(port))));
      running = false;
      await load;
      for (const newcomer of newcomers) {
        expect((await newcomer.request(Buffer.from('hello'))).toString()).toBe('hello');
        newcomer.close();
      }
      // Three handshakes each waited for a ~55 ms hardware signature; the busy session kept going.
      expect(roundTrips - before).toBeGreaterThan(3);
      busy.close();
    } finally {
      await server.close();
    }
  });
});
