import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../../src/store/index.js';
import { Outbox, type OutboxSettings } from '../../../src/upstream/index.js';
import { OutboxPublisher } from '../../../src/upstream/outbox-publisher.js';
import { TelemetryEnvelopes } from '../../../src/upstream/telemetry-envelopes.js';
import type { UpstreamSession } from '../../../src/upstream/upstream-session.js';
import { LastError } from '../../../src/upstream/upstream-status.js';

/**
 * A sensor's topic and user properties are made once and shared by its messages, down to the
 * PUBLISH options: what changes (a renewed sensor certificate, the gateway's own identity) must
 * still show in the next message.
 */

const SETTINGS: OutboxSettings = {
  max_rows: 1_000,
  max_bytes: 1024 * 1024,
  when_full: 'refuse',
  refuse_max_age_s: 30,
  commit_interval_ms: 0,
  commit_batch: 256,
  per_sensor_share: 1,
};

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function freshOutbox(): Outbox {
  const dir = mkdtempSync(join(tmpdir(), 'egw-envelopes-'));
  dirs.push(dir);
  const store = Store.open(join(dir, 'state.db'));
  stores.push(store);
  return Outbox.open(store, SETTINGS);
}

interface Published {
  topic: string;
  userProperties: Record<string, string>;
}

/** A live session whose client records PUBLISHes and acknowledges each at once. */
function session(gatewayId: string, published: Published[]): UpstreamSession {
  const client = {
    publish(
      topic: string,
      _payload: Buffer,
      options: { properties: { userProperties: Record<string, string> } },
      callback: (error?: Error) => void,
    ) {
      published.push({ topic, userProperties: { ...options.properties.userProperties } });
      queueMicrotask(() => callback());
    },
  };
  return {
    client: client as unknown as MqttClient,
    gatewayId,
    live: true,
    retiring: false,
    window: 10,
  } as UpstreamSession;
}

describe('TelemetryEnvelopes', () => {
  it('gives a sensor the same topic and properties object until its certificate or device type changes', () => {
    const envelopes = new TelemetryEnvelopes('sensors/{sensorId}/telemetry');
    const first = envelopes.of('s1', 'aa', 'thermo');
    expect(first.topic).toBe('sensors/s1/telemetry');
    expect(first.properties).toEqual({
      'sensor-id': 's1',
      'certificate-sha256': 'aa',
      'device-type': 'thermo',
    });
    expect(envelopes.of('s1', 'aa', 'thermo').properties).toBe(first.properties);
    expect(Object.isFrozen(first.properties)).toBe(true);
    // A renewed certificate, another device type: new properties.
    expect(envelopes.of('s1', 'bb', 'thermo').properties['certificate-sha256']).toBe('bb');
    expect(envelopes.of('s1', 'bb', undefined).properties).toEqual({
      'sensor-id': 's1',
      'certificate-sha256': 'bb',
    });
    expect(envelopes.of('s2', 'bb', undefined).topic).toBe('sensors/s2/telemetry');
  });
});

describe('OutboxPublisher with shared properties', () => {
  it('publishes the current gateway identity and sensor certificate, not those of the first message', async () => {
    const outbox = freshOutbox();
    const envelopes = new TelemetryEnvelopes('sensors/{sensorId}/telemetry');
    const published: Published[] = [];
    let current = session('gw-old', published);
    const publisher = new OutboxPublisher({
      outbox,
      broker: 'mqtts://broker.test',
      log: {
        warn: () => undefined,
        info: () => undefined,
        debug: () => undefined,
        error: () => undefined,
      } as never,
      lastError: new LastError(Date.now),
      emit: () => true,
      session: () => current,
      abandon: () => undefined,
    });
    const send = async (sensorId: string, sha256: string) => {
      const { topic, properties } = envelopes.of(sensorId, sha256, undefined);
      await outbox.enqueue({ sensorId, topic, payload: Buffer.from('{}'), contentFormat: 50, properties });
      publisher.pump();
      await new Promise((resolve) => setImmediate(resolve));
    };
    await send('s1', 'aa');
    await send('s2', 'cc');
    // The gateway's certificate was rotated: a new session under the new identity; the publisher
    // starts from the outbox head (from the table), then goes on from memory.
    current = session('gw-new', published);
    publisher.reset();
    await send('s1', 'aa');
    await send('s2', 'cc');
    // s1's certificate was renewed.
    await send('s1', 'bb');
    expect(
      published.map((p) => [p.topic, p.userProperties['gateway-id'], p.userProperties['certificate-sha256']]),
    ).toEqual([
      ['sensors/s1/telemetry', 'gw-old', 'aa'],
      ['sensors/s2/telemetry', 'gw-old', 'cc'],
      ['sensors/s1/telemetry', 'gw-new', 'aa'],
      ['sensors/s2/telemetry', 'gw-new', 'cc'],
      ['sensors/s1/telemetry', 'gw-new', 'bb'],
    ]);
  });
});
