import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { IPublishPacket, MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MosquittoBroker } from '../../hw-sim/broker/index.js';
import type { CommandMessage } from '../../src/downstream/index.js';
import { libcrypto } from '../../src/native/openssl/index.js';
import { Store } from '../../src/store/index.js';
import { privateKeyFromPkcs8 } from '../../src/tls/index.js';
import {
  type UpstreamClient as Client,
  UpstreamClient,
  type UpstreamCredentials,
} from '../../src/upstream/index.js';
import type { TestPki } from '../helpers/tls-peers.js';
import {
  type Backend,
  connectBackend,
  telemetryMessage as telemetry,
  until,
  upstreamConfig,
  upstreamWorkspace,
} from '../helpers/upstream-peers.js';

/**
 * The upstream client against a real mosquitto (TLS, client certificates from the factory CA
 * required, CN as username) with a second MQTT client, under its own certificate, standing in for
 * the backend: it subscribes to telemetry and publishes commands.
 */

interface Identity {
  credentials: UpstreamCredentials;
  leafSha256: string;
}

let work: string;
let pki: TestPki;
let broker: MosquittoBroker;
let store: Store;
let gateway: Client;
let backend: MqttClient;
let backendPeer: Backend;
let identity: Identity;
let clockOffsetMs = 0;
const keys: unknown[] = [];
const received: { topic: string; payload: string; packet: IPublishPacket }[] = [];

function softwareIdentity(serial: string, generation: number): Identity {
  const { pkcs8, chain } = pki.softwareClient(serial);
  const privateKey = privateKeyFromPkcs8(pkcs8);
  keys.push(privateKey);
  return {
    credentials: { chain, privateKey, generation },
    leafSha256: createHash('sha256')
      .update(chain[0] as Uint8Array)
      .digest('hex'),
  };
}

function config(brokerUrl: string, trustAnchorFile: string, clientId: string) {
  return upstreamConfig('upstream-test.toml', { brokerUrl, trustAnchorFile, clientId }, [
    'reconnect_initial_ms = 50',
    'reconnect_max_ms = 400',
    '[upstream.outbox]',
    'commit_interval_ms = 5',
    '[upstream.commands]',
    'max_bytes = 256',
    'max_expiry_s = 900',
    'max_attempts = 2',
    '[downstream.coap]',
    'command_ttl_s = 600',
  ]);
}

/** The arguments of `client`'s next `event`. */
function next(client: Client, event: 'connect' | 'offline' | 'subscribed' | 'command'): Promise<unknown[]> {
  return new Promise((resolve) =>
    (client as unknown as NodeJS.EventEmitter).once(event, (...args: unknown[]) => resolve(args)),
  );
}

beforeAll(async () => {
  // Persistence: the backend's durable session (its telemetry subscription and what is queued for it)
  // outlives the outage tests' broker restart, so every loss would be the gateway's.
  ({ work, pki, broker, store } = await upstreamWorkspace('egw-upstream-', { persistence: true }));
  identity = softwareIdentity('0A01', 1);

  backendPeer = await connectBackend(
    pki,
    broker,
    'BE01',
    { clientId: 'backend', clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 100 },
    (topic, payload, packet) => received.push({ topic, payload: payload.toString(), packet }),
  );
  backend = backendPeer.client;
  // It reconnects by itself (reconnectPeriod) through the outage; its errors are expected then.
  backend.on('error', () => undefined);
  await backend.subscribeAsync('devices/+/telemetry', { qos: 1 });
  await backend.subscribeAsync(['devices/+/commands/refused', 'backend/responses'], { qos: 1 });

  gateway = UpstreamClient.open({
    config: config(broker.url, broker.caFile, 'gw-test'),
    store,
    credentials: () => identity.credentials,
    clock: () => Date.now() + clockOffsetMs,
  });
  await next(gateway, 'subscribed');
});

afterAll(async () => {
  await gateway?.close();
  await backendPeer?.close();
  store?.close();
  await broker?.stop();
  for (const key of keys) libcrypto().EVP_PKEY_free(key);
  rmSync(work, { recursive: true, force: true });
});

