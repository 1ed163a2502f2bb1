import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MosquittoBroker } from '../../hw-sim/broker/index.js';
import { parseConfigText } from '../../src/config/index.js';
import { libcrypto } from '../../src/native/openssl/index.js';
import { Store } from '../../src/store/index.js';
import { privateKeyFromPkcs8 } from '../../src/tls/index.js';
import { UpstreamClient } from '../../src/upstream/index.js';
import { sensorIdentity } from '../helpers/sensor-identity-fixture.js';
import { TestPki } from '../helpers/tls-peers.js';

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
let privateKey: unknown;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'egw-upstream-keepalive-'));
  pki = TestPki.create(join(work, 'pki'));
  broker = await MosquittoBroker.start({
    dir: join(work, 'broker'),
    caFiles: [pki.factoryRoot],
    debugLog: true,
  });
  store = Store.open(join(work, 'state.db'));
  const { pkcs8, chain } = pki.softwareClient('0C01');
  const key = privateKeyFromPkcs8(pkcs8);
  privateKey = key;
  gateway = UpstreamClient.open({
    config: parseConfigText(
      [
        '[upstream]',
        'enabled = true',
        `broker_url = "${broker.url}"`,
        `trust_anchor_file = "${broker.caFile}"`,
        'client_id = "gw-keepalive"',
        `keepalive_s = ${KEEPALIVE_S}`,
        '',
      ].join('\n'),
      'upstream-keepalive-test.toml',
    ),
    store,
    credentials: () => ({ chain, privateKey: key, generation: 1 }),
  });
  await new Promise((resolve) => (gateway as unknown as NodeJS.EventEmitter).once('subscribed', resolve));
});

afterAll(async () => {
  await gateway?.close();
  store?.close();
  await broker?.stop();
  if (privateKey) libcrypto().EVP_PKEY_free(privateKey as never);
  rmSync(work, { recursive: true, force: true });
});

describe('upstream keep-alive', () => {
  it('sends PINGREQ every keepalive_s while PUBACKs keep coming', async () => {
    const sensor = sensorIdentity({
      commonName: 's1',
      sha256: createHash('sha256').update('s1').digest('hex'),
    });
    const pings = () =>
      broker.log.split('\n').filter((line) => line.includes('Received PINGREQ from gw-keepalive'));
    const before = pings().length;
    const published = gateway.status().published;
    // A message every 100 ms for 1.5 keep-alive periods: a PUBACK comes back for each.
    let sent = 0;
    const stopAt = Date.now() + KEEPALIVE_S * 1500;
    while (Date.now() < stopAt) {
      await gateway.accept({
        sensorId: 's1',
        sensor,
        contentFormat: 50,
        payload: Buffer.from(`{"seq":${sent++}}`),
        receivedAt: new Date(),
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(gateway.status().published - published).toBeGreaterThan(KEEPALIVE_S * 5);
    expect(pings().length - before).toBeGreaterThanOrEqual(1);
  }, 30_000);
});
