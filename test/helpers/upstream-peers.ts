import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type IClientOptions, MqttClient, type OnMessageCallback } from 'mqtt';
import { MosquittoBroker, type MosquittoBrokerOptions } from '../../hw-sim/broker/index.js';
import { parseConfigText } from '../../src/config/index.js';
import type { TelemetryMessage } from '../../src/downstream/index.js';
import { libcrypto } from '../../src/native/openssl/index.js';
import { Store } from '../../src/store/index.js';
import { connectTls, privateKeyFromPkcs8, TlsClientContext } from '../../src/tls/index.js';
import type { UpstreamCredentials } from '../../src/upstream/index.js';
import { sensorIdentity } from './sensor-identity-fixture.js';
import { derOfPem, TestPki } from './tls-peers.js';

/** Where an upstream test runs: its temporary folder, a test PKI, mosquitto and a state database. */
export interface UpstreamWorkspace {
  work: string;
  pki: TestPki;
  broker: MosquittoBroker;
  store: Store;
}

/**
 * A new temporary folder (named after `prefix`) with a test PKI in pki/, mosquitto in broker/ taking
 * client certificates of the PKI's factory root (more `brokerOptions` beside), and state.db open.
 * The folder goes again if the broker does not start.
 */
export async function upstreamWorkspace(
  prefix: string,
  brokerOptions: Partial<MosquittoBrokerOptions> = {},
): Promise<UpstreamWorkspace> {
  const work = mkdtempSync(join(tmpdir(), prefix));
  try {
    const pki = TestPki.create(join(work, 'pki'));
    const broker = await MosquittoBroker.start({
      dir: join(work, 'broker'),
      caFiles: [pki.factoryRoot],
      ...brokerOptions,
    });
    return { work, pki, broker, store: Store.open(join(work, 'state.db')) };
  } catch (error) {
    rmSync(work, { recursive: true, force: true });
    throw error;
  }
}

/** Polls until `done()` holds; the ceiling only turns a hang into a message, it asserts no duration. */
export async function until(what: string, done: () => boolean, ceilingMs = 30_000): Promise<void> {
  const giveUpAt = Date.now() + ceilingMs;
  while (!done()) {
    if (Date.now() > giveUpAt) throw new Error(`never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A telemetry message of sensor `sensorId` (its certificate hash: that of its name) with `body` as JSON. */
export function telemetryMessage(
  sensorId: string,
  body: object,
  contentFormat: 50 | 60 = 50,
): TelemetryMessage {
  return {
    sensorId,
    sensor: sensorIdentity({
      commonName: sensorId,
      sha256: createHash('sha256').update(sensorId).digest('hex'),
    }),
    contentFormat,
    payload: Buffer.from(JSON.stringify(body)),
    receivedAt: new Date(),
  };
}

/**
 * A gateway's upstream configuration: [upstream] enabled, its broker, trust anchor file (when
 * given) and client id, then `more` lines (keys of [upstream] and further tables).
 */
export function upstreamConfig(
  fileName: string,
  upstream: { brokerUrl: string; trustAnchorFile?: string; clientId: string },
  more: string[] = [],
) {
  return parseConfigText(
    [
      '[upstream]',
      'enabled = true',
      `broker_url = "${upstream.brokerUrl}"`,
      ...(upstream.trustAnchorFile === undefined
        ? []
        : [`trust_anchor_file = "${upstream.trustAnchorFile}"`]),
      `client_id = "${upstream.clientId}"`,
      ...more,
      '',
    ].join('\n'),
    fileName,
  );
}

/** Upstream credentials of `pki`'s software client `serial`; its private key goes into `keys` (the caller frees them). */
export function softwareCredentials(
  pki: TestPki,
  serial: string,
  keys: unknown[],
  generation = 1,
): UpstreamCredentials {
  const { pkcs8, chain } = pki.softwareClient(serial);
  const privateKey = privateKeyFromPkcs8(pkcs8);
  keys.push(privateKey);
  return { chain, privateKey, generation };
}

/** An MQTT client standing in for the backend, connected; close() ends it and frees its TLS context and key. */
export interface Backend {
  client: MqttClient;
  close(): Promise<void>;
}

/**
 * Connects an MQTT client standing in for the backend to `broker` over mutual TLS, under `pki`'s
 * software client `serial` (the broker must take `pki`'s factory root), with `options` (protocol
 * version 5 unless they say otherwise). `onMessage` is on before the connection.
 */
export async function connectBackend(
  pki: TestPki,
  broker: MosquittoBroker,
  serial: string,
  options: IClientOptions,
  onMessage: OnMessageCallback,
): Promise<Backend> {
  const identity = pki.softwareClient(serial);
  const key = privateKeyFromPkcs8(identity.pkcs8);
  const context = new TlsClientContext({
    ca: [derOfPem(broker.caPem)],
    certificateChain: identity.chain,
    privateKey: key,
  });
  const client = new MqttClient(() => connectTls({ host: '127.0.0.1', port: broker.port, context }), {
    protocolVersion: 5,
    ...options,
  });
  const close = async () => {
    await client.endAsync(true);
    context.free();
    libcrypto().EVP_PKEY_free(key);
  };
  client.on('message', onMessage);
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
  } catch (error) {
    await close();
    throw error;
  }
  return { client, close };
}
