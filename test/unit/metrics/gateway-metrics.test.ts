import { describe, expect, it } from 'vitest';
import { GatewayMetrics, type MetricsSnapshot } from '../../../src/metrics/index.js';
import { parseExposition, sampleValue } from '../../helpers/prometheus-text.js';

const now = Date.parse('2026-12-06T12:00:00Z');

/** The parts of `gatewayctl status --json` the metrics read, with distinct numbers. */
function snapshot(): MetricsSnapshot {
  return {
    now,
    outboxOldestAt: now - 42_500,
    clock: { behind: true, synchronized: false, floor: '2026-12-01T00:00:00.000Z' },
    identityEvents: { operational: 2, retry: 3, renewing: 5 },
    status: {
      identityKey: {
        available: true,
        backend: 'atecc608',
        hardwareBacked: false,
        model: 'x',
        serial: 's',
        keyLocation: 'k',
      },
      sensorEndpoint: {
        sessionsEstablished: 7,
        sessionsHandshaking: 2,
        handshakesCompleted: 11,
        handshakesResumed: 3,
        handshakesFailed: 5,
        coap: {
          requests: 101,
          duplicatesIgnored: 4,
          telemetryAccepted: 90,
          telemetryBytes: 9000,
          telemetryAlreadyStored: 1,
          refused: { '4.03': 2, '4.04': 1 },
        },
        coapErrorAnswers: { '4.04': 1, '5.00': 1 },
        handshakes: {
          signaturesRefusedPerAddress: 0,
          signaturesRefusedGlobal: 0,
          halfOpenRefusedPerAddress: 0,
          halfOpenRefusedGlobal: 0,
          cookiesInvalid: 0,
          cookiesReplayed: 0,
        },
      },
      sensorTrust: {
        accepted: 12,
        refused: { revoked: 1, expired: 2, 'unknown-issuer': 1 },
        acceptedWithoutFreshCrl: 3,
        revocation: {
          admittedWithoutRevocationInfo: 2,
          cas: [
            {
              subject: 'CN=line A',
              crl: { ageSeconds: 7200, stale: true },
              admittedWithoutRevocationInfo: 0,
            },
            { subject: 'CN=line B', crl: null, admittedWithoutRevocationInfo: 2 },
          ],
        },
      },
      upstream: {
        connected: true,
        inFlight: 3,
        published: 85,
        dropped: 0,
        refused: 6,
        rejected: 0,
        reconnects: 2,
        outbox: { rows: 5, bytes: 500, maxRows: 100_000, committed: 91 },
      },
      identity: {
        state: 'operational',
        notAfter: '2026-12-13T12:00:00.000Z',
        clockUsed: '2026-12-06T12:00:00.000Z',
      },
    },
  } as unknown as MetricsSnapshot;
}

describe('GatewayMetrics', () => {
  it('follows the naming conventions: prefixed, counters end in _total, every sample typed', async () => {
    const scrape = parseExposition(await new GatewayMetrics().render(snapshot()));
    expect(scrape.samples.length).toBeGreaterThan(30);
    for (const [name, type] of scrape.types) {
      expect(name).toMatch(/^edge_gatewayd_[a-z0-9_]+$/);
      if (type === 'counter') expect(name).toMatch(/_total$/);
      // prom-client's own nodejs_active_*_total are gauges: the rule holds for the gateway's metrics.
      else if (!/^edge_gatewayd_nodejs_/.test(name)) expect(name).not.toMatch(/_total$/);
      expect(scrape.help.get(name)).toBeTruthy();
    }
    for (const sample of scrape.samples) {
      const family = [...scrape.types.keys()].find(
        (name) => sample.name === name || sample.name.replace(/_(bucket|sum|count)$/, '') === name,
      );
      expect(family, sample.name).toBeDefined();
    }
    expect(scrape.types.get('edge_gatewayd_nodejs_eventloop_lag_p99_seconds')).toBe('gauge');
    expect(scrape.types.get('edge_gatewayd_process_cpu_seconds_total')).toBe('counter');
  });

  it('reads the status counters as they stand', async () => {
    const scrape = parseExposition(await new GatewayMetrics().render(snapshot()));
    const value = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(scrape, `edge_gatewayd_${name}`, labels);
    expect(scrape.types.get('edge_gatewayd_sensor_handshakes_total')).toBe('counter');
    expect(value('sensor_handshakes_total', { result: 'completed' })).toBe(11);
    expect(value('sensor_handshakes_total', { result: 'resumed' })).toBe(3);
    expect(value('sensor_handshakes_total', { result: 'failed' })).toBe(5);
    expect(value('sensor_trust_verdicts_total', { result: 'accepted', reason: '' })).toBe(12);
    expect(value('sensor_trust_verdicts_total', { result: 'refused', reason: 'expired' })).toBe(2);
    expect(value('sensor_sessions', { state: 'established' })).toBe(7);
    expect(value('coap_requests_total')).toBe(101);
    expect(value('coap_error_responses_total', { code: '4.04' })).toBe(2);
    expect(value('coap_error_responses_total', { code: '5.00' })).toBe(1);
    expect(value('telemetry_accepted_total')).toBe(90);
    expect(value('telemetry_refused_total')).toBe(6);
    expect(value('outbox_committed_total')).toBe(91);
    expect(value('upstream_published_total')).toBe(85);
    expect(value('outbox_rows')).toBe(5);
    expect(value('outbox_oldest_age_seconds')).toBe(42.5);
    expect(value('upstream_connected')).toBe(1);
    expect(value('upstream_reconnects_total')).toBe(2);
    expect(value('identity_state', { state: 'operational' })).toBe(1);
    expect(value('identity_state', { state: 'renewing' })).toBe(0);
    expect(value('identity_certificate_remaining_seconds')).toBe(7 * 86_400);
    expect(
      value('identity_key_info', { backend: 'atecc608', hardware_backed: 'false', available: 'true' }),
    ).toBe(1);
  });

  it('a later scrape shows the counters as they stand then (nothing added twice)', async () => {
    const metrics = new GatewayMetrics();
    await metrics.render(snapshot());
    const later = snapshot();
    (later.status.upstream as { published: number }).published = 86;
    const scrape = parseExposition(await metrics.render(later));
    expect(sampleValue(scrape, 'edge_gatewayd_upstream_published_total')).toBe(86);
    expect(sampleValue(scrape, 'edge_gatewayd_telemetry_accepted_total')).toBe(90);
  });
});
