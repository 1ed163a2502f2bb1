import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MosquittoBroker } from '../../hw-sim/broker/index.js';
import { libcrypto } from '../../src/native/openssl/index.js';
import type { Store } from '../../src/store/index.js';
import { UpstreamClient } from '../../src/upstream/index.js';
import { PubackRefusingProxy } from '../helpers/puback-refusing-proxy.js';
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
 * A broker that refuses one message with a failure that may pass (PUBACK 0x97 quota exceeded) and
 * takes the ones after it: real mosquitto behind a small MQTT proxy that answers the refusal for it
 * (test/helpers/puback-refusing-proxy.ts). The refused message must still reach the subscriber
 * before any later message of its sensor.
 */

let work: string;
let pki: TestPki;
let broker: MosquittoBroker;
let proxy: PubackRefusingProxy;
let store: Store;
let gateway: UpstreamClient;
let backend: Backend;
const keys: unknown[] = [];
const received: { topic: string; body: { runId: string; seq: number } }[] = [];
const runId = `transient-${Date.now()}`;

const telemetry = (sensorId: string, seq: number) => telemetryMessage(sensorId, { runId, seq });

beforeAll(async () => {
  ({ work, pki, broker, store } = await upstreamWorkspace('egw-transient-'));

  backend = await connectBackend(
    pki,
    broker,
    'BE02',
    { clientId: 'backend-transient', reconnectPeriod: 0 },
    (topic, payload) => {
      const body = JSON.parse(payload.toString()) as { runId?: string; seq: number };
      if (body.runId === runId) received.push({ topic, body: body as { runId: string; seq: number } });
    },
  );
  await backend.client.subscribeAsync('devices/+/telemetry', { qos: 1 });

  let refusedOnce = false;
  proxy = await PubackRefusingProxy.start({
    broker: { host: '127.0.0.1', port: broker.port, caPem: broker.caPem },
    server: pki.server,
    client: pki.softwareClient('0A31'),
    // s1's message 10, once: the broker "refuses" it and takes what follows.
    refuse: ({ topic, payload }) => {
      if (refusedOnce || topic !== 'devices/s1/telemetry') return false;
      refusedOnce = (JSON.parse(payload.toString()) as { seq: number }).seq === 10;
      return refusedOnce;
    },
  });

  const credentials = softwareCredentials(pki, '0A30', keys);
  gateway = UpstreamClient.open({
    config: upstreamConfig('transient-test.toml', { brokerUrl: proxy.url, clientId: 'gw-transient' }, [
      'reconnect_initial_ms = 50',
      'reconnect_max_ms = 200',
    ]),
    store,
    trustAnchors: pki.trustBundle,
    credentials: () => credentials,
  });
  await new Promise((resolve) => gateway.once('subscribed', resolve));
});

afterAll(async () => {
  await gateway?.close();
  await backend?.close();
  store?.close();
  await proxy?.stop();
  await broker?.stop();
  for (const key of keys) libcrypto().EVP_PKEY_free(key);
  rmSync(work, { recursive: true, force: true });
});

describe('a PUBACK failure that may pass (0x97 quota exceeded)', () => {
  it('sends the refused message again before any later message of its sensor', async () => {
    const sensors = ['s1', 's2', 's3'];
    const perSensor = 30;
    // All at once: one group commit, then a full window (mosquitto's Receive Maximum, 20) goes out.
    const accepted: Promise<unknown>[] = [];
    for (let seq = 0; seq < perSensor; seq++)
      for (const sensorId of sensors) accepted.push(gateway.accept(telemetry(sensorId, seq)));
    expect(new Set(await Promise.all(accepted))).toEqual(new Set([undefined]));

    const firstSeen = (sensorId: string) => {
      const seen: number[] = [];
      for (const m of received)
        if (m.topic === `devices/${sensorId}/telemetry` && !seen.includes(m.body.seq)) seen.push(m.body.seq);
      return seen;
    };
    await until('every message at the subscriber', () =>
      sensors.every((sensorId) => firstSeen(sensorId).length === perSensor),
    );
    expect(proxy.refused).toBe(1);
    const inOrder = Array.from({ length: perSensor }, (_, seq) => seq);
    // s1's 10 was refused once and taken when sent again, before 11 reached the broker.
    for (const sensorId of sensors) expect(firstSeen(sensorId)).toEqual(inOrder);
    await until('outbox drained', () => gateway.status().outbox.rows === 0);
    expect(gateway.status().lastError).toMatchObject({ code: 'EGW_UPSTREAM_PUBLISH_REJECTED' });
    expect(gateway.status().lastError?.message).toContain(
      'quota exceeded (reason 151); it will be sent again',
    );
  });
});

describe('a connection the broker side ends without a word', () => {
  it('is reported: offline carries EGW_UPSTREAM_DISCONNECTED and status shows it', async () => {
    const offline = new Promise<unknown[]>((resolve) =>
      gateway.once('offline', (...args: unknown[]) => resolve(args)),
    );
    const back = new Promise((resolve) => gateway.once('subscribed', resolve));
    proxy.dropConnections();
    const [error] = (await offline) as [(Error & { code: string }) | undefined];
    expect(error?.code).toMatch(/^EGW_(UPSTREAM_DISCONNECTED|TLS_CLOSED)$/);
    expect(gateway.status().lastError?.code).toBe(error?.code);
    await back;
  });
});
