import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { MosquittoBroker } from '../../hw-sim/broker/index.js';
import { libcrypto } from '../../src/native/openssl/index.js';
import type { Store } from '../../src/store/index.js';
import { UpstreamClient } from '../../src/upstream/index.js';
import type { TestPki } from '../helpers/tls-peers.js';
import {
  type Backend,
  connectBackend,
  softwareCredentials,
  telemetryMessage,
  until,
  upstreamConfig,
  upstreamWorkspace,
} from '../helpers/upstream-peers.js';

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
let backend: Backend;
const keys: unknown[] = [];
const received: { topic: string; payload: string }[] = [];
const runId = `before-sync-${Date.now()}`;

const telemetry = (sensorId: string, seq: number) => telemetryMessage(sensorId, { runId, seq });

beforeAll(async () => {
  ({ work, pki, broker, store } = await upstreamWorkspace('egw-before-sync-'));

  backend = await connectBackend(
    pki,
    broker,
    'BE03',
    { clientId: 'backend-before-sync', reconnectPeriod: 0 },
    (topic, payload) => {
      if (payload.toString().includes(runId)) received.push({ topic, payload: payload.toString() });
    },
  );
  await backend.client.subscribeAsync('devices/+/telemetry', { qos: 1 });

  const credentials = softwareCredentials(pki, '0A40', keys);
  gateway = UpstreamClient.open({
    config: upstreamConfig(
      'before-sync-test.toml',
      { brokerUrl: broker.url, trustAnchorFile: broker.caFile, clientId: 'gw-before-sync' },
      ['[upstream.outbox]', 'commit_interval_ms = 0'],
    ),
    store,
    credentials: () => credentials,
  });
  await new Promise((resolve) => gateway.once('subscribed', resolve));
});

afterAll(async () => {
  syncs.holding = false;
  for (const release of syncs.held.splice(0)) release();
  await gateway?.close();
  await backend?.close();
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
    await until('the message at the subscriber while its fsync is held', () => received.length >= 1, 15_000);
    expect(received[0]?.topic).toBe('devices/s1/telemetry');
    expect(syncs.held.length).toBeGreaterThanOrEqual(1);
    expect(answered).toBe(false);
    syncs.holding = false;
    for (const release of syncs.held.splice(0)) release();
    await expect(answer).resolves.toBeUndefined();
    // PUBACKed before its fsync ended, and still deleted once it has: nothing left behind.
    await until('outbox empty', () => gateway.status().outbox.rows === 0, 15_000);
  });
});
