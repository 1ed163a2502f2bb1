import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwtpmProcess } from '../../hw-sim/tpm/index.js';
import { simulatedAtecc608Bus } from '../../src/daemon/simulated-atecc608-bus.js';
import { createDevice as createAteccDevice } from '../../src/keys/atecc608/index.js';
import { type KeyStore, WorkerKeyStore } from '../../src/keys/index.js';
import { DtlsClient, DtlsServer, keyStorePrivateKey, privateKeyFromPkcs8 } from '../../src/tls/index.js';
import { derOfCertFile, slowSigningKeyStore, TestPki, tpmKeyStore } from '../helpers/tls-peers.js';

/**
 * The DTLS server signing its handshakes with the gateway identity in a key store: swtpm, and the
 * ATECC608A simulator with its modelled ~55 ms Sign. The step that signs runs off the event loop
 * (DtlsSession.acceptOffLoop), the signature being waited for on the TLS signing thread.
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
      i2cBus: simulatedAtecc608Bus({ statePath: join(dir, 'atecc608-timed.json'), timing: true }),
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

  it('established sessions are served while the signer works on a new handshake (it never blocks the loop)', async () => {
    // A slow signer (test double: the software key, 400 ms per signature) flags while it signs; a busy
    // session counts the round trips that complete meanwhile. Were the signature waited for on the
    // event loop, none could: the loop would only run again after the flag went down.
    const { store, flags } = await slowSigner('loop', 400);
    const { server, port } = await echoServer(store);
    try {
      const busy = await DtlsClient.connect(sensor(port));
      let duringSignature = 0;
      let running = true;
      const load = (async () => {
        while (running) {
          await busy.request(Buffer.from('tick'));
          if (Atomics.load(flags, 0) === 1) duringSignature++;
        }
      })();
      const signaturesBefore = Atomics.load(flags, 1);
      const newcomers = await Promise.all([1, 2].map(() => DtlsClient.connect(sensor(port))));
      running = false;
      await load;
      expect(Atomics.load(flags, 1) - signaturesBefore).toBe(2);
      expect(duringSignature).toBeGreaterThan(0);
      for (const newcomer of newcomers) {
        expect((await newcomer.request(Buffer.from('hello'))).toString()).toBe('hello');
        newcomer.close();
      }
      expect(server.stats().signatures).toBeGreaterThanOrEqual(3);
      busy.close();
    } finally {
      await server.close();
    }
  });

  it('a signature the device refuses or does not make in time fails that handshake as keyStore, and the next one works', async () => {
    const { store, flags } = await slowSigner('failures', 0, 500);
    const { server, port } = await echoServer(store);
    const failures: { reason: string; code: string; message: string }[] = [];
    server.on('handshakeFailed', (event) =>
      failures.push({ reason: event.reason, code: event.error.code, message: event.error.message }),
    );
    try {
      Atomics.store(flags, 3, 1); // refuse the next signature
      await expect(DtlsClient.connect({ ...sensor(port), handshakeTimeoutMs: 3_000 })).rejects.toThrow();
      Atomics.store(flags, 2, 1_500); // the next signature takes longer than the 500 ms call timeout
      await expect(DtlsClient.connect({ ...sensor(port), handshakeTimeoutMs: 3_000 })).rejects.toThrow();
      await expect.poll(() => failures.length).toBe(2);
      expect(failures[0]).toMatchObject({ reason: 'keyStore', code: 'EGW_TLS_KEY_STORE' });
      expect(failures[0]?.message).toContain('the test double refused this signature');
      expect(failures[1]).toMatchObject({ reason: 'keyStore', code: 'EGW_TLS_KEY_STORE' });
      expect(failures[1]?.message).toContain('EGW_KEY_TIMEOUT');
      // The device worker was replaced after the timeout; the next handshake is signed again.
      const client = await DtlsClient.connect(sensor(port));
      expect((await client.request(Buffer.from('again'))).toString()).toBe('again');
      client.close();
    } finally {
      await server.close();
    }
  });

  it('closing the server while a handshake waits for its signature waits for the step, then frees it', async () => {
    const { store, flags } = await slowSigner('close', 600);
    const { server, port } = await echoServer(store);
    const connecting = DtlsClient.connect({ ...sensor(port), handshakeTimeoutMs: 3_000 }).catch(
      (error: unknown) => error,
    );
    await expect.poll(() => Atomics.load(flags, 0), { interval: 5 }).toBe(1);
    await server.close();
    expect(Atomics.load(flags, 0)).toBe(0); // the step returned before close() resolved
    expect(await connecting).toBeInstanceOf(Error);
    expect(server.stats().sessionsActive).toBe(0);
  });
});

async function slowSigner(name: string, delayMs: number, callTimeoutMs?: number) {
  const slow = await slowSigningKeyStore(dir, name, delayMs, callTimeoutMs);
  stores.push(slow.store);
  return slow;
}
