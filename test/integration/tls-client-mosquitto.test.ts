import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { type IPublishPacket, MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SwtpmProcess } from '../../hw-sim/tpm/index.js';
import type { WorkerKeyStore } from '../../src/keys/index.js';
import { libcrypto } from '../../src/native/openssl/index.js';
import type { Pointer } from '../../src/native/openssl/libssl.js';
import { keyStorePrivateKey } from '../../src/tls/key-store-private-key.js';
import { privateKeyFromPkcs8 } from '../../src/tls/openssl-objects.js';
import { connectTls, TlsClientContext } from '../../src/tls/tls-client/index.js';
import { TlsError } from '../../src/tls/tls-error.js';
import { ateccKeyStore, PeerProcess, TestPki, tpmKeyStore } from '../helpers/tls-peers.js';

// The key stores run their devices in workers from dist/: build first (`npm test` does).
type Backend = 'software' | 'tpm' | 'atecc608';
interface Client {
  privateKey: Pointer;
  chain: Uint8Array[];
  serial: string;
}

let work: string;
let pki: TestPki;
let broker: PeerProcess;
let swtpm: SwtpmProcess | undefined;
const stores: WorkerKeyStore[] = [];
const clients = {} as Record<Backend, Client>;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'egw-tls-mosquitto-'));
  pki = TestPki.create(join(work, 'pki'));
  const software = pki.softwareClient('0A01');
  clients.software = {
    privateKey: privateKeyFromPkcs8(software.pkcs8),
    chain: software.chain,
    serial: '0A01',
  };
  const tpm = await tpmKeyStore(join(work, 'tpm'));
  swtpm = tpm.swtpm;
  stores.push(tpm.store);
  clients.tpm = {
    privateKey: keyStorePrivateKey(tpm.store, await tpm.store.publicKey()),
    chain: await pki.clientChain(tpm.store, '0B02'),
    serial: '0B02',
  };
  const atecc = await ateccKeyStore(work);
  stores.push(atecc);
  clients.atecc608 = {
    privateKey: keyStorePrivateKey(atecc, await atecc.publicKey()),
    chain: await pki.clientChain(atecc, '0C03'),
    serial: '0C03',
  };

  const conf = join(work, 'mosquitto.conf');
  broker = await PeerProcess.start(
    'mosquitto',
    (port) => {
      // TLS only, client certificates from the factory CA required, the certificate CN is the user.
      writeFileSync(
        conf,
        [
          // Started as root, mosquitto would switch to user "mosquitto", who cannot read the 0700 temp dirs.
          `user ${userInfo().username}`,
          'per_listener_settings false',
          'persistence false',
          'log_dest stderr', // unbuffered, unlike stdout into a pipe
          'log_type error',
          'log_type warning',
          'log_type notice',
          'log_type information',
          `listener ${port} 127.0.0.1`,
          `cafile ${pki.factoryRoot}`,
          `certfile ${pki.server.cert}`,
          `keyfile ${pki.server.key}`,
          'require_certificate true',
          'use_identity_as_username true',
          'tls_version tlsv1.2',
          '',
        ].join('\n'),
      );
      return ['-c', conf];
    },
    /running/,
  );
});

afterAll(async () => {
  await broker?.stop();
  for (const client of Object.values(clients)) libcrypto().EVP_PKEY_free(client.privateKey);
  for (const store of stores) await store.close();
  await swtpm?.stop();
  rmSync(work, { recursive: true, force: true });
});

function mqttClient(context: TlsClientContext, clientId: string): MqttClient {
  return new MqttClient(() => connectTls({ host: 'localhost', port: broker.port, context }), {
    protocolVersion: 5,
    clientId,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 20_000,
  });
}

function connected(client: MqttClient): Promise<void> {
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
}

function failed(client: MqttClient): Promise<Error> {
  return new Promise((resolve, reject) => {
    client.once('error', resolve);
    client.once('connect', () => reject(new Error('the broker accepted the connection')));
  });
}

