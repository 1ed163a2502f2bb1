import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MosquittoBroker } from '../../hw-sim/broker/index.js';
import { parseConfigText } from '../../src/config/index.js';
import type { TelemetryMessage } from '../../src/downstream/index.js';
import { libcrypto } from '../../src/native/openssl/index.js';
import { Store } from '../../src/store/index.js';
import { connectTls, privateKeyFromPkcs8, TlsClientContext } from '../../src/tls/index.js';
import { UpstreamClient } from '../../src/upstream/index.js';
import { sensorIdentity } from '../helpers/sensor-identity-fixture.js';
import { derOfPem, TestPki } from '../helpers/tls-peers.js';

/**
 * The broker's copy of a message does not wait for the disk: the upstream client publishes a row as
 * soon as the outbox has committed it, while the -wal fdatasync runs, and the sensor's answer
 * (accept() resolving) still waits for that fdatasync. The fdatasyncs of the -wal file are held
 * here (while `holding`) until the test lets them end; mosquitto and the subscriber are real.
 */
const syncs = vi.hoisted(() => ({ holding: false, held: [] as (() => void)[] }));
vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  return {
    ...actual,
    fdatasync: (fd: number, callback: (error: Error | null) => void) => {
      if (syncs.holding) syncs.held.push(() => actual.fdatasync(fd, callback));
      else actual.fdatasync(fd, callback);
    },
  };
});

let work: string;
let pki: TestPki;
let broker: MosquittoBroker;
let store: Store;
let gateway: UpstreamClient;
let backend: MqttClient;
let backendContext: TlsClientContext;
const keys: unknown[] = [];
const received: { topic: string; payload: string }[] = [];
const runId = `before-sync-${Date.now()}`;

/** Polls until `done()` holds; the ceiling only turns a hang into a message, it asserts no duration. */
async function until(what: string, done: () => boolean, ceilingMs = 15_000): Promise<void> {
  const giveUpAt = Date.now() + ceilingMs;
  while (!done()) {
    if (Date.now() > giveUpAt) throw new Error(`never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function telemetry(sensorId: string, seq: number): TelemetryMessage {
  return {
    sensorId,
    sensor: sensorIdentity({
      commonName: sensorId,
      sha256: createHash('sha256').update(sensorId).digest('hex'),
    }),
    contentFormat: 50,
    payload: Buffer.from(JSON.stringify({ runId, seq })),
    receivedAt: new Date(),
  };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'egw-before-sync-'));
  pki = TestPki.create(join(work, 'pki'));
  broker = await MosquittoBroker.start({ dir: join(work, 'broker'), caFiles: [pki.factoryRoot] });
  store = Store.open(join(work, 'state.db'));

  const backendIdentity = pki.softwareClient('BE03');
  const backendKey = privateKeyFromPkcs8(backendIdentity.pkcs8);
  keys.push(backendKey);
  backendContext = new TlsClientContext({
    ca: [derOfPem(broker.caPem)],
    certificateChain: backendIdentity.chain,
    privateKey: backendKey,
  });
  backend = new MqttClient(
    () => connectTls({ host: '127.0.0.1', port: broker.port, context: backendContext }),
    { protocolVersion: 5, clientId: 'backend-before-sync', reconnectPeriod: 0 },
  );
  backend.on('message', (topic, payload) => {
    if (payload.toString().includes(runId)) received.push({ topic, payload: payload.toString() });
  });
  await new Promise<void>((resolve, reject) => {
    backend.once('connect', () => resolve());
    backend.once('error', reject);
  });
  await backend.subscribeAsync('devices/+/telemetry', { qos: 1 });

  const gatewayIdentity = pki.softwareClient('0A40');
  const gatewayKey = privateKeyFromPkcs8(gatewayIdentity.pkcs8);
  keys.push(gatewayKey);
  gateway = UpstreamClient.open({
    config: parseConfigText(
      [
        '[upstream]',
        'enabled = true',
        `broker_url = "${broker.url}"`,
        `trust_anchor_file = "${broker.caFile}"`,
        'client_id = "gw-before-sync"',
        '[upstream.outbox]',
        'commit_interval_ms = 0',
        '',
      ].join('\n'),
      'before-sync-test.toml',
    ),
    store,
    credentials: () => ({ chain: gatewayIdentity.chain, privateKey: gatewayKey, generation: 1 }),
  });
  await new Promise((resolve) => gateway.once('subscribed', resolve));
});

afterAll(async () => {
  syncs.holding = false;
  for (const release of syncs.held.splice(0)) release();
  await gateway?.close();
  await backend?.endAsync(true);
  backendContext?.free();
  store?.close();
  await broker?.stop();
  for (const key of keys) libcrypto().EVP_PKEY_free(key);
  rmSync(work, { recursive: true, force: true });
});

describe('publishing before the fsync', () => {
  it('the subscriber has the message while its fdatasync is held; the sensor hears only after it', async () => {
    syncs.holding = true;
    let answered = false;
    const answer = gateway.accept(telemetry('s1', 1)).then((outcome) => {
      answered = true;
      return outcome;
    });
    await until('the message at the subscriber while its fsync is held', () => received.length >= 1);
    expect(received[0]?.topic).toBe('devices/s1/telemetry');
    expect(syncs.held.length).toBeGreaterThanOrEqual(1);
    expect(answered).toBe(false);
    syncs.holding = false;
    for (const release of syncs.held.splice(0)) release();
    await expect(answer).resolves.toBeUndefined();
    // PUBACKed before its fsync ended, and still deleted once it has: nothing left behind.
    await until('outbox empty', () => gateway.status().outbox.rows === 0);
  });
});