describe('telemetry: TelemetrySink → outbox → mosquitto → subscriber', () => {
  it('arrives QoS 1 with the content type and the sensor and gateway user properties', async () => {
    const start = received.length;
    expect(await gateway.accept(telemetry('s1', { t: 21.5 }))).toBeUndefined();
    expect(await gateway.accept(telemetry('s2', { t: 19 }, 60))).toBeUndefined();
    await until('both messages at the subscriber', () => received.length >= start + 2);
    const [first, second] = received.slice(start);
    expect(first?.topic).toBe('devices/s1/telemetry');
    expect(first?.payload).toBe('{"t":21.5}');
    expect(first?.packet.qos).toBe(1);
    expect(first?.packet.properties?.contentType).toBe('application/json');
    expect(first?.packet.properties?.userProperties).toEqual({
      'sensor-id': 's1',
      'certificate-sha256': createHash('sha256').update('s1').digest('hex'),
      'device-type': 'thermo',
      'gateway-id': 'device-0A01',
    });
    expect(second?.topic).toBe('devices/s2/telemetry');
    expect(second?.packet.properties?.contentType).toBe('application/cbor');
    // Deleted from the outbox on PUBACK (with the next group commit).
    await until('outbox empty', () => gateway.status().outbox.rows === 0);
    expect(gateway.status()).toMatchObject({
      connected: true,
      broker: broker.url,
      clientId: 'gw-test',
      identity: { generation: 1, gatewayId: 'device-0A01', certificateSha256: identity.leafSha256 },
      inFlight: 0,
      lastError: undefined,
    });
    expect(gateway.status().published).toBeGreaterThanOrEqual(2);
    // use_identity_as_username: the broker saw the gateway certificate's CN.
    expect(broker.log).toContain("as gw-test (p5, c0, k30, u'device-0A01')");
  });

  it('loses nothing and keeps each sensor’s order while the broker is down for a while', async () => {
    const sensors = ['s1', 's2', 's3'];
    const perSensor = 120;
    const runId = `run-${Date.now()}`;
    const start = received.length;
    const reconnectsBefore = gateway.status().reconnects;
    const accepted: Promise<unknown>[] = [];
    for (let seq = 0; seq < perSensor; seq++) {
      if (seq === 40) await broker.pause();
      if (seq === 80) {
        // The outage lasts as long as the sensors need to send 40 more each (a few seconds).
        expect(gateway.status().connected).toBe(false);
        await broker.resume();
      }
      for (const sensorId of sensors) accepted.push(gateway.accept(telemetry(sensorId, { runId, seq })));
      await new Promise((resolve) => setTimeout(resolve, seq >= 40 && seq < 80 ? 50 : 5));
    }
    // Every message was acknowledged to its sensor (durable), outage or not.
    expect(new Set(await Promise.all(accepted))).toEqual(new Set([undefined]));

    const ours = () =>
      received
        .slice(start)
        .map((m) => ({ topic: m.topic, body: JSON.parse(m.payload) as { runId?: string; seq: number } }))
        .filter((m) => m.body.runId === runId);
    const firstSeen = (sensorId: string) => {
      const seen: number[] = [];
      for (const m of ours()) {
        if (m.topic !== `devices/${sensorId}/telemetry`) continue;
        if (!seen.includes(m.body.seq)) seen.push(m.body.seq);
      }
      return seen;
    };
    await until('every message of every sensor at the subscriber', () =>
      sensors.every((sensorId) => firstSeen(sensorId).length === perSensor),
    );
    const inOrder = Array.from({ length: perSensor }, (_, seq) => seq);
    for (const sensorId of sensors) {
      // Nothing lost, and no message ever arrived before an older one of its sensor had.
      expect(firstSeen(sensorId)).toEqual(inOrder);
      // Duplicates (QoS 1 replays from the outbox head) only ever repeat what came before.
      const all = ours().filter((m) => m.topic === `devices/${sensorId}/telemetry`);
      let highest = -1;
      for (const m of all) {
        if (m.body.seq > highest + 1) throw new Error(`${sensorId}: ${m.body.seq} arrived after ${highest}`);
        highest = Math.max(highest, m.body.seq);
      }
    }
    await until('outbox drained', () => gateway.status().outbox.rows === 0);
    const status = gateway.status();
    expect(status.connected).toBe(true);
    expect(status.reconnects).toBeGreaterThan(reconnectsBefore);
    expect(status.lastError?.code).toMatch(/^EGW_(UPSTREAM_DISCONNECTED|UPSTREAM_UNREACHABLE|TLS_CLOSED)$/);
  });
});