describe('MQTT 5 (mqtt.js) to mosquitto over the TLS stream, client certificate required', () => {
  test.each(['software', 'tpm', 'atecc608'] as const)(
    'client key in %s: connects, subscribes and receives its own QoS 1 publish',
    async (backend) => {
      const { privateKey, chain, serial } = clients[backend];
      const context = new TlsClientContext({ ca: pki.trustBundle, certificateChain: chain, privateKey });
      const client = mqttClient(context, `gw-${backend}`);
      try {
        await connected(client);
        const topic = `devices/${serial}/telemetry`;
        const granted = await client.subscribeAsync(topic, { qos: 1 });
        expect(granted[0]?.qos).toBe(1);
        const received = new Promise<{ topic: string; payload: string; packet: IPublishPacket }>((resolve) =>
          client.once('message', (t, payload, packet) =>
            resolve({ topic: t, payload: payload.toString(), packet }),
          ),
        );
        const payload = JSON.stringify({ backend, temperature: 21.5 });
        const ack = await client.publishAsync(topic, payload, {
          qos: 1,
          properties: { userProperties: { 'sensor-id': 'sensor-7', 'gateway-id': `device-${serial}` } },
        });
        // Resolves with the packet sent, once the broker's PUBACK for its id came back.
        expect(ack).toMatchObject({ cmd: 'publish', qos: 1 });
        const message = await received;
        expect(message.topic).toBe(topic);
        expect(message.payload).toBe(payload);
        expect(message.packet.qos).toBe(1);
        expect(message.packet.properties?.userProperties).toEqual({
          'sensor-id': 'sensor-7',
          'gateway-id': `device-${serial}`,
        });
        // use_identity_as_username: the broker saw our certificate's CN.
        expect(broker.output).toContain(`u'device-${serial}'`);
      } finally {
        await client.endAsync();
        context.free();
      }
    },
  );

  describe('a client certificate from a rogue CA is refused with a clear error', () => {
    let rogue: { pkcs8: Uint8Array; chain: Uint8Array[] };
    let privateKey: Pointer;
    beforeAll(() => {
      rogue = pki.rogueClient('0D04');
      privateKey = privateKeyFromPkcs8(rogue.pkcs8);
    });
    afterAll(() => libcrypto().EVP_PKEY_free(privateKey));

    test('TLS 1.2: the broker refuses it inside the handshake, mqtt.js gets EGW_TLS_ALERT "unknown ca"', async () => {
      const context = new TlsClientContext({
        ca: pki.trustBundle,
        certificateChain: rogue.chain,
        privateKey,
        maxVersion: 'TLSv1.2',
      });
      const client = mqttClient(context, 'gw-rogue-12');
      try {
        const error = await failed(client);
        expect(error).toBeInstanceOf(TlsError);
        expect(error).toMatchObject({ code: 'EGW_TLS_ALERT' });
        expect(error.message).toBe(
          `TLS handshake with localhost:${broker.port} failed: the server sent alert "unknown ca" (48)`,
        );
        expect((error as TlsError).hint).toContain('does not trust the CA');
        expect(client.connected).toBe(false);
      } finally {
        client.end(true);
        context.free();
      }
    });

    test('TLS 1.3: the broker refuses it after the handshake with alert "unknown ca"', async () => {
      const context = new TlsClientContext({
        ca: pki.trustBundle,
        certificateChain: rogue.chain,
        privateKey,
      });
      try {
        // Nothing written: the alert cannot be lost to a reset (see the next test).
        const error = await new Promise<Error>((resolve, reject) => {
          const stream = connectTls({ host: 'localhost', port: broker.port, context });
          stream.on('data', () => reject(new Error('the broker sent data')));
          stream.once('error', resolve);
        });
        expect(error).toMatchObject({
          code: 'EGW_TLS_ALERT',
          message: `TLS read with localhost:${broker.port} failed: the server sent alert "unknown ca" (48)`,
        });
      } finally {
        context.free();
      }
    });

    test('TLS 1.3 through mqtt.js: a TlsError either way, even when the reset swallows the alert', async () => {
      const context = new TlsClientContext({
        ca: pki.trustBundle,
        certificateChain: rogue.chain,
        privateKey,
      });
      const client = mqttClient(context, 'gw-rogue-13');
      try {
        // mqtt.js writes CONNECT right after the handshake; the broker's close then races it, and
        // the kernel may drop the alert with the RST (about 1 run in 30 here).
        const error = await failed(client);
        expect(error).toBeInstanceOf(TlsError);
        if ((error as TlsError).code === 'EGW_TLS_ALERT')
          expect(error.message).toContain('"unknown ca" (48)');
        else {
          expect(error).toMatchObject({ code: 'EGW_TLS_CLOSED' });
          expect((error as TlsError).hint).toContain('refused the gateway client certificate');
        }
        expect(client.connected).toBe(false);
      } finally {
        client.end(true);
        context.free();
      }
    });
  });
});
