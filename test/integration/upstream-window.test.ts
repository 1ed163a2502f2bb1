import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MosquittoBroker } from '../../hw-sim/broker/index.js';
import { parseConfigText } from '../../src/config/index.js';
import { libcrypto } from '../../src/native/openssl/index.js';
import { Store } from '../../src/store/index.js';
import { privateKeyFromPkcs8 } from '../../src/tls/index.js';
import { Outbox, UpstreamClient } from '../../src/upstream/index.js';
import { TestPki } from '../helpers/tls-peers.js';
import { until } from '../helpers/upstream-peers.js';

/**
 * The publisher's in-flight window against a real mosquitto: as large as the broker's Receive
 * Maximum allows, up to 256 (each round trip to the broker carries that many messages), and never
 * above the Receive Maximum the broker's CONNACK gives.
 */

const SENSORS = 300;

let work: string;
let pki: TestPki;
const keys: unknown[] = [];
const brokers: MosquittoBroker[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'egw-upstream-window-'));
  pki = TestPki.create(join(work, 'pki'));
});

afterAll(async () => {
  for (const broker of brokers) await broker.stop();
  for (const key of keys) libcrypto().EVP_PKEY_free(key);
  rmSync(work, { recursive: true, force: true });
});

/**
 * Connects a gateway to a broker of this Receive Maximum (undefined: mosquitto's default) with one
 * message of each of SENSORS sensors waiting in its outbox; resolves with how many PUBLISHes were in
 * flight right after the CONNACK's first fill of the window (before any PUBACK could be read), once
 * all of them were PUBACKed.
 */
async function firstWindow(name: string, receiveMaximum: number | undefined): Promise<number> {
  const broker = await MosquittoBroker.start({
    dir: join(work, `broker-${name}`),
    caFiles: [pki.factoryRoot],
    ...(receiveMaximum === undefined ? {} : { maxInflightMessages: receiveMaximum }),
  });
  brokers.push(broker);
  const config = parseConfigText(
    [
      '[upstream]',
      'enabled = true',
      `broker_url = "${broker.url}"`,
      `trust_anchor_file = "${broker.caFile}"`,
      `client_id = "gw-window-${name}"`,
      '',
    ].join('\n'),
    'upstream-window-test.toml',
  );
  const store = Store.open(join(work, `state-${name}.db`));
  // Stored before the gateway connects: the CONNACK finds them all waiting.
  const outbox = Outbox.open(store, config.upstream.outbox);
  const accepted = await Promise.all(
    Array.from({ length: SENSORS }, (_, i) =>
      outbox.enqueue({
        sensorId: `s${i}`,
        topic: `devices/s${i}/telemetry`,
        payload: Buffer.from(`{"seq":${i}}`),
        contentFormat: 50,
      }),
    ),
  );
  expect(accepted.every((answer) => !answer.full)).toBe(true);
  const { pkcs8, chain } = pki.softwareClient(name === 'default' ? '0B01' : '0B02');
  const privateKey = privateKeyFromPkcs8(pkcs8);
  keys.push(privateKey);
  const gateway = UpstreamClient.open({
    config,
    store,
    credentials: () => ({ chain, privateKey, generation: 1 }),
  });
  try {
    const inFlight = await new Promise<number>((resolve) =>
      // 'connect' comes right before the window is filled, in the same turn: what is in flight after
      // it, before any I/O, is that first fill.
      (gateway as unknown as NodeJS.EventEmitter).once('connect', () =>
        queueMicrotask(() => resolve(gateway.status().inFlight)),
      ),
    );
    await until('every message PUBACKed', () => gateway.status().outbox.rows === 0);
    expect(gateway.status().published).toBe(SENSORS);
    return inFlight;
  } finally {
    await gateway.close();
    store.close();
  }
}

describe('upstream: QoS 1 messages in flight', () => {
  it('fills a window of 256 when the broker’s Receive Maximum allows it', async () => {
    expect(await firstWindow('large', 1000)).toBe(256);
  });

  it('fills no more than the broker’s Receive Maximum (mosquitto’s default, 20)', async () => {
    expect(await firstWindow('default', undefined)).toBe(20);
  });
});