describe('commands: mosquitto → downstream_commands → CommandSource', () => {
  it('delivers pending commands oldest first, then new ones; never an expired one', async () => {
    const stored: string[] = [];
    const onCommand = (command: CommandMessage) => stored.push(command.id);
    gateway.on('command', onCommand);
    const publish = (id: string, sensor: string, properties: Record<string, unknown> = {}) =>
      backend.publishAsync(`devices/${sensor}/commands`, JSON.stringify({ id }), {
        qos: 1,
        properties: { contentType: 'application/json', userProperties: { 'command-id': id }, ...properties },
      });
    await publish('c1', 's1');
    await publish('short', 's1', { messageExpiryInterval: 5 });
    await publish('c2', 's1');
    await publish('other', 's2');
    await until('four commands stored', () => stored.length === 4);
    expect(stored).toEqual(['c1', 'short', 'c2', 'other']);

    clockOffsetMs += 10_000; // "short" is past its message expiry interval now
    const got: CommandMessage[] = [];
    const unsubscribe = gateway.subscribe('s1', (command) => got.push(command));
    expect(got.map((c) => c.id)).toEqual(['c1', 'c2']);
    expect(got[0]).toMatchObject({ sensorId: 's1', contentFormat: 50 });
    expect(Buffer.from(got[0]?.payload ?? []).toString()).toBe('{"id":"c1"}');
    // Without a message expiry interval: command_ttl_s.
    expect((got[0]?.expiresAt.getTime() ?? 0) - (got[0]?.receivedAt.getTime() ?? 0)).toBe(600_000);

    await publish('c3', 's1', { contentType: 'application/cbor' });
    await until('c3 delivered live', () => got.length === 3);
    expect(got[2]).toMatchObject({ id: 'c3', contentFormat: 60 });
    unsubscribe();

    gateway.delivered('s1', 'c1');
    const again: string[] = [];
    gateway.subscribe('s1', (command) => again.push(command.id))();
    expect(again).toEqual(['c2', 'c3']);
    gateway.off('command', onCommand);
  });
});

describe('commands: admission', () => {
  const publish = (id: string, sensor: string, payload: string, properties: Record<string, unknown> = {}) =>
    backend.publishAsync(`devices/${sensor}/commands`, payload, {
      qos: 1,
      properties: { userProperties: { 'command-id': id }, ...properties },
    });
  const refusalFor = (id: string) =>
    received.find((m) => m.packet.properties?.userProperties?.['command-id'] === id);

  it('caps the publisher’s message expiry at upstream.commands.max_expiry_s', async () => {
    const stored = next(gateway, 'command');
    await publish('long-lived', 's6', '{"op":"calibrate"}', { messageExpiryInterval: 7200 });
    const [command] = (await stored) as [CommandMessage];
    expect(command.id).toBe('long-lived');
    expect(command.expiresAt.getTime() - command.receivedAt.getTime()).toBe(900_000);
    expect(gateway.status().commands.expiryCapped).toBeGreaterThanOrEqual(1);
  });

  it('refuses a command over max_bytes at ingress, reports why upstream, and the next one still goes', async () => {
    const big = JSON.stringify({ op: 'firmware', blob: 'x'.repeat(400) });
    await publish('too-big', 's7', big, {
      responseTopic: 'backend/responses',
      correlationData: Buffer.from('c0ffee', 'hex'),
    });
    await publish('too-big-2', 's7', big);
    await publish('small', 's7', '{"op":"reboot"}');
    await until('both refusals at the backend', () =>
      Boolean(refusalFor('too-big') && refusalFor('too-big-2')),
    );
    // With a response topic: answered there, with the request's correlation data (MQTT 5 request/response).
    const answered = refusalFor('too-big');
    expect(answered?.topic).toBe('backend/responses');
    expect(answered?.packet.properties?.correlationData?.toString('hex')).toBe('c0ffee');
    expect(answered?.packet.properties?.userProperties).toMatchObject({
      'command-id': 'too-big',
      'sensor-id': 's7',
      refused: 'too-large',
      'gateway-id': 'device-0A01',
    });
    expect(answered?.packet.properties?.userProperties).not.toHaveProperty('mqtt:correlation-data');
    expect(JSON.parse(answered?.payload ?? '{}')).toMatchObject({
      commandId: 'too-big',
      sensorId: 's7',
      refused: 'too-large',
    });
    expect(JSON.parse(answered?.payload ?? '{}').detail).toContain('upstream.commands.max_bytes (256)');
    // Without one: on upstream.commands.refusals_topic.
    expect(refusalFor('too-big-2')?.topic).toBe('devices/s7/commands/refused');
    await until('the small command stored', () => gateway.commands.pending('s7').length === 1);
    const got: string[] = [];
    gateway.subscribe('s7', (command) => got.push(command.id))();
    expect(got).toEqual(['small']);
    expect(gateway.status().commands.refusedTooLarge).toBe(2);
  });

  it('gives up a command the sensor never takes after max_attempts registrations; the one behind it goes', async () => {
    const stored: string[] = [];
    const onCommand = (command: CommandMessage) => stored.push(command.id);
    gateway.on('command', onCommand);
    await publish('stuck', 's8', '{"op":"unknown-to-the-sensor"}');
    await publish('behind', 's8', '{"op":"reboot"}');
    await until('both stored', () => stored.length === 2);
    gateway.off('command', onCommand);
    // Each registration starts with "stuck" and ends without the sensor acknowledging it.
    const heads: (string | undefined)[] = [];
    for (let registration = 0; registration < 3; registration++) {
      const got: string[] = [];
      gateway.subscribe('s8', (command) => got.push(command.id))();
      heads.push(got[0]);
    }
    expect(heads).toEqual(['stuck', 'stuck', 'behind']);
    await until('the give-up reported upstream', () => Boolean(refusalFor('stuck')));
    const report = refusalFor('stuck');
    expect(report?.topic).toBe('devices/s8/commands/refused');
    expect(JSON.parse(report?.payload ?? '{}')).toMatchObject({ refused: 'undeliverable', sensorId: 's8' });
    expect(gateway.status().commands.abandoned).toBe(1);
  });
});

