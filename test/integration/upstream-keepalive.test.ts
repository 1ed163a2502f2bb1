import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MosquittoBroker } from '../../hw-sim/broker/index.js';
import { libcrypto } from '../../src/native/openssl/index.js';
import type { Store } from '../../src/store/index.js';
import { UpstreamClient } from '../../src/upstream/index.js';
import type { TestPki } from '../helpers/tls-peers.js';
import {
  softwareCredentials,
  telemetryMessage,
  upstreamConfig,
  upstreamWorkspace,
} from '../helpers/upstream-peers.js';

/**
 * The upstream keep-alive under traffic: the gateway sends a PINGREQ every keepalive_s even while
 * PUBACKs keep coming (mqtt.js does not move its keep-alive timer on each packet: that cost a clear
 * and a set of a timer per PUBACK), against a real mosquitto whose debug log names each PINGREQ.
 */

const KEEPALIVE_S = 5; // the smallest upstream.keepalive_s takes

let work: string;
let pki: TestPki;
let broker: MosquittoBroker;
let store: Store;
let gateway: UpstreamClient;
const keys: unknown[] = [];

beforeAll(async () => {
  ({ work, pki, broker, store } = await upstreamWorkspace('egw-upstream-keepalive-', { debugLog: true }));
  const credentials = softwareCredentials(pki, '0C01', keys);
  gateway = UpstreamClient.open({
    config: upstreamConfig(
      'upstream-keepalive-test.toml',
      { brokerUrl: broker.url, trustAnchorFile: broker.caFile, clientId: 'gw-keepalive' },
      [`keepalive_s = ${KEEPALIVE_S}`],
    ),
    store,
    credentials: () => credentials,
  });
  await new Promise((resolve) => (gateway as unknown as NodeJS.EventEmitter).once('subscribed', resolve));
});

afterAll(async () => {
  await gateway?.close();
  store?.close();
  await broker?.stop();
  for (const key of keys) libcrypto().EVP_PKEY_free(key);
  rmSync(work, { recursive: true, force: true });
});

describe('upstream keep-alive', () => {
  it('sends PINGREQ every keepalive_s while PUBACKs keep coming', async () => {
    const pings = () =>
      broker.log.split('\n').filter((line) => line.includes('Received PINGREQ from gw-keepalive'));
    const before = pings().length;
    const published = gateway.status().published;
    // A message every 100 ms for 1.5 keep-alive periods: a PUBACK comes back for each.
    let sent = 0;
    const stopAt = Date.now() + KEEPALIVE_S * 1500;
    while (Date.now() < stopAt) {
      await gateway.accept(telemetryMessage('s1', { seq: sent++ }));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(gateway.status().published - published).toBeGreaterThan(KEEPALIVE_S * 5);
    expect(pings().length - before).toBeGreaterThanOrEqual(1);
  }, 30_000);
});
