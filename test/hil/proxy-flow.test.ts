import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayctl } from '../helpers/daemon-harness.js';
import { sampleSum, sampleValue, scrapeMetrics } from '../helpers/prometheus-text.js';
import { ProxyRig } from './proxy-rig.js';

/**
 * Hardware in the loop, on simulated hardware: the whole proxy end to end (EST zero touch, sensors
 * over CoAP/DTLS with their own certificates, mosquitto, a backend subscriber), with bad actors, a
 * certificate rotation while sensors send, and a sensor revoked while it sends.
 */
let rig: ProxyRig;

beforeAll(async () => {
  rig = await ProxyRig.start('flow', { metrics: true });
}, 120_000);

afterAll(async () => {
  await rig?.dispose();
});

describe('HIL: the whole proxy flow', () => {
  it('after zero touch, a fleet reaches the backend in order under the gateway identity; bad actors are refused', async () => {
    const status = await rig.status();
    expect(status.identity.presenting).toBe('operational');
    const tracked = rig.fleet('flow-', 6, 30, { unknownCa: 1, expired: 1, revoked: 1, unauthorized: 1 });
    // The revoked bad actor was just put on the sensor CA's CRL: the operator imports it.
    await rig.importSensorCrl();
    await tracked.fleet.connect();
    await tracked.fleet.run({ durationMs: 5_000 });
    const summary = tracked.fleet.summary();
    expect(summary.honestRefused).toEqual([]);
    expect(summary.badActors.notRefused).toEqual([]);
    expect(summary.badActors.refused).toBe(4);
    const reasons = Object.keys(summary.refusalsByReason).join('\n');
    expect(reasons).toMatch(/revoked/);
    expect(reasons).toMatch(/expired/);
    expect(reasons).toMatch(/4\.03/);

    const delivery = await rig.delivered(tracked);
    expect(delivery.acknowledged).toBeGreaterThanOrEqual(100);
    expect(delivery.missing).toEqual([]);
    expect(delivery.outOfOrder).toBe(0);
    const properties = rig.subscriber.stream('flow-0001')?.userProperties ?? {};
    expect(properties['sensor-id']).toBe('flow-0001');
    expect(properties['certificate-sha256']).toMatch(/^[0-9a-f]{64}$/);
    expect(`CN=${properties['gateway-id']}`).toBe(status.identity.subject?.split(',')[0]);
    for (const badActor of ['bad-unknown-ca-1', 'bad-expired-1', 'bad-revoked-1', 'bad-unauthorized-1'])
      expect(rig.subscriber.stream(badActor)).toBeUndefined();

    // The metrics endpoint, scraped over its configured address with fetch, shows the same counts.
    const { exposition } = await scrapeMetrics(rig.metricsUrl as string);
    const metric = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(exposition, `edge_gatewayd_${name}`, labels);
    const refusedAt = (prefix: string) =>
      Object.entries(summary.refusalsByReason)
        .filter(([reason]) => reason.startsWith(prefix))
        .reduce((sum, [, count]) => sum + count, 0);
    expect(refusedAt('handshake: ')).toBe(3);
    expect(sampleSum(exposition, 'edge_gatewayd_sensor_trust_verdicts_total', { result: 'refused' })).toBe(
      refusedAt('handshake: '),
    );
    expect(metric('sensor_handshakes_total', { result: 'failed' })).toBe(refusedAt('handshake: '));
    expect(metric('sensor_trust_verdicts_total', { result: 'refused', reason: 'revoked' })).toBe(
      refusedAt('handshake: certificate revoked'),
    );
    expect(metric('sensor_trust_verdicts_total', { result: 'refused', reason: 'expired' })).toBe(
      refusedAt('handshake: certificate expired'),
    );
    expect(metric('sensor_trust_verdicts_total', { result: 'refused', reason: 'unknown-issuer' })).toBe(
      refusedAt('handshake: unknown CA'),
    );
    expect(metric('coap_error_responses_total', { code: '4.03' })).toBe(refusedAt('request 4.03'));
    expect(metric('sensor_handshakes_total', { result: 'completed' })).toBe(summary.sessions.established);
    expect(metric('sensor_sessions', { state: 'established' })).toBe(summary.sensors.connected);
    expect(metric('telemetry_accepted_total')).toBe(delivery.acknowledged);
    expect(metric('telemetry_accepted_total')).toBe(summary.messages.acknowledged);
    expect(metric('upstream_published_total')).toBe(delivery.acknowledged);
    expect(metric('upstream_connected')).toBe(1);
    // The sensor CA's CRL was imported just now: fresh.
    expect(sampleSum(exposition, 'edge_gatewayd_sensor_crl_stale')).toBe(0);
    expect(exposition.samples.filter((s) => s.name === 'edge_gatewayd_sensor_crl_age_seconds')).toHaveLength(
      1,
    );
    expect(metric('identity_state', { state: 'operational' })).toBe(1);
    expect(metric('identity_certificate_expiry_timestamp_seconds')).toBe(
      Date.parse(status.identity.notAfter as string) / 1000,
    );
  });

  it('a certificate rotation during traffic loses nothing, and the broker connection moves to the new certificate', async () => {
    const before = await rig.status();
    const renewals = async () =>
      sampleValue(
        (await scrapeMetrics(rig.metricsUrl as string)).exposition,
        'edge_gatewayd_identity_renewal_attempts_total',
        {
          result: 'success',
        },
      );
    const renewedBefore = await renewals();
    expect(renewedBefore).toBeGreaterThanOrEqual(1); // the zero-touch enrolment
    const tracked = rig.fleet('rotate-', 6, 30);
    await tracked.fleet.connect();
    const running = tracked.fleet.run({ durationMs: 12_000 });
    await sleep(3_000);
    const renew = await gatewayctl('identity', 'renew', '--now', '--socket', rig.fixture.socketPath);
    expect(renew.code, renew.stderr).toBe(0);
    await rig.until('a new operational certificate, and the broker connection under it', async () => {
      const now = await rig.status();
      return (
        now.identity.state === 'operational' &&
        now.identity.serial !== before.identity.serial &&
        now.upstream?.connected === true &&
        now.upstream.identity?.certificateSha256 !== before.upstream?.identity?.certificateSha256
      );
    });
    await running;
    const summary = tracked.fleet.summary();
    expect(summary.honestRefused).toEqual([]);
    expect(summary.messages.lost).toBe(0);
    const delivery = await rig.delivered(tracked);
    expect(delivery.acknowledged).toBeGreaterThanOrEqual(200);
    expect(delivery.missing).toEqual([]);
    expect(delivery.outOfOrder).toBe(0);
    expect(await renewals()).toBe((renewedBefore as number) + 1);
    const after = await rig.status();
    expect(after.upstream?.identity?.generation).toBeGreaterThan(before.upstream?.identity?.generation ?? 0);
  });

  it('a sensor revoked while it sends is cut off and refused when it comes back; the others go on', async () => {
    const { sensor, credentials } = rig.sensor('doomed-1');
    await sensor.start();
    expect(sensor.state).toBe('connected');
    const sending = setInterval(() => sensor.enqueueTelemetry(), 100);
    try {
      await rig.until('acknowledged telemetry', () => sensor.acknowledged >= 5);
      rig.sensorCa.revoke(credentials);
      await rig.importSensorCrl();
      await rig.until('the revoked sensor refused', () => sensor.state === 'refused');
    } finally {
      clearInterval(sending);
    }
    const refusal = sensor.result().refusal;
    expect(refusal?.stage).toBe('handshake');
    expect(refusal?.reason).toMatch(/revoked/);
    // Nothing it sends after its revocation is forwarded: it cannot even get a session.
    const tracked = rig.fleet('after-revoke-', 2, 10);
    await tracked.fleet.connect();
    await tracked.fleet.run({ messages: 20 });
    expect(tracked.fleet.summary().honestRefused).toEqual([]);
    expect((await rig.delivered(tracked)).missing).toEqual([]);
  });
});