describe('identity', () => {
  it('reconnects presenting the new certificate when the identity changes', async () => {
    const renewed = softwareIdentity('0A02', 2);
    identity = renewed;
    const connected = next(gateway, 'connect');
    await gateway.reconnectWithNewIdentity();
    const [event] = (await connected) as [{ generation: number; certificateSha256: string }];
    expect(event).toMatchObject({ generation: 2, certificateSha256: renewed.leafSha256 });
    await until('the broker logged the new username', () =>
      broker.log.includes("as gw-test (p5, c0, k30, u'device-0A02')"),
    );
    expect(gateway.status()).toMatchObject({
      connected: true,
      identity: { generation: 2, gatewayId: 'device-0A02', certificateSha256: renewed.leafSha256 },
    });
    const start = received.length;
    await gateway.accept(telemetry('s1', { after: 'renewal' }));
    await until('a message under the new identity', () =>
      received.slice(start).some((m) => m.payload === '{"after":"renewal"}'),
    );
    const message = received.slice(start).find((m) => m.payload === '{"after":"renewal"}');
    expect(message?.packet.properties?.userProperties?.['gateway-id']).toBe('device-0A02');
  });

  it('a change of identity while messages are in flight loses none and keeps their order', async () => {
    const start = received.length;
    const runId = `rekey-${Date.now()}`;
    const accepted = Array.from({ length: 300 }, (_, seq) => gateway.accept(telemetry('s5', { runId, seq })));
    await until('messages in flight', () => gateway.status().inFlight > 0);
    identity = { ...identity, credentials: { ...identity.credentials, generation: 3 } };
    await gateway.reconnectWithNewIdentity();
    await Promise.all(accepted);
    const seen = () => {
      const order: number[] = [];
      for (const m of received.slice(start)) {
        const body = JSON.parse(m.payload) as { runId?: string; seq: number };
        if (body.runId === runId && !order.includes(body.seq)) order.push(body.seq);
      }
      return order;
    };
    await until('all 300 at the subscriber', () => seen().length === 300);
    expect(seen()).toEqual(Array.from({ length: 300 }, (_, seq) => seq));
    expect(gateway.status()).toMatchObject({ connected: true, identity: { generation: 3 } });
  });

  it('without a usable identity it stays away and retries; commands sent meanwhile arrive after', async () => {
    const usable = identity;
    identity = {
      get credentials(): UpstreamCredentials {
        throw new Error('the key device does not answer');
      },
      leafSha256: '',
    };
    const away = next(gateway, 'offline');
    await gateway.reconnectWithNewIdentity();
    const [error] = (await away) as [Error & { code: string }];
    expect(error).toMatchObject({ code: 'EGW_UPSTREAM_IDENTITY' });
    expect(error.message).toContain('the key device does not answer');
    expect(gateway.status()).toMatchObject({
      connected: false,
      lastError: { code: 'EGW_UPSTREAM_IDENTITY' },
    });

    // The broker keeps the gateway's session (clean start off): it queues the command.
    await backend.publishAsync('devices/s9/commands', '{"op":"reboot"}', {
      qos: 1,
      properties: { userProperties: { 'command-id': 'while-away' } },
    });
    const stored = next(gateway, 'command');
    identity = usable;
    const [command] = (await stored) as [CommandMessage];
    expect(command).toMatchObject({ id: 'while-away', sensorId: 's9' });
    expect(gateway.status().connected).toBe(true);
  });

  describe('a gateway certificate from a CA the broker does not trust', () => {
    type Failure = Error & { code: string; hint: string };

    /**
     * Runs a gateway with a rogue-CA certificate until the broker's "unknown ca" alert has been seen
     * (at most 10 attempts): when the broker closes on bytes it has not read, the kernel sends a reset
     * that may overtake the alert, and the attempt then reports EGW_TLS_CLOSED instead.
     */
    async function refusals(target: MosquittoBroker, serial: string, attempts = 10) {
      const rogue = pki.rogueClient(serial);
      const privateKey = privateKeyFromPkcs8(rogue.pkcs8);
      keys.push(privateKey);
      const rogueStore = Store.open(join(work, `rogue-${serial}.db`));
      const client = UpstreamClient.open({
        config: config(target.url, target.caFile, `rogue-${serial}`),
        store: rogueStore,
        credentials: () => ({ chain: rogue.chain, privateKey, generation: 1 }),
      });
      const errors: Failure[] = [];
      client.on('offline', (error) => errors.push(error as Failure));
      try {
        await until(
          `the "unknown ca" alert, or ${attempts} refused attempts`,
          () => errors.some((e) => e.code === 'EGW_TLS_ALERT') || errors.length >= attempts,
        );
        return { errors, status: client.status() };
      } finally {
        await client.close();
        rogueStore.close();
      }
    }

    function expectRefusedCertificate(errors: Failure[], alertSeen = true): void {
      expect(errors.length).toBeGreaterThan(0);
      for (const error of errors) {
        expect(['EGW_TLS_ALERT', 'EGW_TLS_CLOSED']).toContain(error.code);
        if (error.code === 'EGW_TLS_ALERT') {
          expect(error.message).toContain('the server sent alert "unknown ca" (48)');
          expect(error.hint).toContain('does not trust the CA');
        } else expect(error.hint).toMatch(/refused the gateway client certificate|client certificate/);
      }
      if (alertSeen) expect(errors.some((e) => e.code === 'EGW_TLS_ALERT')).toBe(true);
    }

    it('TLS 1.2: refused inside the handshake with EGW_TLS_ALERT "unknown ca"; never connected', async () => {
      // This broker shows a server certificate of our own making (the upstream test CA).
      const tls12 = await MosquittoBroker.start({
        caFiles: [pki.factoryRoot],
        serverCert: pki.server.cert,
        serverKey: pki.server.key,
        serverCa: pki.upstreamCa,
        tlsVersion: 'tlsv1.2',
      });
      try {
        const { errors, status } = await refusals(tls12, '0D12');
        expectRefusedCertificate(errors);
        expect(status).toMatchObject({ connected: false, published: 0 });
        expect(status.reconnects).toBeGreaterThanOrEqual(errors.length);
        expect(['EGW_TLS_ALERT', 'EGW_TLS_CLOSED']).toContain(status.lastError?.code);
      } finally {
        await tls12.stop();
      }
    });

    // TLS 1.3: the broker judges the certificate after the client's handshake is done, so the client has
    // written its CONNECT when the alert comes, and the reset for those unread bytes can overtake the
    // alert on every attempt (this test failed once in a CI rehearsal on a loaded machine, most likely
    // so). Each refusal still carries its hint; the alert's decoding is the TLS 1.2 case's to prove.
    it('TLS 1.3: refused right after the handshake, with the same errors (the alert or the reset after it)', async () => {
      const { errors, status } = await refusals(broker, '0D13', 3);
      expectRefusedCertificate(errors, false);
      expect(status.connected).toBe(false);
    });
  });
});
