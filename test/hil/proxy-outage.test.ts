import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyRig } from './proxy-rig.js';

/**
 * Hardware in the loop, on simulated hardware: what the uplink and the power do to messages in
 * flight. A broker outage of 35 s while sensors send, and kill -9 of the daemon while sensors send:
 * every message the gateway acknowledged reaches the backend, in order per sensor (QoS 1 may
 * deliver one twice; that is counted, not hidden).
 */
const OUTAGE_MS = 35_000;
let rig: ProxyRig;

beforeAll(async () => {
  rig = await ProxyRig.start('outage');
}, 120_000);

afterAll(async () => {
  await rig?.dispose();
});

describe('HIL: outages during traffic', () => {
  it(`a broker outage of ${OUTAGE_MS / 1000} s during traffic loses nothing and keeps per-sensor order`, async () => {
    const tracked = rig.fleet('outage-', 8, 40);
    await tracked.fleet.connect();
    const running = tracked.fleet.run({ durationMs: OUTAGE_MS + 12_000 });
    await sleep(4_000);
    await rig.broker.pause();
    const pausedAt = Date.now();
    let heldRows = 0;
    let sawDisconnected = false;
    while (Date.now() - pausedAt < OUTAGE_MS) {
      const upstream = (await rig.status()).upstream;
      heldRows = Math.max(heldRows, upstream?.outbox.rows ?? 0);
      if (upstream?.connected === false) sawDisconnected = true;
      await sleep(1_000);
    }
    await rig.broker.resume();
    process.stderr.write(
      `HIL outage: ${OUTAGE_MS / 1000} s, up to ${heldRows} messages held in the outbox\n`,
    );
    await running;
    // The outage was real: the gateway saw it and held the sensors' messages (40/s) meanwhile.
    expect(sawDisconnected).toBe(true);
    expect(heldRows).toBeGreaterThanOrEqual(500);
    const summary = tracked.fleet.summary();
    expect(summary.honestRefused).toEqual([]);
    expect(summary.messages.lost).toBe(0);
    expect(summary.messages.serviceUnavailable).toBe(0);
    const delivery = await rig.delivered(tracked);
    expect(delivery.acknowledged).toBeGreaterThanOrEqual(1_500);
    expect(delivery.missing).toEqual([]);
    expect(delivery.outOfOrder).toBe(0);
    await rig.until('the outbox drained', async () => (await rig.status()).upstream?.outbox.rows === 0);
  }, 180_000);

  it('kill -9 of the daemon during traffic loses no acknowledged message', async () => {
    const tracked = rig.fleet('kill9-', 8, 40);
    await tracked.fleet.connect();
    const running = tracked.fleet.run({ durationMs: 30_000 });
    await sleep(5_000);
    await rig.killAndRestartDaemon();
    await sleep(8_000);
    await rig.killAndRestartDaemon();
    await running;
    const summary = tracked.fleet.summary();
    expect(summary.honestRefused).toEqual([]);
    // The sensors noticed: their sessions died with the daemon and were made again.
    expect(summary.sessions.lost).toBeGreaterThanOrEqual(8);
    const delivery = await rig.delivered(tracked);
    expect(delivery.acknowledged).toBeGreaterThanOrEqual(500);
    expect(delivery.missing).toEqual([]);
    expect(delivery.outOfOrder).toBe(0);
  }, 180_000);
});
